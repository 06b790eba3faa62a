"""Torch's CPU thread count, the one setting outside a cell's key that moves its numbers:
on the CPU, another thread count splits reductions differently, so sums (and a training's
every later step) differ in their last bits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# Every keyed artifact trains at this many threads, whatever the machine: its key promises
# its bytes, and a segmentation backdoor trained at two threads differs from one trained at
# one from its first validation on (seg-dct ASR 0.928 against 0.839 after 1,500 steps).
TRAINING_THREADS = 1


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """This process's torch threads set to ``n`` (None: left as they are) for the block."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
