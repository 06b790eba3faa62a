"""Commands on stored results: ``leaderboard`` (tables, plots, the static site), and the
checkable submissions ``export``, ``import`` and ``verify``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from licbench.errors import LicbenchError


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from licbench.bench.store import ResultStore
    from licbench.paths import default_db_url
    from licbench.results import robust
    from licbench.results import tables as lb
    from licbench.results.audit import audit_tables
    from licbench.results.backdoor import backdoor_tables

    store = ResultStore(args.db or default_db_url(), create=False)
    given = {}
    for path in args.manifest or []:  # threat models from a file, newer than the stored runs
        from licbench.bench.manifest import load_manifest

        m = load_manifest(path)
        given[m.name] = [t.model_dump() for t in m.threat_models]
    if args.site:
        return _site(store, Path(args.site), _published(args), given)
    means, directions, configs = lb.load_means(store)
    if not args.benchmark and not args.all:
        print(tabulate(lb.index(means, store), headers="keys", tablefmt="github", showindex=False))
        print("\n--benchmark B: one benchmark's tables; --all: every benchmark's")
        return 0
    if args.benchmark:
        known = sorted(set(means.benchmark))
        if args.benchmark not in known:
            from licbench.plugin.params import nearest

            near = nearest(args.benchmark, known)
            fix = f"did you mean '{near[0]}'?" if near else f"stored: {', '.join(known) or 'none'}"
            raise LicbenchError(f"{store.url}: no benchmark '{args.benchmark}'; {fix}")
        means = means[means.benchmark == args.benchmark]
    models = {b: m.get("threat_models", []) for b, m in lb.manifests(store).items()}
    models.update(given)
    models = {b: tms for b, tms in models.items() if tms and b in set(means.benchmark)}
    wide = robust.per_image(store, lb.current_cells(store))
    wide = wide[wide.benchmark.isin(set(means.benchmark))]
    tables = {
        **lb.bd_summary(means, configs),
        **robust.robust_tables(wide, models, directions),
        **audit_tables(wide, lb.manifests(store)),
        **backdoor_tables(wide),
        **lb.family_tables(means, directions, configs, args.rank_by),
    }
    text = lb.render(tables, directions, args.format)
    try:
        if args.output:
            Path(args.output).write_text(text)
        else:
            print(text)
        if args.plot_dir:
            Path(args.plot_dir).mkdir(parents=True, exist_ok=True)
            for path in lb.rd_plot(means, Path(args.plot_dir), published=_published(args)):
                print(f"wrote {path}", file=sys.stderr)
    except OSError as exc:
        where = exc.filename or args.output or args.plot_dir
        raise LicbenchError(
            f"{where}: cannot write ({exc.strerror}); pass a writable path"
        ) from exc
    return 0


def _site(store: Any, out: Path, published: Path | None, models: dict[str, Any]) -> int:
    from licbench.results.site import Site

    try:
        pages = Site(store, out, published, models).write()
    except OSError as exc:
        raise LicbenchError(
            f"{exc.filename or out}: cannot write the site ({exc.strerror}); pass a writable --site"
        ) from exc
    print(f"wrote {len(pages)} pages into {out} (open {out / 'index.html'})")
    return 0


def _published(args: argparse.Namespace) -> Path | None:
    """Where published reference curves are: --published, else $LICBENCH_DATA/reference."""
    if args.published:
        return Path(args.published)
    from licbench.paths import data_root

    root = data_root()
    return root / "reference" if root and (root / "reference").is_dir() else None


def cmd_export(args: argparse.Namespace) -> int:
    from licbench.bench.bundle import export
    from licbench.bench.store import ResultStore
    from licbench.paths import default_db_url

    n = export(ResultStore(args.db or default_db_url(), create=False), args.benchmark, args.o)
    print(f"{args.o}: {n} cells of {args.benchmark}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from licbench.bench.bundle import import_bundle
    from licbench.bench.store import ResultStore
    from licbench.paths import default_db_url

    added, same = import_bundle(args.bundle, ResultStore(args.db or default_db_url()))
    print(f"{args.bundle}: {added} cells imported, {same} already stored")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from licbench.bench.bundle import agrees, record_verification, verify
    from licbench.bench.store import ResultStore, sqlite_path
    from licbench.paths import default_db_url

    table, missing = verify(args.bundle, args.sample, args.seed)
    if missing:
        raise LicbenchError(f"{args.bundle}: missing plugins here: {'; '.join(missing)}")
    print(tabulate(table, headers="keys", tablefmt="github", showindex=False))
    ok = agrees(table)
    print(f"{args.bundle}: {'agrees' if ok else 'DISAGREES'} on {args.sample} sampled cells")
    url = args.db or default_db_url()
    path = sqlite_path(url)
    if path is None or path.exists():  # never create a database just to find nothing there
        store = ResultStore(url)
        if record_verification(store, args.bundle, table, args.sample, args.seed) is not None:
            print(f"{args.bundle}: result recorded in {store.url} beside its imported cells")
    return 0 if ok else 1


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("export", help="write a benchmark's cells and scores into a bundle")
    s.add_argument("--benchmark", required=True)
    s.add_argument("-o", type=Path, required=True, metavar="B.zip")
    s.add_argument("--db")
    s.set_defaults(func=cmd_export)
    s = sub.add_parser("import", help="merge a bundle into the results database")
    s.add_argument("bundle", type=Path)
    s.add_argument("--db")
    s.set_defaults(func=cmd_import)
    s = sub.add_parser("verify", help="re-run sampled cells of a bundle and compare scores")
    s.add_argument("bundle", type=Path)
    s.add_argument("--sample", type=int, default=3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--db", help="where the bundle was imported: the result is recorded there")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("leaderboard", help="ranked tables and an RD plot from the database")
    s.add_argument("--db")
    s.add_argument("--format", choices=["md", "csv", "json", "html"], default="md")
    s.add_argument("--benchmark", help="only this benchmark (default: an index of them)")
    s.add_argument("--all", action="store_true", help="every benchmark's tables")
    s.add_argument(
        "--manifest",
        action="append",
        type=Path,
        help="take this manifest's threat models (default: those of each benchmark's last run)",
    )
    s.add_argument("--rank-by", help="metric to rank by (default: the manifest's)")
    s.add_argument("--plot-dir", help="write the RD plots (PNG) into this folder")
    s.add_argument("--output", help="write the tables to this file")
    s.add_argument("--published", help="folder of published RD curves (CompressAI's JSON)")
    s.add_argument("--site", metavar="DIR", help="write the static site (index + a page each)")
    s.set_defaults(func=cmd_leaderboard)
