"""Peak memory of `licbench eval` on one large synthetic photo (issue 16: 6000×4000).

    python benchmarks/eval_memory.py --width 6000 --height 4000 [--codec C --quality Q]

Writes a smooth-plus-noise RGB photo of the given size into a temporary folder, runs
`licbench eval` on it in a child process and prints the child's peak resident memory
(ru_maxrss) and its wall time, and the same for a 1/16-area copy in the same run (the
ratio shows how memory grows with the pixel count).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def photo(path: Path, width: int, height: int) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width * 255, yy / height * 255, (xx + yy) / (width + height) * 255], -1)
    img = np.clip(base + rng.normal(0, 6, base.shape).astype(np.float32), 0, 255)
    Image.fromarray(img.astype(np.uint8)).save(path)


def peak(folder: Path, codec: str, quality: str) -> tuple[float, float]:
    """Peak RSS (GB) and seconds of one `licbench eval` child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "licbench.cli", "eval", "--codec", codec, "--quality", quality]
    subprocess.run([*cmd, "--data", str(folder), "--device", "cpu"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(rss, before) / 2**20, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--width", type=int, default=6000)
    p.add_argument("--height", type=int, default=4000)
    p.add_argument("--codec", default="bmshj2018-hyperprior-lite")
    p.add_argument("--quality", default="4")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for scale in (4, 1):  # the small one first: ru_maxrss of children is a running max
            folder = Path(tmp) / f"x{scale}"
            folder.mkdir()
            w, h = args.width // scale, args.height // scale
            photo(folder / "photo.png", w, h)
            gb, s = peak(folder, args.codec, args.quality)
            rows.append((w, h, gb, s))
            print(f"{w}x{h}: peak RSS {gb:.2f} GB, {s:.1f} s ({args.codec} q={args.quality})")
        print(f"ratio: {rows[1][2] / rows[0][2]:.2f}x the memory for 16x the pixels")


if __name__ == "__main__":
    main()
