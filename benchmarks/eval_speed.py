"""`licbench eval` against CompressAI's own `eval_model` on the same checkpoint and images.

Both run as fresh processes on one CPU thread (eval_model pins torch to one thread), so
start-up is included. Prints the wall-clock ratio licbench / compressai, measured in one run.

    python benchmarks/eval_speed.py [--data DIR] [--arch A --checkpoint CKPT] [--limit N]

Without --checkpoint a seeded random-init bmshj2018-hyperprior (quality 3 widths) is used.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from licbench.settings import Settings


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, out


def main() -> None:
    root = Settings.from_env().data or Path("../shared/data")
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", type=Path, default=root / "kodak")
    p.add_argument("--arch", default="bmshj2018-hyperprior")
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--limit", type=int, help="first N images only")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    ckpt = args.checkpoint
    if ckpt is None:
        import torch
        from compressai.zoo import image_models

        torch.manual_seed(0)
        ckpt = tmp / "random.pth.tar"
        torch.save(image_models[args.arch](quality=3).state_dict(), ckpt)
    data = args.data
    if args.limit:
        data = tmp / "images"
        data.mkdir()
        for f in sorted(args.data.glob("*.png"))[: args.limit]:
            (data / f.name).symlink_to(f.resolve())

    ref = [
        sys.executable,
        "-m",
        "compressai.utils.eval_model",
        "checkpoint",
        str(data),
        "-a",
        args.arch,
        "-p",
        str(ckpt),
    ]
    ours = [
        sys.executable,
        "-m",
        "licbench.cli",
        "eval",
        "--codec",
        args.arch,
        "--quality",
        "3",
        "--checkpoint",
        str(ckpt),
        "--data",
        str(data),
        "--threads",
        "1",
        "--json",
        "--device",
        "cpu",
    ]
    t_ref, out_ref = timed(ref)
    t_ref_est, _ = timed([*ref, "--entropy-estimation"])
    t_ours_real, out_ours = timed([*ours, "--no-estimate"])
    t_ours_both, _ = timed(ours)
    r = json.loads(out_ref[out_ref.index("{") :])["results"]
    mine = json.loads(out_ours)["mean"]
    n = len(json.loads(out_ours)["images"])
    print(f"images: {n} from {args.data}; checkpoint: {ckpt}")
    print(f"mean bpp   compressai {r['bpp'][0]:.6f}  licbench {mine['bpp']:.6f}")
    print(f"mean PSNR  compressai {r['psnr-rgb'][0]:.6f}  licbench {mine['psnr']:.6f}")
    print(
        f"real bitstream only: compressai {t_ref:.1f} s, licbench {t_ours_real:.1f} s, "
        f"ratio licbench/compressai = {t_ours_real / t_ref:.3f}"
    )
    print(
        f"real + estimated rate: compressai (two runs) {t_ref + t_ref_est:.1f} s, licbench "
        f"(one run) {t_ours_both:.1f} s, ratio = {t_ours_both / (t_ref + t_ref_est):.3f}"
    )


if __name__ == "__main__":
    main()
