"""Published rate-distortion curves (CompressAI's Kodak results format), for reference only.

A file holds ``{"name", "description", "results": {"bpp": [...], "psnr-rgb": [...],
"ms-ssim-rgb": [...]}}``, one value per quality. These numbers are drawn on RD plots as
dashed, labelled "published" curves; they are never stored as licbench results.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from licbench.errors import LicbenchError


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


def anchors(folder: Path | None) -> dict[str, pd.DataFrame]:
    """The published Kodak curves of :data:`ANCHORS` found in ``folder``, by short name."""
    if folder is None:
        return {}
    return {k: load_published(Path(folder) / f) for k, f in ANCHORS.items()
            if (Path(folder) / f).is_file()}  # fmt: skip


def for_codec(folder: Path | None, codec: str) -> pd.DataFrame | None:
    """The published Kodak curve of ``codec``'s architecture (``-lite`` models: their full
    CompressAI twin), from ``folder`` (e.g. ``$LICBENCH_DATA/reference``), if there is one."""
    if folder is None:
        return None
    arch = codec.removesuffix("-lite")
    for name in (f"compressai-{arch}_mse_cpu.json", f"{arch}.json"):
        if (Path(folder) / name).is_file():
            return load_published(Path(folder) / name)
    return None
