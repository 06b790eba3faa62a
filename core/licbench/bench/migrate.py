"""Results schema 1 → 2, in the transaction that opens the database; nothing is lost.

Schema 1 kept facts as conventions, which schema 2 stores as typed columns:

- a run's host, process, import source and bundle digest sat in its ``versions`` JSON;
- verifications were pseudo-runs of status ``verified``/``disagreed`` whose ``versions``
  held the result table: they move to the ``verifications`` table;
- an audit was a benchmark whose name ends in ``-audit``: its runs become kind ``audit``;
- a backdoor cell was one whose attack label holds ``/`` (``NAME/clean``, ``NAME/TRIGGER``):
  its kind becomes ``backdoor``, ``backdoor`` the label's ``NAME`` (the only identity of
  the backdoored codec schema 1 kept) and ``variant`` the part after ``/``.

Scores are not touched. Schema 1 did not record whether a run was narrowed by
``--limit-images``, so migrated cells count as complete.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

NEW_COLUMNS = {
    "runs": [
        "kind",
        "audit_of",
        "partial",
        "host",
        "pid",
        "code_commit",
        "source",
        "bundle_sha256",
        "threat_models",
        "leaderboard",
    ],
    "cells": ["kind", "partial", "backdoor", "variant", "traceback"],
}
PROVENANCE = ("host", "pid", "imported_from", "bundle_sha256", "exported_with")


def migrate_1_to_2(conn: sa.Connection, md: sa.MetaData) -> None:
    """Add schema 2's columns and table to a schema 1 database and fill them."""
    for table, names in NEW_COLUMNS.items():
        for name in names:
            col = md.tables[table].c[name]
            kind = col.type.compile(conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))
    md.tables["verifications"].create(conn)
    _runs(conn, md)
    _cells(conn, md)


def _json(text: Any) -> dict[str, Any]:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _runs(conn: sa.Connection, md: sa.MetaData) -> None:
    runs, verifications = md.tables["runs"], md.tables["verifications"]
    for r in conn.execute(sa.select(runs)).mappings().fetchall():
        info = _json(r["versions"])
        if r["status"] in ("verified", "disagreed"):
            result = json.loads(info.get("result") or "[]")
            conn.execute(
                verifications.insert().values(
                    bundle_sha256=info.get("bundle_sha256", ""),
                    bundle=info.get("verified"),
                    benchmark=r["benchmark"],
                    seed=info.get("seed"),
                    cells=None,
                    compared=sum(int(x["compared"]) for x in result),
                    agree=sum(int(x["agree"]) for x in result),
                    status=r["status"],
                    verified_at=r["finished_at"],
                    versions=json.dumps(
                        {k: v for k, v in info.items() if k not in ("result", "verified")},
                        sort_keys=True,
                    ),
                )
            )
            conn.execute(runs.delete().where(runs.c.id == r["id"]))
            continue
        manifest = _json(r["manifest"])
        bench = str(r["benchmark"])
        kind = "import" if r["status"] == "imported" else "run"
        if kind == "run" and bench.endswith("-audit"):
            kind = "audit"
        versions = {k: v for k, v in info.items() if k not in PROVENANCE}
        if kind == "import":
            versions = info.get("exported_with") or {}
        pid = str(info.get("pid", ""))
        conn.execute(
            runs.update()
            .where(runs.c.id == r["id"])
            .values(
                kind=kind,
                audit_of=bench.removesuffix("-audit") if kind == "audit" else None,
                partial=False,
                host=info.get("host"),
                pid=int(pid) if pid.isdigit() else None,
                source=info.get("imported_from"),
                bundle_sha256=info.get("bundle_sha256"),
                versions=json.dumps(versions, sort_keys=True),
                threat_models=json.dumps(manifest.get("threat_models", [])),
                leaderboard=json.dumps(manifest.get("leaderboard", {})),
            )
        )


def _cells(conn: sa.Connection, md: sa.MetaData) -> None:
    cells = md.tables["cells"]
    rows = conn.execute(sa.select(cells.c.key, cells.c.attack)).fetchall()
    for key, attack in rows:
        attack = str(attack or "none")
        values: dict[str, Any] = {"partial": False, "kind": "clean"}
        if "/" in attack:
            name, variant = attack.split("/", 1)
            values.update(kind="backdoor", backdoor=name, variant=variant)
        elif attack != "none":
            values["kind"] = "adversarial"
        conn.execute(cells.update().where(cells.c.key == key).values(**values))
