"""The results view and its renderings, on synthetic per-image data (no run needed)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from licbench.bench.store import ResultStore
from licbench.leaderboard import robust
from licbench.leaderboard.render import render, shown
from licbench.leaderboard.spread import boot_weights, interval, mean_interval
from licbench.leaderboard.tables import threat_tables
from licbench.leaderboard.view import Results, Table

DIRECTIONS = {"bpp": False, "psnr": True}


def synthetic(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """Per-image rows of one codec: clean and one attack at three qualities, with and
    without a defense that costs rate when clean and halves the attack's damage."""
    rng = np.random.default_rng(seed)
    rows = []
    for q, (bpp, psnr) in {2: (0.3, 28.0), 4: (0.6, 30.0), 6: (0.9, 31.5)}.items():
        for i in range(n):
            b, p = bpp * rng.lognormal(0, 0.2), psnr + rng.normal(0, 1)
            for defense, cost, keep in (("none", 1.0, 1.0), ("shield", 1.05, 0.5)):
                hit = 1 + keep * rng.lognormal(-1.5, 0.5)
                base = {"benchmark": "b", "dataset": "d", "family": "f", "label": "c",
                        "quality": float(q), "defense": defense, "image": f"img{i}"}  # fmt: skip
                rows.append({**base, "attack": "none", "bpp": b * cost, "psnr": p})
                rows.append({**base, "attack": "pgd", "bpp": b * cost * hit, "psnr": p - 0.5})
    return pd.DataFrame(rows)


TM = {"name": "rate", "goal": "rate", "budget": {"eps": "4/255"}, "attacks": ["pgd"]}


def test_threat_table_by_hand_with_intervals_that_cover_the_mean() -> None:
    wide = synthetic()
    table = robust.threat_table(wide, TM, DIRECTIONS).set_index("defense")
    for defense in ("none", "shield"):
        cur = wide[wide.defense == defense]
        by_q = []
        for _, part in cur.groupby("quality"):
            at = part.set_index(["attack", "image"])
            by_q.append(at.loc["pgd"].bpp.mean() / at.loc["none"].bpp.mean())
        row = table.loc[defense]
        assert row["rate × clean"] == pytest.approx(np.mean(by_q), rel=1e-12)
        assert row["rate × clean lo"] < row["rate × clean"] < row["rate × clean hi"]
        assert row["robust BD-rate % lo"] < row["robust BD-rate %"] < row["robust BD-rate % hi"]
        assert row["images"] == 12
    # the shield halves the damage but costs 5 % clean: ranked by robust BD-rate, which
    # counts both, and the caption says so
    assert table.attrs["rank_by"] == "robust BD-rate %"
    ranks = table["rank"].to_dict()
    order = table.sort_values("robust BD-rate %").index.tolist()
    assert [ranks[d] for d in order] == ["1", "2"]
    (t,) = threat_tables("b", wide, [TM], DIRECTIONS).values()
    assert t.caption.startswith("Defenses ranked by robust BD-rate %")
    assert "12 images" in t.caption and "95 % bootstrap" in t.caption


def test_intervals_shrink_with_more_images_and_repeat_exactly() -> None:
    small = robust.threat_table(synthetic(8), TM, DIRECTIONS).set_index("defense").loc["none"]
    large = robust.threat_table(synthetic(64), TM, DIRECTIONS).set_index("defense").loc["none"]
    width = lambda r: r["rate × clean hi"] - r["rate × clean lo"]  # noqa: E731
    assert width(large) < width(small)
    again = robust.threat_table(synthetic(8), TM, DIRECTIONS).set_index("defense").loc["none"]
    assert again["rate × clean lo"] == small["rate × clean lo"]  # a fixed bootstrap seed
    w = boot_weights(5)
    assert w.shape == (400, 5) and (w.sum(axis=1) == 5).all()
    assert np.isnan(interval([np.nan] * 20)[0]) and np.isnan(mean_interval([1.0])[0])


def test_terminal_tables_fit_120_columns_show_dashes_and_merge_intervals() -> None:
    frame = robust.threat_table(synthetic(), TM, DIRECTIONS)
    frame.loc[0, "clean BD-rate %"] = np.nan
    frame.loc[1, "robust BD-rate %"] = np.inf
    long = Table(frame.assign(defense="a-very-long-defense-label-" * 3), "caption " * 40)
    text = render({"b / d / c / threat model rate (eps 4/255)": long}, DIRECTIONS, "md")
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "nan" not in text and "inf" not in text and "—" in text
    assert "±" in text
    wide = render({"t": long}, DIRECTIONS, "md", wide=True)
    assert "by attack" in wide and max(len(line) for line in wide.splitlines()) > 120
    cols = shown(long).columns
    assert "rate × clean lo" not in cols and "wins" not in cols


def test_renderers_escape_labels_and_neutralise_formulas() -> None:
    evil = "<script>alert(1)</script>"
    frame = pd.DataFrame({"label": [evil, "=HYPERLINK(1)", "+1", "@x"], "bpp": [0.1] * 4})
    tables = {f"t {evil}": Table(frame, f"caption {evil}")}
    page = render(tables, DIRECTIONS, "html")
    assert "<script>" not in page and "&lt;script&gt;" in page
    csv = render(tables, DIRECTIONS, "csv")
    assert "\n=HYPERLINK" not in csv and "'=HYPERLINK(1)" in csv and "'+1" in csv
    assert "'@x" in csv
    doc = json.loads(render(tables, DIRECTIONS, "json"))
    assert doc[f"t {evil}"]["rows"][0]["label"] == evil  # JSON keeps the data as it is
    md = render({"t": Table(frame.assign(label="a | b\nc <b>"), "c")}, DIRECTIONS, "md")
    assert "a \\| b c &lt;b>" in md and all(
        line.count("|") - line.count("\\|") == 3 for line in md.splitlines() if "a \\|" in line
    )


def test_plots_draw_any_label_as_text(tmp_path: Path) -> None:
    from licbench.leaderboard.plots import rd_plot

    rows = [{"benchmark": "b", "dataset": "d", "label": "<script>$\\frac{1}{0}$", "attack": "none",
             "defense": "none", "quality": q, "bpp": q / 10, "psnr": 30 + q, "image": "x",
             "learned": True} for q in (1.0, 2.0)]  # fmt: skip
    frame = pd.DataFrame(rows)
    (svg,) = rd_plot(frame, frame, tmp_path, fmt="svg")
    text = svg.read_text()
    assert "<script>" not in text and "frac" in text


def _v1_database(path: Path) -> None:
    """A schema 1 database as licbench 0.1 wrote it: a run, an audit, an import, a
    verification pseudo-run, a backdoor pair, an adversarial and a clean cell."""
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE licbench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO licbench_meta VALUES ('schema_version', '1');
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, benchmark TEXT NOT NULL,
            manifest_path TEXT, manifest TEXT, versions TEXT, started_at DATETIME,
            finished_at DATETIME, status TEXT);
        CREATE TABLE cells (key TEXT PRIMARY KEY, run_id INTEGER, benchmark TEXT,
            dataset TEXT, codec TEXT, label TEXT, family TEXT, learned BOOLEAN, quality FLOAT,
            attack TEXT, defense TEXT, status TEXT NOT NULL, n_images INTEGER, seconds FLOAT,
            codec_seconds FLOAT, metric_seconds FLOAT, config TEXT, versions TEXT,
            fingerprints TEXT, error TEXT, finished_at DATETIME);
        CREATE TABLE scores (cell_key TEXT REFERENCES cells(key), image TEXT, metric TEXT,
            value FLOAT, PRIMARY KEY (cell_key, image, metric)) WITHOUT ROWID;
        CREATE TABLE metrics (name TEXT PRIMARY KEY, higher_is_better BOOLEAN NOT NULL,
            unit TEXT);
        INSERT INTO metrics VALUES ('bpp', 0, 'bit/px'), ('psnr', 1, 'dB');
        """
    )
    tm = {"threat_models": [{"name": "r", "goal": "rate", "attacks": ["pgd"]}]}
    runs = [
        ("bd", "finished", {"host": "h", "pid": "12", "torch": "2"}, tm),
        ("bd-audit", "finished", {"host": "h", "pid": "13"}, {}),
        (
            "bd",
            "imported",
            {"imported_from": "s.zip", "bundle_sha256": "ab", "exported_with": {"torch": "1"}},
            {},
        ),  # fmt: skip
        (
            "bd",
            "verified",
            {
                "verified": "s.zip",
                "bundle_sha256": "ab",
                "seed": "7",
                "result": json.dumps([{"compared": 4, "agree": 4}]),
            },
            {},
        ),  # fmt: skip
    ]
    for bench, status, versions, manifest in runs:
        con.execute(
            "INSERT INTO runs (benchmark, manifest, versions, status) VALUES (?, ?, ?, ?)",
            (bench, json.dumps(manifest), json.dumps(versions), status),
        )
    for i, attack in enumerate(["none", "pgd", "x/clean", "x/poisoned"]):
        con.execute(
            "INSERT INTO cells (key, run_id, benchmark, dataset, codec, label, family, learned,"
            " quality, attack, defense, status, n_images, fingerprints) VALUES"
            " (?, 1, 'bd', 'd', 'c', 'c', 'c', 1, 4, ?, 'none', 'done', 2, '{}')",
            (f"k{i}", attack),
        )
        for image in ("a", "b"):
            for metric, value in (("bpp", 0.1 * (i + 1)), ("psnr", 30.0 - i)):
                con.execute(
                    "INSERT INTO scores VALUES (?, ?, ?, ?)", (f"k{i}", image, metric, value)
                )
    con.commit()
    con.close()


def test_schema_1_migrates_to_2_losing_nothing(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _v1_database(path)
    query = "SELECT cell_key, image, metric, value FROM scores ORDER BY 1, 2, 3"
    before = sqlite3.connect(path).execute(query).fetchall()
    store = ResultStore(str(path), create=False)  # opening migrates, in one transaction
    after = sqlite3.connect(path).execute(query).fetchall()
    assert after == before and len(after) == 16  # every score, equal
    runs = store.frame("runs").set_index("id")
    assert list(runs.kind) == ["run", "audit", "import"]  # the pseudo-run moved out
    assert runs.loc[1, "host"] == "h" and runs.loc[1, "pid"] == 12
    assert json.loads(runs.loc[1, "versions"]) == {"torch": "2"}
    assert json.loads(runs.loc[1, "threat_models"])[0]["name"] == "r"
    assert runs.loc[2, "audit_of"] == "bd"
    assert (runs.loc[3, "source"], runs.loc[3, "bundle_sha256"]) == ("s.zip", "ab")
    assert json.loads(runs.loc[3, "versions"]) == {"torch": "1"}
    (v,) = store.frame("verifications").itertuples()
    assert (v.bundle_sha256, v.seed, v.compared, v.agree, v.status) == ("ab", "7", 4, 4, "verified")
    cells = store.frame("cells").set_index("key")
    assert list(cells.kind) == ["clean", "adversarial", "backdoor", "backdoor"]
    assert list(cells.variant[2:]) == ["clean", "poisoned"] and set(cells.backdoor[2:]) == {"x"}
    assert not cells.partial.any()
    results = Results(store)  # and the tables read it
    assert results.threat_models("bd")[0]["name"] == "r"
    assert "bd / d / c / backdoors" in results.tables("bd")
    assert ResultStore(str(path), create=False).frame("runs").shape == store.frame("runs").shape
