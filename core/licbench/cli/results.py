"""Commands on stored results: ``leaderboard`` (tables, plots, the static site), and the
checkable submissions ``export``, ``import`` and ``verify``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from licbench.cli.run import at_least, load
from licbench.errors import LicbenchError


def open_view(args: argparse.Namespace) -> Any:
    """The results view of ``--db``, else of the user's results before the reference ones."""
    import licbench

    published = _published_folder(args) if hasattr(args, "published") else None
    partial = getattr(args, "partial", False)
    return licbench.results(args.db, partial=partial, published=published, settings=args.settings)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from licbench.leaderboard.render import render

    results = open_view(args)
    given = {}
    for path in args.manifest or []:  # threat models from a file, newer than the stored runs
        m = load(path, args)
        given[m.name] = [t.model_dump() for t in m.threat_models]
    if args.benchmark:
        results.check(args.benchmark)
    if args.site:
        return _site(results, Path(args.site), results.published, given, args.benchmark)
    if not args.benchmark and not args.all:
        index = results.index().fillna("—")
        print(tabulate(index, headers="keys", tablefmt="github", showindex=False))
        print("\n--benchmark B: one benchmark's tables; --all: every benchmark's; "
              "source: yours (your runs) or reference (shipped with licbench)")  # fmt: skip
        return 0
    benches = [args.benchmark] if args.benchmark else results.benchmarks()
    tables = {}
    for bench in benches:
        tables.update(results.tables(bench, args.rank_by, given.get(bench)))
    text = render(tables, results.directions, args.format, wide=args.wide)
    if args.format == "md":
        text = "\n\n".join(f"{b}: from {results.provenance(b)}" for b in benches) + (
            "\n\n" + text
        )
    try:
        if args.output:
            Path(args.output).write_text(text)
        else:
            print(text)
        if args.plot_dir:
            from licbench.leaderboard.plots import rd_plot

            Path(args.plot_dir).mkdir(parents=True, exist_ok=True)
            means = results.means[results.means.benchmark.isin(benches)]
            wide = results.wide[results.wide.benchmark.isin(benches)]
            on = {(b, ds) for b in benches for ds in results.published_on(b)}
            for path in rd_plot(means, wide, Path(args.plot_dir), "png", results.published, on):
                print(f"wrote {path}", file=sys.stderr)
    except OSError as exc:
        where = exc.filename or args.output or args.plot_dir
        raise LicbenchError(
            f"{where}: cannot write ({exc.strerror}); pass a writable path"
        ) from exc
    return 0


def _site(
    results: Any, out: Path, published: Any, models: dict[str, Any], only: str | None
) -> int:
    from licbench.leaderboard.site import Site

    try:
        pages = Site(results, out, published, models).write(only)
    except OSError as exc:
        raise LicbenchError(
            f"{exc.filename or out}: cannot write the site ({exc.strerror}); pass a writable --site"
        ) from exc
    print(f"wrote {len(pages)} pages into {out} (open {out / 'index.html'})")
    return 0


def _published_folder(args: argparse.Namespace) -> Path | None:
    """Where published reference curves are: --published, else $LICBENCH_DATA/reference."""
    if args.published:
        return Path(args.published)
    root = args.settings.data
    return root / "reference" if root and (root / "reference").is_dir() else None


def cmd_export(args: argparse.Namespace) -> int:
    from licbench.leaderboard.bundle import export

    n = export(open_view(args), args.benchmark, args.o)
    print(f"{args.o}: {n} cells of {args.benchmark}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from licbench.bench.bundle import import_bundle
    from licbench.bench.store import open_store

    added, same = import_bundle(args.bundle, open_store(args.db, args.settings))
    print(f"{args.bundle}: {added} cells imported, {same} already stored")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from licbench.bench.bundle import agrees, fresh_seed, record_verification, verify
    from licbench.bench.store import exists, open_store
    from licbench.cli.run import registry

    seed = fresh_seed() if args.seed is None else args.seed
    print(f"{args.bundle}: sampling {args.sample} cells with --seed {seed}")
    table, missing = verify(args.bundle, args.sample, seed, registry(args), args.trust_bundle)
    if missing:
        raise LicbenchError(f"{args.bundle}: missing plugins here: {'; '.join(missing)}")
    print(tabulate(table, headers="keys", tablefmt="github", showindex=False))
    ok = agrees(table)
    covered = table.attrs.get("cells", {})
    print(
        f"{args.bundle}: {'agrees' if ok else 'DISAGREES'}: re-run here, "
        f"{sum(covered.values())} of {len(covered)} cells agree "
        f"(of {table.attrs.get('bundle_cells', '?')} in the bundle)"
    )
    if exists(args.db or args.settings.results):  # never create a database to find nothing
        store = open_store(args.db, args.settings, create=False)
        if record_verification(store, args.bundle, table, seed) is not None:
            print(f"{args.bundle}: result recorded in {store.url} beside its imported cells")
    return 0 if ok else 1


def _seed(text: str) -> int:
    if not text.isdigit() or len(text) > 20:
        raise argparse.ArgumentTypeError(f"{text!r}: give the seed a verify run printed")
    return int(text)


SHOWN: tuple[str, ...] = (
    "key",
    "benchmark",
    "dataset",
    "label",
    "quality",
    "attack",
    "defense",
    "kind",
)
SHOWN += ("partial", "status", "n_images", "run_id", "finished_at")


def cmd_show(args: argparse.Namespace) -> int:
    """Everything stored about one cell: where it comes from, its error and traceback."""
    from licbench.leaderboard.view import sources
    from licbench.paths import reference_db_url

    if len(args.key) < 6:
        raise LicbenchError(f"{args.key!r}: give at least 6 characters of a cell key")
    for _, s in sources(args.db, user=args.settings.results, reference=reference_db_url()):
        cell = s.cell(args.key)
        if cell is not None:
            for k in SHOWN:
                print(f"{k}: {cell.get(k)}")
            print(f"database: {s.url}")
            for k in ("config", "versions", "fingerprints"):
                print(f"{k}: {cell.get(k)}")
            if cell.get("status") != "done":
                print(f"error: {cell.get('error')}")
                print(cell.get("traceback") or "(no traceback stored)")
            return 0
    raise LicbenchError(
        f"{args.key}: no single stored cell has a key starting so; copy it from "
        "`licbench run M --dry-run` (pass --db where it is stored)"
    )


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("show", help="everything stored about one cell, its traceback included")
    s.add_argument("key", help="a cell key, or its first characters")
    s.add_argument("--db")
    s.set_defaults(func=cmd_show)
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
    s.add_argument("--sample", type=at_least(1), default=3, help="cells to re-run (default 3)")
    s.add_argument("--seed", type=_seed, help="the sample's seed (default: a fresh one, printed)")
    s.add_argument("--db", help="where the bundle was imported: the result is recorded there")
    s.add_argument(
        "--trust-bundle",
        action="store_true",
        help="let the bundle's manifest read local files and download (default: refused)",
    )
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
    s.add_argument("--wide", action="store_true", help="every column (default: fits 120)")
    s.add_argument(
        "--partial", action="store_true", help="also show partial runs, labelled (partial)"
    )
    s.set_defaults(func=cmd_leaderboard)
