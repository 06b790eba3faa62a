"""The prepared GPU check (at most 8 minutes on one GPU): what must hold before results made on
CUDA are trusted, measured in one run.

1. the device tests (tests/test_fake_cuda.py, and on a GPU a real forward and backward);
2. Kodak through a lite codec: encoded on each device, decoded on each, the PSNR of every
   decode within 0.05 dB of the CPU's and every cross-device decode exact;
3. throughput of evaluation, PGD and APGD per image and batched, CPU against CUDA;
4. one adv-fig6 row (PGD against the bare codec and two-way, quality 4) on every Kodak image;
5. with 2 GPUs or more, 4 Ray tasks that report the GPU they compute on.

    python benchmarks/gpu_check.py            # on a machine with a GPU
    python benchmarks/gpu_check.py --quick    # on CPU, 2 images, a few minutes (CI runs it)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from attack_batch import compare  # benchmarks/attack_batch.py, beside this script

import licbench
from licbench.api.context import resolve_device
from licbench.images import load_image
from licbench.plugin.manager import load_registry
from licbench.rd import psnr_from_mse
from licbench.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CODEC = "bmshj2018-hyperprior-lite"


def devices(quick: bool) -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() and not quick else [])


def tests(quick: bool) -> str:
    """The device tests: their pytest summary line."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           str(ROOT / "tests" / "test_fake_cuda.py")]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-200:]
    if torch.cuda.is_available() and not quick:
        codec = load_registry().create("codec", CODEC, quality=4).to("cuda")
        x = torch.rand(1, 3, 64, 64, device="cuda", requires_grad=True)
        (g,) = torch.autograd.grad(codec.model(x)["x_hat"].sum(), x)
        line += f"; real CUDA forward+backward: {g.device}"
    return line


def decodes(images: list[tuple[str, torch.Tensor]], quick: bool) -> list[dict[str, Any]]:
    """Each image encoded on each device and decoded on each: PSNR, and whether the decode
    equals the one made on the encoding device."""
    reg = load_registry()
    rows = []
    for enc_dev in devices(quick):
        for name, x in images:
            enc_codec = reg.create("codec", CODEC, quality=4).to(resolve_device(enc_dev))
            enc = enc_codec.compress(x.to(enc_codec.device))
            ref = enc_codec.decompress(enc).cpu()
            for dec_dev in devices(quick):
                dec_codec = reg.create("codec", CODEC, quality=4).to(resolve_device(dec_dev))
                out = dec_codec.decompress(enc).cpu()
                psnr = psnr_from_mse(float(torch.mean((out - x) ** 2)))
                same = bool(torch.equal(out, ref))
                rows.append({"image": name, "encoded": enc_dev, "decoded": dec_dev,
                             "psnr": psnr, "same as encoder's": same})  # fmt: skip
    return rows


def throughput(images: list[tuple[str, torch.Tensor]], quick: bool) -> list[dict[str, Any]]:
    """Seconds per image of evaluation, and of PGD and APGD (10 steps) one image at a time
    and batched (benchmarks/attack_batch.py, with its check of equal scores), per device."""
    reg = load_registry()
    rows = []
    x = torch.cat([v for _, v in images])
    for dev in devices(quick):
        device = resolve_device(dev)
        codec = reg.create("codec", CODEC, quality=4).to(device)
        t0 = time.perf_counter()
        for _, v in images:
            codec.decompress(codec.compress(v.to(device)))
        if device.type == "cuda":
            torch.cuda.synchronize()
        rows.append({"device": dev, "work": "eval", "s/image": (time.perf_counter() - t0) / len(x)})
        for name in ("pgd", "apgd"):
            r = compare(reg.create("attack", name, iters=10), codec, x.to(device), device)
            rows.append({"device": dev, "work": name, "s/image": r["per-image s"] / len(x),
                         "batched s/image": r["batched s"] / len(x),
                         "bpp identical": r["bpp identical"]})  # fmt: skip
    return rows


def fig6_row(quick: bool) -> str:
    """PGD against the bare codec and two-way at quality 4, every Kodak crop (2 with
    --quick), into a temporary database."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "row.yaml"
        path.write_text(
            "name: gpu-check-fig6-row\ndatasets: [{name: kodak, crop: 256}]\n"
            "codecs: [{name: bmshj2018-hyperprior-lite, qualities: [4]}]\n"
            "attacks: [{name: pgd, params: {objective: rate}}]\ndefenses: [two-way]\n"
            "draws: 3\nmetrics: [bpp, psnr, psnr-clean, input-linf, encode-seconds]\n"
        )
        device = "cuda" if torch.cuda.is_available() and not quick else "cpu"
        t0 = time.perf_counter()
        s = licbench.run(path, db=str(Path(tmp) / "r.db"), device=device,
                         limit_images=2 if quick else None)  # fmt: skip
        took = time.perf_counter() - t0
        return f"{s.total} cells on {device}: {s.done} run, {s.failed} failed, {took:.1f} s"


def ray_gpus() -> str:
    """With 2 GPUs or more: the GPU ids 4 Ray tasks of one GPU each report."""
    if torch.cuda.device_count() < 2:
        return f"skipped: {torch.cuda.device_count()} GPU(s)"
    import ray

    ray.init(num_gpus=torch.cuda.device_count(), include_dashboard=False)
    try:

        def where() -> tuple[list[Any], str]:
            return ray.get_gpu_ids(), torch.cuda.get_device_name(torch.cuda.current_device())

        task = ray.remote(num_gpus=1, max_calls=1)(where)
        return str(ray.get([task.remote() for _ in range(4)]))
    finally:
        ray.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CPU only, 2 images")
    args = ap.parse_args()
    from tabulate import tabulate

    t0 = time.perf_counter()
    print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu only")
    print("1. device tests:", tests(args.quick))
    root = Settings.from_env().data
    if root is None:
        print("licbench: error: set LICBENCH_DATA to the shared data folder (holding kodak/)")
        return 2
    files = sorted((root / "kodak").glob("kodim*.png"))[: 2 if args.quick else None]
    images = [(f.stem, load_image(f)) for f in files]
    rows = decodes(images, args.quick)
    print("2. decodes\n" + tabulate(rows, headers="keys", tablefmt="github", floatfmt=".3f"))
    cpu = {r["image"]: r["psnr"] for r in rows if r["encoded"] == r["decoded"] == "cpu"}
    worst = max(abs(r["psnr"] - cpu[r["image"]]) for r in rows)
    exact = all(r["same as encoder's"] for r in rows)
    print(f"   largest PSNR difference to the CPU: {worst:.4f} dB (limit 0.05); "
          f"every cross-device decode exact: {exact}")  # fmt: skip
    crops = [(n, x[..., :256, :256]) for n, x in images[: 2 if args.quick else 8]]
    print("3. throughput\n" + tabulate(throughput(crops, args.quick), headers="keys",
                                       tablefmt="github", floatfmt=".3f"))  # fmt: skip
    print("4. adv-fig6 row:", fig6_row(args.quick))
    print("5. Ray GPU placement:", ray_gpus())
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0 if worst <= 0.05 and exact else 1


if __name__ == "__main__":
    sys.exit(main())
