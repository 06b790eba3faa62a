"""The results schema (version 2): tables and columns, one home for both stores.

:mod:`licbench.bench.migrate` brings a schema 1 database here; docs/results.md describes
each table.
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 2
md = sa.MetaData()
RUN_KINDS = ("run", "audit", "import")
CELL_KINDS = ("clean", "adversarial", "backdoor")

meta_t = sa.Table(
    "licbench_meta",
    md,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
runs_t = sa.Table(
    "runs",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("benchmark", sa.Text, nullable=False),
    sa.Column("manifest_path", sa.Text),
    sa.Column("manifest", sa.Text),
    sa.Column("versions", sa.Text),  # {package: version}
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("status", sa.Text),
    # schema 2: provenance and what the run was, as typed columns
    sa.Column("kind", sa.Text),  # RUN_KINDS
    sa.Column("audit_of", sa.Text),  # the benchmark an audit run checks
    sa.Column("partial", sa.Boolean),  # narrowed from the command line (--limit-images)
    sa.Column("host", sa.Text),
    sa.Column("pid", sa.Integer),
    sa.Column("code_commit", sa.Text),
    sa.Column("source", sa.Text),  # an import: the bundle's file name
    sa.Column("bundle_sha256", sa.Text),
    sa.Column("threat_models", sa.Text),  # JSON, the manifest's
    sa.Column("leaderboard", sa.Text),  # JSON, the manifest's leaderboard settings
)
cells_t = sa.Table(
    "cells",
    md,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Integer),
    sa.Column("benchmark", sa.Text, index=True),
    sa.Column("dataset", sa.Text),
    sa.Column("codec", sa.Text),
    sa.Column("label", sa.Text),
    sa.Column("family", sa.Text),
    sa.Column("learned", sa.Boolean),
    sa.Column("quality", sa.Float),
    sa.Column("attack", sa.Text),
    sa.Column("defense", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("n_images", sa.Integer),
    sa.Column("seconds", sa.Float),
    sa.Column("codec_seconds", sa.Float),
    sa.Column("metric_seconds", sa.Float),
    sa.Column("config", sa.Text),
    sa.Column("versions", sa.Text),
    sa.Column("fingerprints", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("finished_at", sa.DateTime),
    # schema 2
    sa.Column("kind", sa.Text),  # CELL_KINDS: what the codec's input is
    sa.Column("partial", sa.Boolean),  # fewer images than the manifest declares
    sa.Column("backdoor", sa.Text),  # a backdoor cell: which backdoored codec (artifact key)
    sa.Column("variant", sa.Text),  # a backdoor cell: the trigger applied, or "clean"
    sa.Column("traceback", sa.Text),  # a failed cell: the plugin's own traceback
)
scores_t = sa.Table(
    "scores",
    md,
    sa.Column("cell_key", sa.Text, sa.ForeignKey("cells.key"), primary_key=True),
    sa.Column("image", sa.Text, primary_key=True),
    sa.Column("metric", sa.Text, primary_key=True),
    sa.Column("value", sa.Float),
    sqlite_with_rowid=False,  # the key is the row: no second copy of it in an index
)
verifications_t = sa.Table(
    "verifications",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("bundle_sha256", sa.Text, nullable=False, index=True),
    sa.Column("bundle", sa.Text),
    sa.Column("benchmark", sa.Text),
    sa.Column("seed", sa.Text),  # the sample's seed, to reproduce the check
    sa.Column("cells", sa.Text),  # JSON: the keys re-run (NULL: not recorded, schema 1)
    sa.Column("n_cells", sa.Integer),  # cells in the bundle
    sa.Column("agree_cells", sa.Integer),
    sa.Column("compared", sa.Integer),  # scores compared
    sa.Column("agree", sa.Integer),  # scores within tolerance
    sa.Column("status", sa.Text),  # verified | disagreed
    sa.Column("verified_at", sa.DateTime),
    sa.Column("versions", sa.Text),
)
metrics_t = sa.Table(
    "metrics",
    md,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("higher_is_better", sa.Boolean, nullable=False),
    sa.Column("unit", sa.Text),
)
