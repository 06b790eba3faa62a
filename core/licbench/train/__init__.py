"""The one training loop, its objectives, the artifact cache and `train-codec`."""
