from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from licbench.bench.store import ResultStore
from licbench.bjontegaard import bd_psnr, bd_rate
from licbench.cli import main

MANIFEST = """\
name: lb
datasets: [{name: samples, limit: 2}]
codecs:
  - {name: jpeg, qualities: [20, 50, 80]}
  - {name: webp, qualities: [20, 50, 80]}
metrics: [bpp, psnr, encode-seconds]
leaderboard: {rank_by: bpp, anchor: jpeg}
"""


def test_bd_metrics_on_known_curves() -> None:
    r = np.array([0.2, 0.4, 0.8, 1.6])
    p = np.array([28.0, 31.0, 34.0, 37.0])
    assert bd_rate(r, p, r, p) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(r, p, r * 0.8, p) == pytest.approx(-20.0, abs=1e-6)
    assert bd_psnr(r, p, r, p + 0.5) == pytest.approx(0.5, abs=1e-9)


@pytest.fixture
def db(tmp_path: Path) -> str:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["run", str(tmp_path / "m.yaml"), "--db", url, "--no-progress"]) == 0
    return url


def test_leaderboard_tables_are_direction_aware(db: str, tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "leaderboard",
                "--all",
                "--db",
                db,
                "--format",
                "json",
                "--plot-dir",
                str(tmp_path / "plots"),
            ]
        )
        == 0
    )
    tables = json.loads(capsys.readouterr().out)
    jpeg = tables["lb / samples / jpeg"]
    assert "not a ranking" in jpeg["caption"] and "2 images" in jpeg["caption"]
    assert [r["quality"] for r in jpeg["rows"]] == [20, 50, 80]  # grouped by quality
    bd = tables["lb / samples / BD vs jpeg"]
    assert "ranked by BD-rate against jpeg" in bd["caption"]
    assert {r["label"] for r in bd["rows"]} == {"jpeg", "webp"}
    assert next(r for r in bd["rows"] if r["label"] == "jpeg")["bd-rate %"] == pytest.approx(0)
    assert [r["rank"] for r in bd["rows"]] == [1, 2]
    assert (tmp_path / "plots" / "rd-lb-samples.png").stat().st_size > 1000


@pytest.mark.parametrize("fmt,marker", [("md", "bpp ↓"), ("csv", "table,"), ("html", "<table")])
def test_leaderboard_formats(db: str, fmt: str, marker: str, capsys) -> None:
    assert main(["leaderboard", "--all", "--db", db, "--format", fmt, "--plot-dir", ""]) == 0
    out = capsys.readouterr().out
    assert marker in out and "webp" in out


def test_rows_on_superseded_codec_weights_leave_the_leaderboard(
    tmp_path: Path, monkeypatch
) -> None:
    """New webp weights, re-scored without a defense: webp's defended row, left on the old
    weights, leaves the leaderboard; jpeg's rows (weights unchanged) stay; nothing is deleted."""
    from licbench.bench.store import ResultStore
    from licbench.leaderboard.view import Results
    from licbench_builtin.codecs.pillow import PillowCodec

    m = "name: w\ndatasets: [{name: samples, limit: 1}]\nmetrics: [bpp, psnr]\n"
    m += "codecs: [{name: jpeg, qualities: [50]}, {name: webp, qualities: [50]}]\n"
    (tmp_path / "a.yaml").write_text(m + "defenses: [{name: gaussian-blur}]\n")
    (tmp_path / "b.yaml").write_text(m)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["run", str(tmp_path / "a.yaml"), "--db", db, "--no-progress"]) == 0
    monkeypatch.setattr(PillowCodec, "fingerprint", lambda self: "v2" * (self.name == "webp"))
    assert main(["run", str(tmp_path / "b.yaml"), "--db", db, "--no-progress"]) == 0
    means = Results(ResultStore(db)).means
    rows = {(r.family, r.defense) for r in means.itertuples()}
    assert rows == {("jpeg", "none"), ("jpeg", "gaussian-blur"), ("webp", "none")}
    assert len(ResultStore(db).frame("cells")) == 5


def test_empty_or_missing_database_is_a_clear_error(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing.db"
    assert main(["leaderboard", "--db", str(missing)]) == 2
    assert "no results database there" in capsys.readouterr().err
    assert not missing.exists()  # a read-only command creates nothing
    ResultStore(str(tmp_path / "empty.db"))
    assert main(["leaderboard", "--db", str(tmp_path / "empty.db")]) == 2
    assert "holds no finished cells" in capsys.readouterr().err


def test_a_rerun_supersedes_the_older_cell_instead_of_averaging(db: str, tmp_path: Path) -> None:
    """Re-running with other inputs (here a third image) replaces the leaderboard row."""
    from licbench.bench.store import ResultStore
    from licbench.leaderboard.view import Results

    (tmp_path / "m3.yaml").write_text(MANIFEST.replace("limit: 2", "limit: 3"))
    assert main(["run", str(tmp_path / "m3.yaml"), "--db", db, "--no-progress"]) == 0
    store = ResultStore(db)
    cells = store.frame("cells")
    assert len(cells) == 12 and cells.run_id.nunique() == 2  # the older cells are kept
    means = Results(store).means
    assert len(means) == 6 and set(means.images) == {3}
    newest = cells[cells.run_id == cells.run_id.max()]
    scores = store.frame("scores").merge(newest, left_on="cell_key", right_on="key")
    want = scores[scores.metric == "bpp"].groupby(["family", "quality"])["value"].mean()
    got = means.set_index(["family", "quality"])["bpp"]
    assert np.allclose(got.loc[want.index], want)


def test_published_curves_are_drawn_dashed_beside_the_results(tmp_path: Path) -> None:
    import pandas as pd
    from conftest import DATA

    from licbench.errors import LicbenchError
    from licbench.leaderboard.plots import rd_plot
    from licbench.published import Published, for_codec, load_published

    published = Published(DATA / "reference", "kodak")
    ref = for_codec(published, "bmshj2018-hyperprior-lite")
    assert ref is not None and len(ref) == 8 and ref.bpp.is_monotonic_increasing
    assert ref.name[0] == "bmshj2018-hyperprior"
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": {}}')
    with pytest.raises(LicbenchError, match="bad.json: not a published RD results file"):
        load_published(bad)
    means = pd.DataFrame(  # 25 series: every one gets its own colour and marker
        [
            {"benchmark": "b", "dataset": "kodak", "label": "bmshj2018-hyperprior-lite",
             "attack": f"a{i}", "defense": "none", "bpp": b, "psnr": 30 + b + i / 10,
             "learned": True, "quality": b, "image": "x"}
            for i in range(25) for b in (0.2, 0.5)
        ]
    )  # fmt: skip
    plots = tmp_path / "plots"
    (svg,) = rd_plot(means, means, plots, "svg", published, published_on=[("b", "kodak")])
    text = svg.read_text()
    assert "bmshj2018-hyperprior (published, Kodak full size)" in text
    assert "stroke-dasharray" in text
    (cropped,) = rd_plot(means, means, tmp_path / "crops", "svg", published, published_on=[])
    assert "(published, Kodak full size)" not in cropped.read_text()  # crops: no published
    colours = set(re.findall(r"stroke: (#[0-9a-f]{6})", text))
    assert len(colours) >= 25
