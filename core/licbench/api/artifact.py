"""The contract of a plugin that trains an artifact (a backdoor, fine-tuned weights).

The prepare stage (``licbench prepare``) asks each such attack or defense for the
:class:`Recipe` of every codec it meets, trains what the cache lacks (once), and the cell
key of every cell that uses it holds the recipe's key. Scoring and decoding only
:meth:`Trained.load` what was trained.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from licbench.api.codec import Codec
from licbench.api.context import RunContext


@dataclass(frozen=True)
class Recipe:
    """What identifies an artifact: its family (a cache folder) and content key."""

    family: str
    key: str
    suffix: str = ".safetensors"  # tensors and a JSON tree: nothing executable
    path: Path | None = None  # a file given by the user instead of the cache
    after: tuple[str, ...] = ()  # keys of artifacts it starts from (an `init`): trained first

    def location(self, cache: Path) -> Path:
        return self.path or Path(cache) / self.family / f"{self.key}{self.suffix}"


class Trained(ABC):
    """Mixin for an Attack or Defense that needs a trained artifact."""

    @abstractmethod
    def recipe(self, codec: Codec, ctx: RunContext) -> Recipe:
        """The artifact this plugin needs against ``codec`` (cheap: trains nothing)."""

    @abstractmethod
    def train(self, codec: Codec, ctx: RunContext, recipe: Recipe) -> Path:
        """Train the artifact into ``recipe.location(ctx.cache_dir)`` (resuming); its path."""

    @abstractmethod
    def load(self, codec: Codec, path: Path) -> Codec:
        """Use the trained artifact: the codec this plugin runs (e.g. the backdoored one)."""
