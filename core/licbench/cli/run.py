"""Commands of the benchmark pipeline: plugins, validate, prepare, run, leaderboard."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from licbench.plugin.hookspecs import KINDS

DEVICES = ["auto", "cpu", "cuda"]


def cmd_plugins(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from licbench.errors import LicbenchError
    from licbench.plugin.manager import get_registry
    from licbench.plugin.params import schema_rows

    reg = get_registry()
    if args.params:
        entries = [e for e in reg.find(args.params) if not args.kind or e.kind == args.kind]
        if not entries:
            hint = next((h for k in reg.kinds if (h := reg.suggest(k, args.params))), None)
            fix = f"did you mean '{hint}'?" if hint else "run `licbench plugins` to list them"
            raise LicbenchError(f"no plugin '{args.params}'; {fix}")
        for e in entries:
            print(f"{e.kind} '{e.name}' ({e.dist} {e.version}): {_first_line(e.description)}")
            rows = schema_rows(e.params_model)
            headers = ["parameter", "type", "default", "description"]
            print(tabulate(rows, headers=headers, tablefmt="github") if rows else "(no parameters)")
        return 0
    rows = [
        (e.kind, e.name, f"{e.dist} {e.version}".strip(), _first_line(e.description)[:70])
        for e in reg.entries(args.kind)
    ]
    print(tabulate(rows, headers=["kind", "name", "provided by", "description"]))
    return 0


def _first_line(text: str) -> str:
    return (text or "").strip().split("\n")[0]


def cmd_validate(args: argparse.Namespace) -> int:
    from licbench.bench.manifest import load_manifest
    from licbench.bench.prepare import expand

    m = load_manifest(args.manifest)
    print(f"{args.manifest}: valid manifest '{m.name}', {len(expand(m))} cells")
    return 0


def _runner(args: argparse.Namespace, progress: bool = False) -> Any:
    from licbench.bench.manifest import load_manifest
    from licbench.bench.runner import Runner
    from licbench.bench.store import ResultStore
    from licbench.paths import default_db_url

    manifest = load_manifest(args.manifest)
    store = ResultStore(args.db or default_db_url())
    return Runner(
        manifest,
        store,
        device=args.device,
        limit_images=getattr(args, "limit_images", None),
        manifest_path=str(args.manifest),
        progress=progress,
    )


def cmd_run(args: argparse.Namespace) -> int:
    runner = _runner(args, progress=not args.no_progress)
    if args.dry_run:
        return _dry_run(runner, args.json)
    s = runner.run()
    print(
        f"{runner.m.name}: {s.total} cells: {s.done} run, {s.skipped} already stored, "
        f"{s.failed} failed -> {runner.store.url}"
    )
    for f in s.failures:
        print(f"  failed: {f} (traceback stored in the cells table)")
    return 1 if s.failed else 0


def _dry_run(runner: Any, as_json: bool) -> int:
    from tabulate import tabulate

    from licbench.bench.runner import describe

    planned = runner.plan()
    rows = [
        {
            "state": p.state,
            "key": p.key,
            "cell": describe(p.cell),
            "dataset": p.cell.dataset.label or p.cell.dataset.name,
            "artifacts": {role: r.key for role, r in p.recipes.items()},
            "error": str(p.error) if p.error else None,
        }
        for p in planned
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [
        (r["state"], r["key"][:16], r["dataset"], r["cell"], " ".join(r["artifacts"].values()))
        for r in rows
    ]
    print(tabulate(table, headers=["state", "key", "dataset", "cell", "artifacts"]))
    counts = {s: sum(r["state"] == s for r in rows) for s in ("stored", "to run", "fails")}
    print(
        f"{runner.m.name}: {len(rows)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items())
    )
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Train every artifact of a manifest that the cache lacks (once each)."""
    from licbench.bench.prepare import plan, prepare
    from licbench.bench.runner import describe

    runner = _runner(args)
    planned = list(plan(runner.m, runner.registry, runner.ctx, None, set()))
    found = prepare([p for p in planned if p.error is None], runner.m, runner.registry, runner.ctx)
    status = 0
    for p in planned:
        for role, recipe in p.recipes.items():
            got = found.get(recipe.key)
            status = 1 if not isinstance(got, Path) else status
            print(f"{describe(p.cell)}: {role} artifact {recipe.key}: {got}")
    if not any(p.recipes for p in planned):
        print(f"{args.manifest}: nothing to prepare (no attack or defense trains an artifact)")
    return status


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from licbench.bench import leaderboard as lb
    from licbench.bench.store import ResultStore
    from licbench.paths import default_db_url

    store = ResultStore(args.db or default_db_url())
    means, directions, configs = lb.load_means(store)
    if args.benchmark:
        means = means[means.benchmark == args.benchmark]
    tables = {
        **lb.bd_summary(means, configs),
        **lb.family_tables(means, directions, configs, args.rank_by),
    }
    text = lb.render(tables, directions, args.format)
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text)
    if args.plot_dir:
        for path in lb.rd_plot(means, Path(args.plot_dir)):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("plugins", help="list registered plugins and who provides them")
    s.add_argument("--kind", choices=list(KINDS))
    s.add_argument("--params", metavar="NAME", help="print this plugin's parameters")
    s.set_defaults(func=cmd_plugins)

    s = sub.add_parser("validate", help="check a manifest and every plugin parameter; nothing runs")
    s.add_argument("manifest", type=Path)
    s.set_defaults(func=cmd_validate)

    for name, func, help_ in (
        ("run", cmd_run, "prepare artifacts, then run a manifest's matrix into the database"),
        ("prepare", cmd_prepare, "train every artifact (backdoor, fine-tuning) of a manifest"),
    ):
        s = sub.add_parser(name, help=help_)
        s.add_argument("manifest", type=Path)
        s.add_argument("--db", help="SQLAlchemy URL or SQLite path (default: results.db)")
        s.add_argument("--device", choices=DEVICES)
        s.add_argument("--no-progress", action="store_true")
        s.set_defaults(func=func)
        if name == "run":
            s.add_argument("--limit-images", type=int)
            s.add_argument("--dry-run", action="store_true", help="list cells, keys and states")
            s.add_argument("--json", action="store_true", help="with --dry-run: as JSON")

    s = sub.add_parser("leaderboard", help="ranked tables and an RD plot from the database")
    s.add_argument("--db")
    s.add_argument("--format", choices=["md", "csv", "json", "html"], default="md")
    s.add_argument("--benchmark", help="only this benchmark")
    s.add_argument("--rank-by", help="metric to rank by (default: the manifest's)")
    s.add_argument("--plot-dir", default=".", help="where the RD plot PNGs go ('' for none)")
    s.add_argument("--output", help="write the tables to this file")
    s.set_defaults(func=cmd_leaderboard)
