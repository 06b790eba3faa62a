"""The standard attack set of threat models, and `licbench audit` (Carlini et al. 2019)."""

from __future__ import annotations

from pathlib import Path

import pytest

from licbench.bench.checker import validated
from licbench.cli import main
from licbench.errors import LicbenchError
from licbench.plugin.manager import load_registry

MASKED = """\
name: masked
datasets: [{name: kodak, limit: 1, crop: 64}]
codecs: [{name: bmshj2018-hyperprior-lite, qualities: [4]}]
defenses: [{name: bit-squeeze, label: round16, params: {bits: 4, straight_through: false}}]
metrics: [bpp, psnr]
threat_models: [{name: rate-linf, goal: rate, budget: {norm: linf, eps: 4/255}, attacks: [pgd]}]
attacks: [pgd]
"""


@pytest.mark.slow
def test_the_audit_flags_a_gradient_masking_defense(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rounding the input to 16 levels without straight-through gives the white-box attack a
    zero gradient: it does nothing, even unbounded, while the attack transferred from the bare
    codec raises the rate. The bare codec passes those checks."""
    (tmp_path / "m.yaml").write_text(MASKED)
    db = str(tmp_path / "a.db")
    args = ["audit", str(tmp_path / "m.yaml"), "--db", db, "--no-progress"]
    assert main([*args, "--images", "1", "--iters", "10", "--queries", "30"]) == 1
    out = capsys.readouterr().out
    assert "masked-audit: 22 cells: 22 run" in out
    rows = {
        (cells[1].strip(), cells[2].strip()): cells[3].strip()
        for line in out.splitlines()
        if line.startswith("| ") and len(cells := line.split("|")) == 6
    }
    for check in ("unbounded", "white > gray"):
        assert rows[("round16", check)] == "FAIL"
    assert all(rows[("none", c)] == "pass" for c in ("unbounded", "white > gray", "noise"))
    assert "FLAGGED bmshj2018-hyperprior-lite + round16: unbounded, white > gray" in out
    assert "1 flagged (codec, defense) pairs" in out
    # stored like any benchmark: a rerun skips every cell; the site shows the verdicts
    assert main([*args, "--images", "1", "--iters", "10", "--queries", "30"]) == 1
    assert "0 run, 22 already stored" in capsys.readouterr().out
    assert main(["leaderboard", "--db", db, "--site", str(tmp_path / "site")]) == 0
    page = (tmp_path / "site" / "masked-audit.html").read_text()
    assert "masked-audit / kodak / bmshj2018-hyperprior-lite / audit" in page
    assert page.count(">FAIL<") == 2


def test_a_threat_model_runs_the_standard_set(tmp_path: Path) -> None:
    doc = {
        "name": "std",
        "datasets": ["kodak"],
        "codecs": [{"name": "bmshj2018-hyperprior-lite", "qualities": [2]}],
        "attacks": ["pgd"],
        "threat_models": [
            {
                "name": "r",
                "goal": "rate",
                "budget": {"norm": "linf", "eps": "8/255"},
                "standard": True,
            },
        ],
    }
    reg, where = load_registry(), tmp_path / "m.yaml"
    m = validated(doc, where, registry=reg)  # the standard set: the attacks in its roles
    labels = [a.display for a in m.attacks]
    assert labels == ["pgd", "apgd@r", "pgd@r", "square@r"]
    assert m.threat_models[0].attacks == ["apgd@r", "pgd@r", "square@r"]
    apgd = m.attacks[1].params
    assert apgd["eps"] == pytest.approx(8 / 255) and apgd["restarts"] == 3
    assert apgd["quantization"] == ["noise", "ste", "none"]
    again = validated(m.model_dump(), where, registry=reg)  # a stored one re-reads the same
    assert [a.display for a in again.attacks] == labels
    bad = {**doc, "threat_models": [{**doc["threat_models"][0], "goal": "seg-asr"}]}
    with pytest.raises(LicbenchError, match="m.yaml: .* covers goals rate and distortion"):
        validated(bad, where, registry=reg)
    (tmp_path / "m.yaml").write_text(
        "name: s\ndatasets: [kodak]\ncodecs: [{name: jpeg, qualities: [50]}]\n"
        "threat_models: [{name: r, goal: rate, budget: {eps: 4/255}, standard: true}]\n"
    )
    assert main(["validate", str(tmp_path / "m.yaml")]) == 0  # square applies to JPEG


def test_bad_audit_input_is_one_line_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.yaml").write_text(MASKED)
    db = tmp_path / "a.db"
    for flag, value in (("--iters", "1"), ("--images", "0"), ("--queries", "x")):
        with pytest.raises(SystemExit) as exc:
            main(["audit", str(tmp_path / "m.yaml"), "--db", str(db), flag, value])
        assert exc.value.code == 2 and f"argument {flag}" in capsys.readouterr().err
    (tmp_path / "b.yaml").write_text(MASKED.replace("eps: 4/255", "eps: 4/abc"))
    assert main(["audit", str(tmp_path / "b.yaml"), "--db", str(db)]) == 2
    assert "budget eps '4/abc' is not a number" in capsys.readouterr().err
    assert not db.exists()
