"""What the paper-scale manifests would cost on 1, 8 and 64 GPUs, from the cell timings that
their CPU-scale twins stored in results.db.

    python benchmarks/scaling_cost.py [--db results.db] [--gpu-speedup 50]

For every cell of each ``benchmarks/*/paper/*.yaml`` manifest, the seconds per image of the
matching cells of its CPU-scale twin (same benchmark name without ``-paper`` / ``paper-``,
same attack and defense labels; the same codec where measured, else every codec) are scaled by:

- pixels and images: the paper's dataset against the twin's (after limits and crops);
- attack passes: iterations × draws of the paper's attack against the twin's;
- model width: (N_paper / N_twin)², the FLOPs of the convolutions (lite models: N = 64;
  CompressAI's zoo: N = 128 up to quality 5, 192 above; the cheng2020 anchor: 128 / 192);
- the GPU: ``--gpu-speedup`` times this CPU (an assumption: no GPU was measured here).

Cells are packed onto K GPUs longest first (one cell per GPU at a time), so the wall time
is never below the longest cell. Trainings (backdoors, fine-tuning) are not counted.
"""

from __future__ import annotations

import argparse
import functools
import heapq
import json
from pathlib import Path

import pandas as pd

from licbench.bench.cells import Cell, expand
from licbench.bench.checker import load_manifest
from licbench.bench.store import ResultStore
from licbench.plugin.manager import load_registry

ROOT = Path(__file__).resolve().parent


def width(codec: str, quality: float) -> int:
    if codec.endswith("-lite"):
        return 64
    return 128 if quality <= (3 if codec.startswith("cheng") else 5) else 192


def passes(ref: dict | None) -> float:
    """Forward-backward passes of an attack per image (1 without one)."""
    if not ref or ref["name"] not in ("pgd", "fgsm", "eot", "fda"):
        return 1.0  # no attack, or one that is applied, not optimised (a backdoor's trigger)
    p = ref.get("params", {})
    iters = p.get("iters", 1 if ref["name"] == "fgsm" else 50)
    return float(iters * (p.get("draws", 24) if ref["name"] == "eot" else 1))


@functools.cache
def _dataset(name: str, params: str) -> tuple[int, int]:
    """(images, pixels of the first image) of a dataset."""
    items = load_registry().create("dataset", name, **json.loads(params)).items()
    h, w = items[0].loader().shape[-2:]
    return len(items), int(h * w)


def size(dataset: dict) -> tuple[int, int]:
    """(images, pixels per image) of a dataset reference, after its limit and crop."""
    n, px = _dataset(dataset["name"], json.dumps(dataset.get("params", {}), sort_keys=True))
    crop = dataset.get("crop")
    return min(n, dataset.get("limit") or n), min(px, crop * crop) if crop else px


def twin_rates(cells: pd.DataFrame) -> pd.DataFrame:
    """Per measured cell: CPU seconds per image per pass per (pixel × width²)."""
    rows = []
    for c in cells.itertuples():
        cfg = json.loads(c.config)
        work = size(cfg["dataset"])[1] * passes(cfg["attack"]) * width(c.codec, c.quality) ** 2
        rows.append((c.codec, c.attack, c.defense, c.seconds / c.n_images / work))
    return pd.DataFrame(rows, columns=["codec", "attack", "defense", "rate"])


def cell_seconds(cell: Cell, rates: pd.DataFrame) -> float | None:
    attack = cell.attack.display if cell.attack else "none"
    defense = cell.defense.display if cell.defense else "none"
    same = rates[(rates.attack == attack) & (rates.defense == defense)]
    if same.empty:
        return None
    mine = same[same.codec.str.removesuffix("-lite") == cell.codec.name]
    rate = float((mine if not mine.empty else same).rate.mean())
    attack_ref = cell.attack.model_dump() if cell.attack else None
    images, px = size(cell.dataset.model_dump())
    return rate * px * passes(attack_ref) * width(cell.codec.name, cell.quality) ** 2 * images


def wall(seconds: list[float], gpus: int) -> float:
    loads = [0.0] * gpus
    for s in sorted(seconds, reverse=True):
        heapq.heapreplace(loads, loads[0] + s)
    return max(loads)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", default=str(ROOT.parent / "results.db"))
    p.add_argument("--gpu-speedup", type=float, default=50.0)
    args = p.parse_args()
    cells = ResultStore(args.db, create=False).frame("cells")
    cells = cells[cells.status == "done"]
    print(f"assumed GPU speed-up over this CPU: {args.gpu_speedup:g}x\n")
    print("| manifest | cells | estimated | GPU-hours | 1 GPU | 8 GPUs | 64 GPUs |")
    print("|---|---|---|---|---|---|---|")
    for path in sorted(ROOT.glob("*/paper/*.yaml")):
        if path.name == "common.yaml":
            continue
        m = load_manifest(path, load_registry())
        twin = m.name.removesuffix("-paper").removeprefix("paper-")
        rates = twin_rates(cells[cells.benchmark == twin])
        found = [cell_seconds(c, rates) for c in expand(m)]
        gpu = [s / args.gpu_speedup for s in found if s is not None]
        if not gpu:
            print(f"| {path.relative_to(ROOT)} | {len(found)} | 0 (no twin cells) | | | | |")
            continue
        hours = [wall(gpu, g) / 3600 for g in (1, 8, 64)]
        print(
            f"| {path.relative_to(ROOT)} | {len(found)} | {len(gpu)} | {sum(gpu) / 3600:.1f} | "
            + " | ".join(f"{h:.1f} h" for h in hours)
            + " |"
        )


if __name__ == "__main__":
    main()
