"""The runner's own overhead: everything a cell spends outside codec compute.

Runs a manifest into a fresh database and compares, per cell and for the whole run, the
wall-clock time with the time spent inside compress/decompress/forward (and, separately,
inside metric computation). Prints the overhead as a fraction, measured in one run.

    python benchmarks/runner_overhead.py [benchmarks/overhead.yaml]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from licbench.bench.checker import load_manifest
from licbench.bench.run import Runner
from licbench.bench.store import ResultStore
from licbench.plugin.manager import load_registry


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("overhead.yaml"))
    manifest = load_manifest(path, load_registry())
    store = ResultStore(str(Path(tempfile.mkdtemp()) / "overhead.db"))
    runner = Runner(manifest, store, device="cpu", progress=False, registry=load_registry())
    t0 = time.perf_counter()
    summary = runner.run()
    total = time.perf_counter() - t0
    cells = store.frame("cells")
    cells = cells[cells.status == "done"]
    cell_s, codec_s, metric_s = (
        cells.seconds.sum(),
        cells.codec_seconds.sum(),
        (cells.metric_seconds.sum()),
    )
    print(f"{path}: {summary.done} cells, {int(cells.n_images.sum())} image codings")
    print(f"inside cells: {cell_s:.2f} s, codec compute {codec_s:.2f} s, metrics {metric_s:.2f} s")
    print(
        f"per-cell runner overhead (cell - codec - metrics) / cell = "
        f"{(cell_s - codec_s - metric_s) / cell_s:.2%}"
    )
    print(
        f"per-cell overhead counting metrics as overhead (cell - codec) / cell = "
        f"{(cell_s - codec_s) / cell_s:.2%}"
    )
    print(
        f"whole run incl. dataset loading, hashing and model loading: {total:.2f} s, "
        f"(total - codec - metrics) / total = {(total - codec_s - metric_s) / total:.2%}"
    )


if __name__ == "__main__":
    main()
