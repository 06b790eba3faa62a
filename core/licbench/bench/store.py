"""The results database (SQLAlchemy Core: SQLite by default, any URL works).

Every cell is written in one transaction together with its per-image scores, so an
interrupted run leaves whole cells or nothing, and a re-run finds each finished cell once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError

from licbench.bench.schema import (
    SCHEMA_VERSION,
    cells_t,
    md,
    meta_t,
    metrics_t,
    runs_t,
    scores_t,
    verifications_t,
)
from licbench.errors import LicbenchError
from licbench.settings import Settings


def normalize_url(url: str) -> str:
    """A SQLAlchemy URL; a bare path means SQLite, and ``postgresql://`` means psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url.removeprefix(plain)
    return url


def _engine(url: str) -> sa.Engine:
    """An engine; a missing database driver is a one-line error naming the extra."""
    args = {"timeout": 10} if url.startswith("sqlite") else {}
    try:
        return sa.create_engine(url, connect_args=args, pool_pre_ping=not args)
    except ModuleNotFoundError as exc:
        extra = "postgres" if url.startswith("postgres") else None
        fix = f"pip install 'licbench[{extra}]'" if extra else f"pip install {exc.name}"
        raise LicbenchError(
            f"{_shown(url)}: the database driver {exc.name!r} is not installed; {fix}"
        ) from None
    except sa.exc.ArgumentError as exc:
        raise LicbenchError(f"{url}: not a database URL ({exc}); pass a path or a URL") from None


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    url = normalize_url(url)
    if not url.startswith("sqlite:///") or url == "sqlite://":
        return None
    return Path(url.removeprefix("sqlite:///"))


def exists(url: str) -> bool:
    """Whether a database is there to read (any non-file URL is assumed to be)."""
    path = sqlite_path(url)
    return path is None or path.is_file()


def open_store(db: str | None, settings: Settings, create: bool = True) -> ResultStore:
    """The store of ``db``, else the user's own results database (``settings.results``; its
    folder is made when writing to it; a ``db`` the user names must be in a folder that
    exists)."""
    url = db or settings.results
    path = sqlite_path(url)
    if create and db is None and path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return ResultStore(url, create=create)


def _transactional_ddl(engine: sa.Engine, write: bool) -> None:
    """pysqlite runs CREATE TABLE outside any transaction; emit BEGIN ourselves, so that
    creating the schema is all or nothing (SQLAlchemy's documented recipe). A writer takes
    the write lock at BEGIN (IMMEDIATE): two writers then wait for each other (busy
    timeout) instead of one failing on a lock upgrade."""

    @sa.event.listens_for(engine, "connect")
    def _no_implicit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _alive(pid: int) -> bool:
    """Whether a process of this host is still running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _run_row(
    benchmark: str, manifest_path: str, manifest: Any, versions: dict[str, Any], **typed: Any
) -> dict[str, Any]:
    """A ``runs`` row: the manifest and versions as JSON, the process that writes it, the
    manifest's threat models and leaderboard settings; ``typed`` sets other run columns."""
    unknown = set(typed) - set(runs_t.c.keys())
    if unknown:
        raise TypeError(f"not a run column: {sorted(unknown)}")
    given = manifest if isinstance(manifest, dict) else {}
    return {
        "benchmark": benchmark,
        "manifest_path": manifest_path,
        "status": "running",
        "manifest": json.dumps(manifest, sort_keys=True),
        "started_at": _now(),
        "versions": json.dumps(versions, sort_keys=True),
        "kind": "run",
        "partial": False,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "threat_models": json.dumps(given.get("threat_models", []), sort_keys=True),
        "leaderboard": json.dumps(given.get("leaderboard", {}), sort_keys=True),
        **typed,
    }


class ResultStore:
    """Open (creating if new) a results database and check its schema version."""

    def __init__(self, url: str, create: bool = True) -> None:
        url = normalize_url(url)
        self.url = _shown(url)
        path = sqlite_path(url)
        if not create and path is not None and not path.is_file():
            raise LicbenchError(
                f"{path}: no results database there; run `licbench run MANIFEST --db {path}` "
                "first, or pass the --db that holds the results"
            )
        self.engine = _engine(url)
        if url.startswith("sqlite"):
            _transactional_ddl(self.engine, write=create)
        with self._guard("open"):
            self._init_schema()

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Turn database errors into one-line errors; the transaction is already rolled back."""
        try:
            yield
        except OperationalError as exc:
            if "locked" not in str(exc).lower():
                raise self._db_error(what, exc) from exc
            raise LicbenchError(
                f"{self.url}: database is locked by another process; wait for it or pass "
                f"another --db (this {what} was rolled back; what was stored before is kept)"
            ) from exc
        except DatabaseError as exc:
            raise self._db_error(what, exc) from exc

    def _db_error(self, what: str, exc: DatabaseError) -> LicbenchError:
        first = str(exc.orig or exc).splitlines()[0][:120]
        return LicbenchError(
            f"{self.url}: cannot {what} results database ({first}); pass another --db or "
            "repair the file (it was left untouched)"
        )

    def _init_schema(self) -> None:
        """Check the schema, or create it in one transaction. Two processes creating one
        new database both succeed (the loser of the race retries and finds it made), and a
        file whose creation was killed half-way is completed."""
        for attempt in range(6):
            try:
                with self.engine.begin() as conn:
                    self._check_or_create(conn)
                return
            except OperationalError as exc:
                busy = any(w in str(exc).lower() for w in ("locked", "busy", "already exists"))
                if not busy or attempt == 5:
                    raise
            except IntegrityError:  # the other process inserted the version row first
                if attempt == 5:
                    raise
            time.sleep(0.05 * 2**attempt)

    def _check_or_create(self, conn: sa.Connection) -> None:
        if conn.dialect.name == "postgresql":  # one creator at a time (SQLite: BEGIN locks)
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(4823145)"))
        tables = set(sa.inspect(conn).get_table_names())
        if tables - set(md.tables):
            raise LicbenchError(
                f"{self.url}: not a licbench results database (tables {sorted(tables)[:4]}); "
                "pass another --db"
            )
        row = None
        if "licbench_meta" in tables:
            row = conn.execute(
                sa.select(meta_t.c.value).where(meta_t.c.key == "schema_version")
            ).first()
        if row is None:  # new, or left half-made by a killed first run: complete it
            md.create_all(conn, checkfirst=True)
            conn.execute(meta_t.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            return
        found = str(row[0])
        if found == "1":  # in this transaction: all of it, or the file as it was
            from licbench.bench.migrate import migrate_1_to_2

            migrate_1_to_2(conn, md)
            conn.execute(meta_t.update().where(meta_t.c.key == "schema_version").values(value="2"))
            return
        if found != str(SCHEMA_VERSION):
            raise LicbenchError(
                f"{self.url}: results schema version {found}, this licbench uses "
                f"{SCHEMA_VERSION}; pass a new --db or use the licbench that wrote it "
                "(the file was left untouched)"
            )

    # --- writes (each one transaction) ---------------------------------------------------

    def start_run(
        self,
        benchmark: str,
        manifest_path: str,
        manifest: dict[str, Any],
        versions: dict[str, str],
        **typed: Any,
    ) -> int:
        """A new run row, with the process that runs it; ``typed``: schema 2's run columns
        (kind, audit_of, partial, source, bundle_sha256, code_commit). Runs that a dead
        process on this host left ``running`` become ``interrupted``."""
        row = _run_row(benchmark, manifest_path, manifest, versions, **typed)
        with self._guard("write to"), self.engine.begin() as conn:
            self._mark_interrupted(conn)
            key = conn.execute(runs_t.insert().values(**row)).inserted_primary_key
            assert key is not None
            return int(key[0])

    def _mark_interrupted(self, conn: sa.Connection) -> None:
        rows = conn.execute(
            sa.select(runs_t.c.id, runs_t.c.pid).where(
                (runs_t.c.status == "running") & (runs_t.c.host == socket.gethostname())
            )
        )
        for run_id, pid in rows.fetchall():
            if pid and not _alive(int(pid)):
                conn.execute(
                    runs_t.update().where(runs_t.c.id == run_id).values(status="interrupted")
                )

    def finish_run(self, run_id: int, status: str) -> None:
        with self._guard("write to"), self.engine.begin() as conn:
            conn.execute(
                runs_t.update()
                .where(runs_t.c.id == run_id)
                .values(status=status, finished_at=_now())
            )

    def record_metrics(self, metrics: Iterable[tuple[str, bool, str]]) -> None:
        """Store each metric's direction and unit (replacing what the name had), in one
        transaction; a concurrent writer inserting the same name first makes it retry."""
        rows = list(metrics)
        with self._guard("write to"):
            for attempt in range(3):
                try:
                    with self.engine.begin() as conn:
                        for name, higher, unit in rows:
                            conn.execute(metrics_t.delete().where(metrics_t.c.name == name))
                            conn.execute(
                                metrics_t.insert().values(
                                    name=name, higher_is_better=higher, unit=unit
                                )
                            )
                    return
                except IntegrityError:  # two drivers of one new database: look again
                    if attempt == 2:
                        raise

    def record_cell(self, cell: dict[str, Any], scores: list[tuple[str, str, float]]) -> bool:
        """Store ``cell`` and its scores atomically, unless the key is already stored done
        (by this run or another writer): then nothing changes. An earlier failed row of
        the key is replaced. Whether this call stored the cell."""
        row = {**cell, "finished_at": _now()}
        for k in ("config", "versions", "fingerprints"):
            if not isinstance(row.get(k), str):
                row[k] = json.dumps(row.get(k), sort_keys=True, default=str)
        with self._guard("write to"):
            for attempt in range(3):
                try:
                    with self.engine.begin() as conn:
                        return self._replace(conn, row, scores)
                except IntegrityError:  # another writer inserted the key first: look again
                    if attempt == 2:
                        raise
        return False

    def _replace(
        self, conn: sa.Connection, row: dict[str, Any], scores: list[tuple[str, str, float]]
    ) -> bool:
        key = row["key"]
        found = conn.execute(sa.select(cells_t.c.status).where(cells_t.c.key == key)).first()
        if found is not None and found[0] == "done":
            return False
        conn.execute(scores_t.delete().where(scores_t.c.cell_key == key))
        conn.execute(cells_t.delete().where(cells_t.c.key == key))
        conn.execute(cells_t.insert().values(**row))
        if scores:
            rows = [{"cell_key": key, "image": i, "metric": m, "value": v} for i, m, v in scores]
            conn.execute(scores_t.insert(), rows)
        return True

    def forget(self, benchmark: str, keep: set[str]) -> int:
        """Delete ``benchmark``'s cells (and scores) whose keys are not in ``keep``, in one
        transaction: the rows its manifest no longer plans. How many went."""
        with self._guard("write to"), self.engine.begin() as conn:
            mine = conn.execute(sa.select(cells_t.c.key).where(cells_t.c.benchmark == benchmark))
            gone = [k for (k,) in mine if k not in keep]
            for part in (gone[i : i + 500] for i in range(0, len(gone), 500)):
                conn.execute(scores_t.delete().where(scores_t.c.cell_key.in_(part)))
                conn.execute(cells_t.delete().where(cells_t.c.key.in_(part)))
        return len(gone)

    def import_cells(
        self,
        run: dict[str, Any],  # _run_row's arguments
        cells: list[dict[str, Any]],
        scores: dict[str, list[tuple[str, str, float]]],
        metrics: list[tuple[str, bool, str | None]],
    ) -> int:
        """Store an imported submission in one transaction (all of it, or nothing): its
        run, its cells not stored already, their scores, and the metrics this database
        does not define yet (an import never changes a local definition). Cells added."""
        now = _now()  # a submission's threat models are not taken from its file
        run = _run_row(**run, status="imported", finished_at=now, threat_models="[]",
                       leaderboard="{}")  # fmt: skip
        with self._guard("import into"), self.engine.begin() as conn:
            have = {r[0] for r in conn.execute(sa.select(metrics_t.c.name))}
            new = [m for m in dict((m[0], m) for m in metrics).values() if m[0] not in have]
            if new:
                conn.execute(metrics_t.insert(), [
                    {"name": n, "higher_is_better": h, "unit": u} for n, h, u in new
                ])  # fmt: skip
            inserted = conn.execute(runs_t.insert().values(**run)).inserted_primary_key
            assert inserted is not None
            run_id = inserted[0]
            keys = [c["key"] for c in cells]
            found = sa.select(cells_t.c.key).where(cells_t.c.key.in_(keys))
            stored = {r[0] for r in conn.execute(found)} if keys else set()
            fresh = [c for c in cells if c["key"] not in stored]
            if fresh:
                conn.execute(cells_t.insert(), [{**c, "run_id": run_id, "finished_at": now}
                                                for c in fresh])  # fmt: skip
                rows = [{"cell_key": c["key"], "image": i, "metric": m, "value": v}
                        for c in fresh for i, m, v in scores[c["key"]]]  # fmt: skip
                if rows:
                    conn.execute(scores_t.insert(), rows)
            return len(fresh)

    def record_verification(self, row: dict[str, Any]) -> int:
        """Store one ``licbench verify`` result (a row of ``verifications``)."""
        row = {**row, "verified_at": _now()}
        with self._guard("write to"), self.engine.begin() as conn:
            key = conn.execute(verifications_t.insert().values(**row)).inserted_primary_key
            assert key is not None
            return int(key[0])

    # --- reads -----------------------------------------------------------------------------

    def failed_cells(self) -> dict[str, str]:
        """The keys stored as failed, with their one-line errors."""
        with self._guard("read"), self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(cells_t.c.key, cells_t.c.error).where(cells_t.c.status == "failed")
            )
            return {k: str(e or "").splitlines()[0] if e else "" for k, e in rows}

    def cell(self, prefix: str) -> dict[str, Any] | None:
        """The stored cell whose key starts with ``prefix`` (None: none or several)."""
        with self._guard("read"), self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(cells_t).where(cells_t.c.key.startswith(prefix, autoescape=True))
                )
                .mappings()
                .fetchmany(2)
            )
            return dict(rows[0]) if len(rows) == 1 else None

    def done_keys(self) -> set[str]:
        with self._guard("read"), self.engine.connect() as conn:
            rows = conn.execute(sa.select(cells_t.c.key).where(cells_t.c.status == "done"))
            return {r[0] for r in rows}

    def frame(self, table: str) -> pd.DataFrame:
        with self._guard("read"), self.engine.connect() as conn:
            return pd.read_sql_table(table, conn)
