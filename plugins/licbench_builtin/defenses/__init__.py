"""Built-in defenses. Registered here by name, lazy target, parameter model and description,
so that listing, validating and `plugins --params` import no torch."""

from __future__ import annotations

from licbench.plugin.hookspecs import Register, hookimpl

PLUGINS = [  # name, class, its Params in the torch-free params module, description
    ("gaussian-blur", "preprocess:GaussianBlurDefense", "BlurParams",
     "Gaussian blur of standard deviation ``sigma`` pixels before encoding."),
    ("bit-squeeze", "preprocess:BitSqueezeDefense", "SqueezeParams",
     "Reduce every channel to ``bits`` bits before encoding (feature squeezing)."),
    ("jpeg-purify", "preprocess:JpegPurifyDefense", "JpegParams",
     "Re-encode with JPEG at ``quality`` before the learned codec."),
    ("two-way", "randomized:TwoWay", "RandomizedParams",
     "Two-way compression (Algorithm 1): identity or one random draw, whichever is better."),
    ("k-way", "randomized:KWay", "KWayParams",
     "K-way compression (Song, Choi, Han, Algorithm 2): the best of identity + K−1 draws."),
    ("input-randomization", "randomized:InputRandomization", "RandomizedParams",
     "Naive randomization: always encode one random draw, then invert it."),
    ("adversarial-finetune", "adv_finetune:AdversarialFinetune", "FinetuneParams",
     "Adversarial fine-tuning (FGSM with random start, Wong et al. 2020) of the whole codec."),
]  # fmt: skip
TRAINED = {"adversarial-finetune"}  # trains an artifact, on learned codecs only


@hookimpl
def register_defenses(register: Register) -> None:
    for name, target, params, description in PLUGINS:
        register(
            name,
            f"{__name__}.{target}",
            description=description,
            params=f"{__name__}.params:{params}",
            codecs="learned" if name in TRAINED else "any",
            trained=name in TRAINED,
        )
