"""`licbench eval` agrees with CompressAI's own evaluation of the same checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from licbench.cli import main


@pytest.mark.slow
def test_eval_matches_compressai_eval_model(
    kodak_dir: Path, random_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "kodak3"
    folder.mkdir()
    for name in ("kodim01.png", "kodim04.png", "kodim23.png"):  # landscape and portrait
        (folder / name).write_bytes((kodak_dir / name).read_bytes())
    ref = {}
    for extra in ([], ["--entropy-estimation"]):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "compressai.utils.eval_model",
                "checkpoint",
                str(folder),
                "-a",
                "bmshj2018-hyperprior",
                "-p",
                str(random_checkpoint),
                *extra,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        ref[bool(extra)] = {
            k: v[0] for k, v in json.loads(out[out.index("{") :])["results"].items()
        }
    assert (
        main(
            [
                "eval",
                "--codec",
                "bmshj2018-hyperprior",
                "--quality",
                "1",
                "--checkpoint",
                str(random_checkpoint),
                "--data",
                str(folder),
                "--json",
            ]
        )
        == 0
    )
    ours = json.loads(capsys.readouterr().out)["mean"]
    assert abs(ours["bpp"] - ref[False]["bpp"]) < 1e-3
    assert abs(ours["psnr"] - ref[False]["psnr-rgb"]) < 1e-3
    assert abs(ours["ms-ssim"] - ref[False]["ms-ssim-rgb"]) < 1e-3
    assert abs(ours["bpp-estimate"] - ref[True]["bpp"]) < 1e-3
