"""PostgreSQL as a first-class results store: a real server, started by the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from licbench.bench.checker import load_manifest
from licbench.bench.run import Runner
from licbench.bench.store import ResultStore, normalize_url
from licbench.errors import LicbenchError
from licbench.plugin.manager import load_registry

MANIFEST = """\
name: pg
datasets: [{name: samples, limit: 2, crop: 64}]
codecs: [{name: jpeg, qualities: [20, 40, 60, 80]}]
defenses: [{name: gaussian-blur, params: {sigma: 1.0}}]
metrics: [bpp, psnr]
"""


def scores_of(store: ResultStore) -> list[tuple[str, str, str, float]]:
    df = store.frame("scores").merge(store.frame("cells"), left_on="cell_key", right_on="key")
    rows = df[["cell_key", "image", "metric", "value"]].itertuples(index=False)
    return sorted((str(k), str(i), str(m), float(v)) for k, i, m, v in rows)


def run_cli(manifest: Path, db: str, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "licbench.cli", "run", str(manifest), "--db", db]
    return subprocess.Popen([*cmd, "--no-progress", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


@pytest.mark.slow
def test_plain_postgresql_url_runs_and_equals_sqlite(pg, tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST)
    m = load_manifest(path, load_registry())
    url = pg.database()
    assert url.startswith("postgresql://") and "+psycopg" in normalize_url(url)
    on_pg, on_sqlite = ResultStore(url), ResultStore(str(tmp_path / "r.db"))
    for store in (on_pg, on_sqlite):
        summary = Runner(m, store, device="cpu", progress=False, registry=load_registry()).run()
        assert (summary.done, summary.failed) == (8, 0)
    assert scores_of(on_pg) == scores_of(on_sqlite)
    again = Runner(
        m, ResultStore(url), device="cpu", progress=False, registry=load_registry()
    ).run()
    assert (again.done, again.skipped) == (0, 8)
    out = subprocess.run(
        [sys.executable, "-m", "licbench.cli", "leaderboard", "--db", url, "--benchmark", "pg"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "jpeg" in out.stdout


def test_postgresql_holds_what_sqlite_holds(pg) -> None:
    store = ResultStore(pg.database())
    long_name = "dir/" * 100 + "image"  # 504 characters: a varchar(300) would refuse it
    row = {"key": "k" * 64, "run_id": 1, "benchmark": "b" * 400, "status": "done"}
    assert store.record_cell(row, [(long_name, "psnr", 31.5)])
    assert not store.record_cell(row, [(long_name, "psnr", 99.0)])  # stored once: kept
    scores = store.frame("scores")
    assert list(scores.image) == [long_name] and list(scores.value) == [31.5]


def test_missing_driver_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    with pytest.raises(LicbenchError, match=r"not installed; pip install 'licbench\[postgres\]'"):
        ResultStore("postgresql://someone:secret@127.0.0.1:1/x")
    try:
        ResultStore("postgresql://someone:secret@127.0.0.1:1/x")
    except LicbenchError as exc:
        assert "secret" not in str(exc) and "\n" not in str(exc)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_two_drivers_on_one_new_database_both_finish(backend: str, pg, tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST)
    url = pg.database() if backend == "postgresql" else str(tmp_path / "r.db")
    procs = [run_cli(path, url) for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert "8 cells" in out
    store = ResultStore(url)
    cells = store.frame("cells")
    assert len(cells) == 8 and cells.key.is_unique and set(cells.status) == {"done"}
    scores = store.frame("scores")
    assert len(scores) == 8 * 2 * 2 and not scores.duplicated(["cell_key", "image", "metric"]).any()
