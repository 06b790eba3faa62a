"""licbench: a benchmark platform for attacks on and defenses of learned image compression.

Two calls, after RobustBench's ``load_model`` / ``benchmark`` pair::

    import licbench
    licbench.plan("benchmarks/quickstart.yaml", db="my.db")       # cells, states, estimates
    licbench.run("benchmarks/quickstart.yaml", db="my.db")        # run a manifest
    tables = licbench.results("my.db").tables("quickstart")      # every table of it

Each call reads the environment (LICBENCH_DATA, LICBENCH_CACHE, LICBENCH_RESULTS, ...)
once, unless it is given ``settings`` (:class:`licbench.settings.Settings`). Plugin authors
need ``from licbench import hookimpl`` and the contracts in ``licbench.api``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from licbench.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from licbench.leaderboard.view import Results
    from licbench.published import Published
    from licbench.settings import Settings

try:
    __version__ = version("licbench")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0+unknown"


def run(
    manifest: str | Path,
    db: str | None = None,
    *,
    device: str | None = None,
    limit_images: int | None = None,
    progress: bool = False,
    attack_batch: int | None = None,
    settings: Settings | None = None,
) -> Any:
    """Run every cell of ``manifest`` that ``db`` lacks (default: the user's own results
    database) and return the run's summary (cells run, stored, failed); ``attack_batch``:
    images per call of an attack that batches (default: 1 on the CPU, 8 on CUDA)."""
    from licbench.bench.checker import load_manifest
    from licbench.bench.run import Runner
    from licbench.bench.store import open_store
    from licbench.plugin.manager import load_registry

    reg = load_registry(settings)
    runner = Runner(
        load_manifest(Path(manifest), reg),
        open_store(db, reg.settings),
        registry=reg,
        device=device,
        limit_images=limit_images,
        manifest_path=str(manifest),
        progress=progress,
        attack_batch=attack_batch,
    )
    return runner.run()


def plan(
    manifest: str | Path,
    db: str | None = None,
    *,
    audit: bool = False,
    device: str | None = None,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """What ``licbench run --dry-run --json`` lists (of ``licbench audit`` with ``audit``):
    each cell's state against ``db`` (default: the user's own results database; a missing
    one is read as empty and not created), key, description and estimated seconds, for
    cells run on ``device`` (default: the manifest's)."""
    from licbench.bench.checker import load_manifest
    from licbench.bench.estimate import describe_plan
    from licbench.bench.run import Runner
    from licbench.bench.store import exists, open_store
    from licbench.plugin.manager import load_registry

    reg = load_registry(settings)
    m = load_manifest(Path(manifest), reg)
    if audit:
        from licbench.bench.audit import AuditConfig, audit_manifest

        m = audit_manifest(m, AuditConfig(), Path(manifest), reg)
    url = db or reg.settings.results
    store = open_store(url if exists(url) else "sqlite://", reg.settings)
    runner = Runner(
        m, store, registry=reg, device=device, manifest_path=str(manifest), progress=False
    )
    return describe_plan(runner.plan(offline=True), runner.estimate)


def results(
    db: str | None = None,
    *,
    partial: bool = False,
    published: str | Path | None = None,
    settings: Settings | None = None,
) -> Results:
    """The stored results as tables (:class:`licbench.leaderboard.view.Results`): of ``db``,
    or, without one, the user's results before the shipped reference results; with
    ``published`` (a folder of published Kodak curves), the state-of-the-art anchors join
    the BD-rate tables of full-size Kodak."""
    from licbench.leaderboard.view import open_results
    from licbench.paths import reference_db_url
    from licbench.settings import Settings

    settings = settings or Settings.from_env()
    curves = _published(published, settings)
    user = None if db else settings.results
    return open_results(db, user=user, reference=reference_db_url(), partial=partial,
                        published=curves)  # fmt: skip


def _published(folder: str | Path | None, settings: Settings) -> Published | None:
    """The published curves in ``folder``, on the dataset in the ``published-curves`` role."""
    if folder is None:
        return None
    from licbench.plugin.manager import load_registry
    from licbench.published import Published

    dataset = load_registry(settings).role("dataset", "published-curves").name
    return Published(Path(folder), dataset)


__all__ = ["__version__", "hookimpl", "plan", "results", "run"]
