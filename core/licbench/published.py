"""Published rate-distortion curves (CompressAI's Kodak results format), for reference only.

A file holds ``{"name", "description", "results": {"bpp": [...], "psnr-rgb": [...],
"ms-ssim-rgb": [...]}}``, one value per quality. These numbers are drawn on RD plots as
dashed, labelled "published" curves; they are never stored as licbench results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from licbench.errors import LicbenchError


@dataclass(frozen=True)
class Published:
    """A folder of published curves and the dataset they were measured on (the dataset in
    the ``published-curves`` role: the built-ins' Kodak), made at the edge."""

    folder: Path
    dataset: str


def load_published(path: Path) -> pd.DataFrame:
    """One row per point: bpp, psnr, ms-ssim; ``name`` from the file."""
    try:
        doc = json.loads(Path(path).read_text())
        res = doc["results"]
        frame = pd.DataFrame(
            {"bpp": res["bpp"], "psnr": res["psnr-rgb"], "ms-ssim": res.get("ms-ssim-rgb")}
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LicbenchError(
            f"{path}: not a published RD results file ({type(exc).__name__}: {exc}); "
            "pass a CompressAI results/image/kodak JSON"
        ) from None
    frame["name"] = str(doc.get("name", Path(path).stem))
    return frame.sort_values("bpp").reset_index(drop=True)


# The state of the art a paper reports against, as published on full-size Kodak
ANCHORS = {
    "VTM": "vtm.json",
    "HM": "hm.json",
    "BPG": "bpg_444_x265_ycbcr.json",
    "AV1": "av1.json",
    "ELIC": "paper-elic2022_mse.json",
}


def anchors(published: Published | None) -> dict[str, pd.DataFrame]:
    """The published curves of :data:`ANCHORS` found in ``published``, by short name."""
    if published is None:
        return {}
    folder = published.folder
    return {k: load_published(folder / f) for k, f in ANCHORS.items()
            if (folder / f).is_file()}  # fmt: skip


def for_codec(published: Published | None, codec: str) -> pd.DataFrame | None:
    """The published curve of ``codec``'s architecture (``-lite`` models: their full
    CompressAI twin), from ``published`` (e.g. ``$LICBENCH_DATA/reference``), if any."""
    if published is None:
        return None
    arch = codec.removesuffix("-lite")
    for name in (f"compressai-{arch}_mse_cpu.json", f"{arch}.json"):
        if (published.folder / name).is_file():
            return load_published(published.folder / name)
    return None
