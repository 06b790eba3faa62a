"""Attacked inputs are delivered images: 8-bit, within budget, what a file would carry; and
an audit only checks what applies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from licbench.api.attack import deliver
from licbench.bench.store import ResultStore
from licbench.cli import main


def test_delivery_rounds_to_8_bits_and_keeps_the_budget() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.round(torch.rand(1, 3, 16, 16, generator=g) * 255) / 255
    for eps in (4 / 255, 2.5 / 255, 0.5 / 255):
        adv = x + eps * torch.sign(torch.randn(x.shape, generator=g)) * 1.4  # over budget
        out = deliver(adv, x, eps)
        assert torch.allclose(out * 255, torch.round(out * 255), atol=1e-4)  # on the grid
        step = int(eps * 255 + 1e-6) / 255  # whole grid steps of the budget
        assert float((out - x).abs().max()) <= step + 1e-7
        assert 0 <= float(out.min()) and float(out.max()) <= 1
    want = torch.round((x + 0.3).clamp(0, 1) * 255) / 255
    assert torch.allclose(deliver(x + 0.3, x, None), want, atol=1e-7)


MANIFEST = """\
name: deliver
datasets: [{name: samples, limit: 1, crop: 64}]
codecs: [{name: bmshj2018-hyperprior-lite, qualities: [2]}]
attacks: [{name: pgd, params: {eps: 0.013, iters: 2}}]
metrics: [bpp, input-linf]
"""


def test_scored_inputs_are_delivered_within_the_budget(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    db = str(tmp_path / "r.db")
    assert main(["run", str(tmp_path / "m.yaml"), "--db", db, "--no-progress"]) == 0
    scores = ResultStore(db).frame("scores")
    linf = scores[scores.metric == "input-linf"].value.max()  # in 255ths, on the delivered image
    assert linf == pytest.approx(3.0, abs=1e-4)  # ε = 3.3/255 delivered as 3 whole steps
    cell = ResultStore(db).frame("cells")
    attacked = cell[cell.attack == "pgd"].iloc[0]
    assert json.loads(attacked.config)["delivery"] == "uint8"


def test_a_saved_attacked_png_reencodes_to_the_same_bitstream(
    tmp_path: Path, image_dir: Path
) -> None:
    image = sorted(image_dir.glob("*.png"))[0]
    codec = ["--codec", "bmshj2018-hyperprior-lite", "--quality", "2"]
    attack = ["--attack", "pgd", "--attack-params", '{"iters": 2}', "--seed", "3"]
    saved, first, again = tmp_path / "attacked.png", tmp_path / "a.bin", tmp_path / "b.bin"
    args = ["compress", str(image), str(first), *codec, *attack, "--save-input", str(saved)]
    assert main(args) == 0
    assert main(["compress", str(saved), str(again), *codec]) == 0
    assert first.read_bytes() == again.read_bytes()  # the file is exactly what was encoded
    clean = tmp_path / "clean.bin"
    assert main(["compress", str(image), str(clean), *codec]) == 0
    assert clean.read_bytes() != first.read_bytes()  # and the attack changed it


JPEG = """\
name: jpegaudit
datasets: [{name: samples, limit: 1, crop: 64}]
codecs: [{name: jpeg, qualities: [40, 80]}]
metrics: [bpp, psnr]
"""


def test_an_audit_over_jpeg_never_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "m.yaml").write_text(JPEG)
    db = str(tmp_path / "r.db")
    args = ["audit", str(tmp_path / "m.yaml"), "--db", db, "--images", "1", "--iters", "2",
            "--queries", "20", "--no-progress"]  # fmt: skip
    assert main(args) == 0  # nothing flagged
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert not [ln for ln in lines if ln.startswith("FLAGGED")] and "| FAIL" not in out, out
    assert "×nan" not in out and "| n/a" in out and "0 flagged" in out
