"""Threat models in the leaderboard: per image the worst over attacks, relative to clean."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import manifest_runner

from licbench.bench.checker import load_manifest
from licbench.bench.store import ResultStore
from licbench.cli import main
from licbench.errors import LicbenchError
from licbench.leaderboard import robust
from licbench.leaderboard.view import Results
from licbench.plugin.manager import load_registry

MANIFEST = """\
name: tm
datasets: [{name: samples, limit: 3, crop: 192}]
codecs: [{name: bmshj2018-hyperprior-lite, qualities: [2, 4]}]
attacks: [fgsm, {name: pgd, params: {iters: 2}}]
defenses: [{name: gaussian-blur, params: {sigma: 1.0}}, {name: bit-squeeze, params: {bits: 6}}]
exclude: [{defense: bit-squeeze, attack: none}]
metrics: [bpp, psnr, ms-ssim]
threat_models:
  - {name: rate, goal: rate, budget: {norm: linf, eps: 4/255}, attacks: [fgsm, pgd]}
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("tm")
    (tmp / "m.yaml").write_text(MANIFEST)
    store = ResultStore(str(tmp / "r.db"))
    summary = manifest_runner(tmp / "m.yaml", store, device="cpu", progress=False).run()
    assert summary.failed == 0
    return str(tmp / "r.db")


@pytest.mark.slow
def test_robust_rate_is_the_per_image_worst_over_attacks(db: str) -> None:
    wide = Results(ResultStore(db, create=False)).wide
    tm = {"name": "rate", "goal": "rate", "attacks": ["fgsm", "pgd"]}
    table = robust.threat_table(wide, tm, {"bpp": False, "psnr": True}).set_index("defense")
    ratios, worst_psnr = [], []
    for q in (2, 4):  # by hand: per image the larger bpp and the lower PSNR of the two attacks
        at = wide[(wide.quality == q) & (wide.defense == "none")].set_index(["attack", "image"])
        bpp = at.loc["fgsm"].bpp.combine(at.loc["pgd"].bpp, max)
        psnr = at.loc["fgsm"].psnr.combine(at.loc["pgd"].psnr, min)
        ratios.append(bpp.mean() / at.loc["none"].bpp.mean())
        worst_psnr.append(psnr.mean() - at.loc["none"].psnr.mean())
    none = table.loc["none"]
    assert none["rate × clean"] == pytest.approx(sum(ratios) / 2, rel=1e-9)
    assert none["Δ PSNR dB"] == pytest.approx(sum(worst_psnr) / 2, rel=1e-9)
    assert none["clean BD-rate %"] == pytest.approx(0, abs=1e-9)
    assert none["rate × clean"] > 1 and none["worst attack"] in {"fgsm", "pgd"}
    blur = table.loc["gaussian-blur"]  # blurring costs so much PSNR that the curves part
    if pd.isna(blur["clean BD-rate %"]):
        assert "clean BD-rate %" in blur.note and "share no PSNR range" in blur.note
    else:
        assert blur["clean BD-rate %"] > 0 and blur.note == ""
    # bit-squeeze has no clean cells (excluded): it says why and ranks last, unranked
    squeeze = table.loc["bit-squeeze"]
    assert squeeze.note == "no clean cells to compare with" and squeeze["rank"] == "-"
    assert list(table["rank"])[-1] == "-"


def test_leaderboard_prints_the_threat_model_table_and_a_short_index(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["leaderboard", "--db", db]) == 0
    index = capsys.readouterr().out
    assert "| tm " in index and "rate" in index and "###" not in index
    assert main(["leaderboard", "--db", db, "--benchmark", "tm", "--format", "json"]) == 0
    tables = json.loads(capsys.readouterr().out)
    (title,) = [t for t in tables if "threat model rate" in t]
    rows = tables[title]["rows"]
    assert "eps 4/255" in title and [r["defense"] for r in rows][-1] == "bit-squeeze"
    assert "Defenses ranked by" in tables[title]["caption"]


def test_a_threat_model_must_name_attacks_the_manifest_runs(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST.replace("attacks: [fgsm, pgd]}", "attacks: [fgsm, pgdd]}"))
    with pytest.raises(LicbenchError, match="counts attack 'pgdd'.*did you mean 'pgd'"):
        load_manifest(path, load_registry())


def test_backdoor_table_is_poisoned_against_the_backdoored_codec_on_clean_input(
    tmp_path: Path,
) -> None:
    """On the committed results.db: × clean of a backdoor is its poisoned rate over its own
    `/clean` cell's, and the clean drift is against the vanilla (attack: none) codec."""
    from licbench.leaderboard.backdoor import backdoor_tables

    db = tmp_path / "r.db"  # the committed database, schema 2 (a copy: opening never writes)
    db.write_bytes((Path(__file__).parents[1] / "results.db").read_bytes())
    results = Results(ResultStore(str(db), create=False))
    wide = results.wide[results.wide.benchmark == "backdoor-headline"]
    cells = results.cells[results.cells.benchmark == "backdoor-headline"]
    (table,) = backdoor_tables(wide, cells).values()
    row = table.set_index("backdoor").loc["bpp-dct/poisoned"]
    at = wide[(wide.defense == "none") & (wide.quality == row.quality)].set_index("attack")
    poisoned, clean, vanilla = (at.loc[a] for a in ("bpp-dct/poisoned", "bpp-dct/clean", "none"))
    assert row["× clean"] == pytest.approx(poisoned.bpp.mean() / clean.bpp.mean(), rel=1e-12)
    drift = 100 * (clean.bpp.mean() / vanilla.bpp.mean() - 1)
    assert row["clean bpp Δ"] == f"{drift:+.1f} %" and row["× clean"] > 3
    # the headline manifest's 8 poisoned variants (of 6 backdoors), no /clean row
    assert len(table) == 8 and not table.backdoor.str.endswith("/clean").any()
