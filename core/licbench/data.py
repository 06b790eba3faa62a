"""Loading a manifest's dataset reference: its images (limited and cropped as asked) and a
fingerprint of exactly what was used. The runner and every training run share it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from licbench.api.dataset import Dataset
from licbench.errors import LicbenchError
from licbench.plugin.registry import Registry

if TYPE_CHECKING:  # images are tensors; locating and fingerprinting a dataset needs no torch
    from torch import Tensor


@dataclass
class DataRef:
    """The fields of a manifest's dataset reference that decide which pixels are used."""

    name: str
    params: dict[str, Any]
    limit: int | None = None
    crop: int | None = None

    @classmethod
    def of(cls, ref: Any) -> DataRef:
        """From a manifest DatasetRef or a ``{name, params, limit, crop}`` mapping."""
        if isinstance(ref, dict):
            return cls(ref["name"], dict(ref.get("params", {})), ref.get("limit"), ref.get("crop"))
        return cls(ref.name, dict(ref.params), ref.limit, ref.crop)


def center_crop(name: str, x: Tensor, crop: int | None, dataset: str) -> Tensor:
    """The central ``crop``×``crop`` window of ``x`` (``x`` itself without a crop)."""
    if crop is None:
        return x
    h, w = x.shape[-2:]
    if min(h, w) < crop:
        raise LicbenchError(
            f"dataset '{dataset}' image {name} is {w}x{h}, smaller than crop: {crop}; "
            f"use crop <= {min(h, w)}"
        )
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[..., top : top + crop, left : left + crop]


def _count(n_items: int, *limits: int | None) -> int:
    return min(x for x in (*limits, n_items) if x)


def locate(ref: DataRef, registry: Registry) -> str | None:
    """Where ``ref``'s images are (:meth:`licbench.api.dataset.Dataset.locate`)."""
    return _dataset(ref, registry).locate()


def _dataset(ref: DataRef, registry: Registry, offline: bool = False) -> Dataset:
    """``ref``'s dataset plugin; ``offline`` (a dry run or a verify: no download): a
    one-line error where reading its images would download them."""
    ds: Dataset = registry.create("dataset", ref.name, **ref.params)
    if offline and (note := ds.locate()):
        raise LicbenchError(
            f"{note} (a dry run or a verify downloads nothing); or set LICBENCH_DATA"
        )
    return ds


def fingerprint(
    ref: DataRef, registry: Registry, limit: int | None = None, offline: bool = False
) -> str:
    """The content hash of what :func:`load` returns for the runner (``:firstN`` suffix)."""
    ds = _dataset(ref, registry, offline)
    return ds.fingerprint() + f":first{_count(len(ds.items()), ref.limit, limit)}"


def load(ref: DataRef, registry: Registry, limit: int | None = None) -> list[tuple[str, Tensor]]:
    """The first ``limit`` images (``ref.limit`` too), centre-cropped to ``ref.crop``."""
    ds = _dataset(ref, registry)
    items = ds.items()
    n = _count(len(items), ref.limit, limit)
    return [(it.name, center_crop(it.name, it.loader(), ref.crop, ref.name)) for it in items[:n]]


def training_fingerprint(ref: DataRef, registry: Registry, offline: bool = False) -> str:
    """The fingerprint that keys a trained artifact: the dataset's content hash, plus the
    limit and crop where set."""
    ds = _dataset(ref, registry, offline)
    out = ds.fingerprint()
    if ref.limit:
        out += f":first{_count(len(ds.items()), ref.limit)}"
    if ref.crop:
        out += f":crop{ref.crop}"
    return out


def held_out(n: int) -> int:
    """How many of ``n`` training images are held out for validation without a val set."""
    return max(1, min(4, n // 10))


def training_set(
    train: Any, val: Any, registry: Registry
) -> tuple[list[Tensor], list[Tensor], dict[str, str]]:
    """Training images, validation images and the fingerprints that key the artifact.

    Validation comes from ``val`` (its first 8 images) or, without one, the last
    :func:`held_out` training images are held out for it (with a single image, training
    validates on that image)."""
    tref = DataRef.of(train)
    images = [x for _, x in load(tref, registry)]
    fps = {"data": training_fingerprint(tref, registry)}
    if val is not None:
        vref = DataRef.of(val)
        fps["val"] = training_fingerprint(vref, registry)
        return images, [x for _, x in load(vref, registry, limit=8)], fps
    k = held_out(len(images))
    if len(images) <= k:
        fps["val"] = "train"
        return images, images[:1], fps
    fps["val"] = f"held-out:last{k}"
    return images[:-k], images[-k:], fps


def training_fingerprints(
    train: Any, val: Any, registry: Registry, offline: bool = False
) -> dict[str, str]:
    """What :func:`training_set` keys an artifact with, without loading a pixel
    (``offline``: a dataset that is not here is an error, never a download)."""
    tref = DataRef.of(train)
    fps = {"data": training_fingerprint(tref, registry, offline)}
    if val is not None:
        fps["val"] = training_fingerprint(DataRef.of(val), registry, offline)
        return fps
    ds = _dataset(tref, registry)
    n = _count(len(ds.items()), tref.limit)
    k = held_out(n)
    fps["val"] = "train" if n <= k else f"held-out:last{k}"
    return fps
