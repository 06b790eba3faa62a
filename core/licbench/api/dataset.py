"""The dataset contract: an ordered, deterministic collection of images."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from licbench.hashing import hash_files
from licbench.plugin.params import Configurable

if TYPE_CHECKING:  # a dataset's images are tensors; locating it needs no torch
    from torch import Tensor


@dataclass
class ImageItem:
    name: str
    path: Path | None
    loader: Callable[[], Tensor]


class Dataset(Configurable, ABC):
    """Images in a fixed order, each with a lazy loader."""

    name: str = ""

    @abstractmethod
    def items(self) -> list[ImageItem]:
        """The images, sorted, each with a lazy loader."""

    def locate(self) -> str | None:
        """Check that the images can be found, reading and downloading nothing (`validate`
        and `run --dry-run` call it): None where they are here, else a note of the download
        a run would make; a :class:`~licbench.errors.LicbenchError` naming the fix where
        they cannot be found. The default: images this package holds itself."""
        return None

    def fingerprint(self) -> str:
        """A content hash of the images (file bytes or pixels)."""
        return hash_files([i.path for i in self.items() if i.path is not None])

    def __iter__(self) -> Iterator[tuple[str, Tensor]]:
        for item in self.items():
            yield item.name, item.loader()
