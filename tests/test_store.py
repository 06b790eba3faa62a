from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from licbench.bench.store import ResultStore
from licbench.errors import LicbenchError


def cell(key: str, status: str = "done") -> dict:
    return {
        "key": key,
        "benchmark": "b",
        "dataset": "d",
        "codec": "c",
        "label": "c",
        "family": "c",
        "learned": False,
        "quality": 1.0,
        "attack": "none",
        "defense": "none",
        "status": status,
        "config": {},
        "versions": {},
        "fingerprints": {},
    }


def test_cell_and_scores_are_written_together_and_replaced(tmp_path: Path) -> None:
    store = ResultStore(str(tmp_path / "r.db"))
    store.record_cell(cell("k1", "failed"), [])
    store.record_cell(cell("k1"), [("img", "psnr", 30.0), ("img", "bpp", 0.5)])
    cells, scores = store.frame("cells"), store.frame("scores")
    assert list(cells.key) == ["k1"] and cells.status[0] == "done"
    assert sorted(scores.metric) == ["bpp", "psnr"]
    assert store.done_keys() == {"k1"}


def test_failed_write_keeps_what_was_stored(tmp_path: Path) -> None:
    store = ResultStore(str(tmp_path / "r.db"))
    store.record_cell(cell("k1"), [("img", "psnr", 30.0)])
    with pytest.raises(LicbenchError, match="UNIQUE constraint"):  # duplicate key, one txn
        store.record_cell(cell("k2"), [("img", "psnr", 1.0), ("img", "psnr", 2.0)])
    assert store.done_keys() == {"k1"} and len(store.frame("scores")) == 1


def test_locked_database_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = ResultStore(str(path))
    store.record_cell(cell("k1"), [("img", "psnr", 30.0)])
    store.engine.dispose()
    locker = sqlite3.connect(path)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        slow = ResultStore.__new__(ResultStore)
        import sqlalchemy as sa

        slow.url = f"sqlite:///{path}"
        slow.engine = sa.create_engine(slow.url, connect_args={"timeout": 0.2})
        with pytest.raises(LicbenchError, match="database is locked by another process") as e:
            slow.record_cell(cell("k2"), [])
        assert "\n" not in str(e.value)
    finally:
        locker.rollback()
        locker.close()
    assert ResultStore(str(path)).done_keys() == {"k1"}


def test_older_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE licbench_meta (key TEXT PRIMARY KEY, value TEXT)")
    con.execute("INSERT INTO licbench_meta VALUES ('schema_version', '0')")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(LicbenchError, match="schema version 0, this licbench uses 2"):
        ResultStore(str(path))
    assert path.read_bytes() == before


def test_foreign_database_and_garbage_file(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(LicbenchError, match="not a licbench results database"):
        ResultStore(str(other))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(LicbenchError, match="junk.db: cannot open results database"):
        ResultStore(str(junk))
    assert junk.read_bytes() == b"this is not sqlite at all" * 100


def test_sqlite_scores_are_stored_once_without_a_rowid_index(tmp_path: Path) -> None:
    """The scores' primary key is the row itself: no second copy of every key in an index."""
    import sqlite3

    ResultStore(str(tmp_path / "r.db"))
    con = sqlite3.connect(tmp_path / "r.db")
    (sql,) = con.execute("select sql from sqlite_master where name = 'scores'").fetchone()
    assert "WITHOUT ROWID" in sql
    assert not con.execute(
        "select 1 from sqlite_master where tbl_name = 'scores' and type = 'index'"
    ).fetchall()


@pytest.mark.slow
def test_two_processes_create_one_new_database(tmp_path: Path) -> None:
    """Schema creation is race-free: both openers of one new file succeed, every time."""
    import subprocess
    import sys

    code = "import sys; from licbench.bench.store import ResultStore; ResultStore(sys.argv[1])"
    for i in range(4):
        db = tmp_path / f"race{i}.db"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(db)]) for _ in range(2)]
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
        assert ResultStore(str(db)).done_keys() == set()


def test_a_half_created_database_is_completed(tmp_path: Path) -> None:
    """A first run killed between CREATE TABLEs left some tables and no version row."""
    db = tmp_path / "half.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE licbench_meta (key VARCHAR(64) PRIMARY KEY, value TEXT)")
    store = ResultStore(str(db))
    assert store.done_keys() == set() and "scores" in sa.inspect(store.engine).get_table_names()


def test_an_odd_schema_version_is_a_one_line_error(tmp_path: Path) -> None:
    db = tmp_path / "odd.db"
    ResultStore(str(db))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE licbench_meta SET value = 'abc' WHERE key = 'schema_version'")
    before = db.read_bytes()
    with pytest.raises(LicbenchError, match="schema version abc, this licbench uses 2"):
        ResultStore(str(db))
    assert db.read_bytes() == before
