"""Regenerate the shipped reference results: every CPU-scale manifest under benchmarks/
(those under */paper/ are for a GPU and stay out), and the audit of
benchmarks/adversarial/defenses.yaml, all keyed and run on the CPU (the reference is the
CPU's results, whatever machine regenerates it).

    python benchmarks/regenerate.py                 # the estimate against results.db
    python benchmarks/regenerate.py --from-nothing  # the estimate of a run from nothing
    python benchmarks/regenerate.py --run [--executor ray]  # run what is missing, then time it
    python benchmarks/regenerate.py --prune          # drop cells no manifest plans any more
    python benchmarks/regenerate.py --retimed CACHE  # take training records of CACHE
    python benchmarks/regenerate.py --rescore KEY... # drop the cells that use these artifacts

The estimate takes each cell's time from stored timings of comparable cells
(licbench.plan), or from nothing, a stored cell's own; and each trained artifact's time
from the record its training wrote beside it (in the cache or under benchmarks/artifacts/;
its CPU seconds where it has them; a training resumed part-way scaled to all its steps).
On two workers it schedules each manifest as `licbench run` does: its trainings first (one
that starts from another waits for it), then its cells. Stored cells are skipped, so an
interrupted `--run` resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import licbench
from licbench.errors import LicbenchError
from licbench.settings import Settings

ROOT = Path(__file__).resolve().parent
AUDITED = ROOT / "adversarial" / "defenses.yaml"
WORKERS = 2  # local Ray workers, one per core of the reference machine


def manifests() -> list[Path]:
    """Every shipped CPU-scale manifest (included files and paper-scale ones left out)."""
    found = sorted(p for p in ROOT.rglob("*.yaml") if "paper" not in p.parts)
    return [p for p in found if p.name != "common.yaml"]


def jobs(chosen: list[Path] | None = None) -> list[tuple[Path, bool, str]]:
    """Each manifest of ``chosen`` (default: every one), then the audit where the audited
    manifest is among them: its path, whether it is the audit, and its name in the output."""
    chosen = chosen or manifests()
    found = [(m, False) for m in chosen] + ([(AUDITED, True)] if AUDITED in chosen else [])
    return [(p, a, f"{p.relative_to(ROOT)}{' (audit)' if a else ''}") for p, a in found]


def fmt(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def trained_share(info: dict[str, Any]) -> float:
    """The share of a training its record's session did (below 1: it resumed part-way)."""
    steps = float(info.get("steps") or 1)
    return float(info.get("steps_this_session", steps)) / steps


def training_seconds(key: str) -> tuple[float, bool] | None:
    """The seconds the artifact ``key`` took to train, from the record beside it, and
    whether they are CPU seconds: its CPU seconds where the record has them (what a
    one-thread worker takes with a core of its own), else its wall time (stretched by
    whatever else ran beside it), scaled to every step where the record says its session
    resumed a training part-way. A shipped artifact's record comes first: the copy adopted
    into the cache keeps an older one."""
    for folder in (ROOT / "artifacts", Settings.from_env().cache):
        for record in folder.glob(f"*/{key}.*.json"):
            info = json.loads(record.read_text())
            cpu = info.get("cpu_seconds_this_session")
            seconds = cpu if cpu is not None else info.get("seconds_this_session")
            if seconds is not None:  # a resumed session's scaled up to the whole training
                return float(seconds) / (trained_share(info) or 1.0), cpu is not None
    return None


def stored_artifact(key: str) -> bool:
    folders = (Settings.from_env().cache, ROOT / "artifacts")
    return any(p.suffix != ".json" for f in folders for p in f.glob(f"*/{key}.*"))


def stored_seconds(db: str) -> dict[str, float]:
    """Each stored cell's own seconds (its run's time on one worker), by key."""
    from licbench.bench.store import ResultStore

    seconds = ResultStore(db, create=False).frame("cells").set_index("key")["seconds"]
    return {str(k): float(v) for k, v in seconds.dropna().items()}


def makespan(tasks: dict[str, tuple[float, list[str]]], workers: int = WORKERS) -> float:
    """When ``workers`` finish ``tasks`` (key: its seconds and the keys it waits for; a key
    not among the tasks is done already), each free worker taking the longest task that can
    start (list scheduling, as Ray hands out ready tasks)."""
    free, finish, left = [0.0] * workers, dict[str, float](), dict(tasks)
    while left:
        w = min(range(workers), key=free.__getitem__)
        ready = {
            k: max([finish[d] for d in deps if d in tasks], default=0.0)
            for k, (_, deps) in left.items()
            if all(d in finish or d not in tasks for d in deps)
        }
        at = max(free[w], min(ready.values()))
        k = max((k for k, t in ready.items() if t <= at), key=lambda k: left[k][0])
        finish[k] = free[w] = at + left.pop(k)[0]
    return max(free)


def estimate(db: str, from_nothing: bool) -> float:
    """Print each manifest's cells to run and the artifacts it trains first (from nothing:
    every one, each in the first manifest that needs it), their estimated times on one
    worker and on two (trainings, then cells, as `licbench run` does, a training that
    starts from another one waiting for it); the totals. A stored cell counts its own
    measured seconds, a cell to run the estimate from comparable stored cells."""
    own = stored_seconds(db) if from_nothing else {}
    cells = training = two_trains = two_cells = 0.0
    counted: set[str] = set()
    wall = unknown = 0
    for path, audit, name in jobs():
        rows = licbench.plan(path, db=db, audit=audit, device="cpu")
        todo = [r for r in rows if from_nothing or r["state"] != "stored"]
        after = {k: deps for r in todo for k, deps in r["after"].items()}
        new = {k for r in todo for k in r["artifacts"].values()} - counted
        new = {k for k in new if from_nothing or not stored_artifact(k)}  # else not retrained
        counted |= new
        timed = {k: training_seconds(k) for k in new}
        wall += sum(1 for t in timed.values() if t is not None and not t[1])
        unknown += sum(1 for t in timed.values() if t is None)
        trains = {k: (t[0] if t else 0.0, after.get(k, [])) for k, t in timed.items()}
        runs: dict[str, tuple[float, list[str]]] = {
            r["key"]: (own.get(r["key"], r["estimated_seconds"] or 0.0), []) for r in todo
        }
        mine = sum(t for t, _ in runs.values())
        cells, training = cells + mine, training + sum(t for t, _ in trains.values())
        spans = makespan(trains), makespan(runs)
        two_trains, two_cells = two_trains + spans[0], two_cells + spans[1]
        both = sum(spans)
        missing = sum(1 for r in todo if r["estimated_seconds"] is None and r["key"] not in own)
        note = f", {missing} without an estimate" if missing else ""
        print(f"{name:32} {len(todo):4d} of {len(rows):4d} cells {fmt(mine):>9}, "
              f"{len(new)} trainings; on two workers {fmt(both):>9}{note}")  # fmt: skip
    how = f" ({wall} from wall times, the rest from CPU seconds)" if wall else ""
    print(f"cells: {fmt(cells)} on one worker; {len(counted)} artifacts to train: "
          f"{fmt(training)}{how}" + (f", {unknown} without a record" if unknown else ""))
    two = two_trains + two_cells
    print(f"estimated total: {fmt(cells + training)} on one worker, {fmt(two)} on "
          f"{WORKERS} ({fmt(two_trains)} trainings, then {fmt(two_cells)} cells, manifest by "
          "manifest)")
    return two


def run(db: str, executor: str) -> None:
    """Run every manifest (and the audit) into ``db`` on ``executor`` (``ray``: a local Ray
    of one-CPU workers, one per core), timing each: its wall time in this invocation, and
    the seconds its cells stored in ``db`` hold (one worker's time, summed over every
    invocation, so a run resumed in a later session still adds up); the totals."""
    wall = stored = 0.0
    for path, audit, name in jobs():
        t0 = time.perf_counter()
        where = os.path.relpath(path)  # as the run records it: benchmarks/… from the root
        cmd = ["licbench", "audit" if audit else "run", where, "--db", db, "--device", "cpu"]
        cmd += ["--no-progress", "--executor", executor]
        cmd += ["--cpus", "1"] if executor == "ray" else []
        status = subprocess.run(cmd, check=False).returncode
        took = time.perf_counter() - t0
        keys = [r["key"] for r in licbench.plan(path, db=db, audit=audit, device="cpu")]
        seconds = stored_seconds(db)
        held = [seconds[k] for k in keys if k in seconds]
        wall, stored = wall + took, stored + sum(held)
        print(f"{name}: {fmt(took)} wall "
              f"(rc {status}); {len(held)} of {len(keys)} cells stored, "
              f"{fmt(sum(held))} of cell time", flush=True)  # fmt: skip
    print(f"measured: {fmt(wall)} wall in this invocation; the cells stored hold {fmt(stored)} "
          "of one worker's time")


def prune(db: str, only: list[Path] | None = None) -> None:
    """Delete from ``db`` each manifest's (and, with all of them or the audited one, the
    audit's) cells that it no longer plans on the CPU: rows of older code or of entries
    since removed, so that the shipped reference results are exactly what the current code
    produces for the current manifests. For the shipped database only: it deletes CUDA,
    partial and imported cells of those benchmarks too."""
    from licbench.bench.store import ResultStore

    store = ResultStore(db, create=False)
    for path, audit, name in jobs(only):
        rows = licbench.plan(path, db=db, audit=audit, device="cpu")
        if not rows:
            continue
        (bench,) = {r["benchmark"] for r in rows}
        gone = store.forget(bench, {r["key"] for r in rows})
        print(f"{name}: {gone} cells pruned")


def rescore(db: str, keys: set[str]) -> None:
    """Delete from ``db`` every shipped manifest's stored cells that use one of the artifacts
    ``keys``: after such an artifact is replaced by other bytes under the same key (a fix to
    how it trains), ``--run`` then scores them again."""
    from licbench.bench.store import ResultStore

    store = ResultStore(db, create=False)
    for path, audit, name in jobs():
        rows = licbench.plan(path, db=db, audit=audit, device="cpu")
        stale = [r for r in rows if r["state"] == "stored" and keys & set(r["artifacts"].values())]
        if stale:
            (bench,) = {r["benchmark"] for r in rows}
            gone = store.forget(bench, {r["key"] for r in rows} - {r["key"] for r in stale})
            print(f"{name}: {gone} cells to rescore")


def retimed(cache: Path) -> None:
    """Take the training records of artifacts retrained into ``cache`` (LICBENCH_CACHE of a
    run from a checkout without benchmarks/artifacts, so nothing was adopted) for the
    shipped artifacts they reproduce byte for byte: the same artifact, timed again (on an
    idle machine, with its CPU seconds)."""
    for record in sorted(cache.glob("*/*.json")):
        blob = record.with_suffix("")
        shipped = ROOT / "artifacts" / blob.parent.name / blob.name
        new = json.loads(record.read_text())
        if shipped.is_file() and trained_share(new) != 1:
            print(f"{blob.name}: its training resumed part-way; record kept")
        elif shipped.is_file() and blob.is_file() and blob.read_bytes() == shipped.read_bytes():
            old = json.loads(shipped.with_name(record.name).read_text())["seconds_this_session"]
            shipped.with_name(record.name).write_text(record.read_text())
            print(f"{blob.name}: {old} s recorded; now {new['seconds_this_session']} s, "
                  f"{new.get('cpu_seconds_this_session')} CPU s")
        elif shipped.is_file():
            print(f"{blob.name}: not the shipped artifact's bytes; record kept")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=str(ROOT.parent / "results.db"))
    ap.add_argument("--from-nothing", action="store_true", help="estimate every cell")
    ap.add_argument("--run", action="store_true", help="run what is missing, then time it")
    ap.add_argument("--executor", default="local", help="with --run: local or ray (2 workers)")
    ap.add_argument("--prune", action="store_true", help="drop cells no manifest plans")
    ap.add_argument("--retimed", type=Path, help="a cache of retrained shipped artifacts")
    ap.add_argument("--rescore", nargs="+", metavar="KEY", help="drop cells using these artifacts")
    ap.add_argument("manifest", nargs="*", type=Path, help="with --prune: only these")
    args = ap.parse_args()
    try:
        if args.retimed:
            retimed(args.retimed)
        elif args.rescore:
            rescore(args.db, set(args.rescore))
        elif args.prune:
            prune(args.db, [m.resolve() for m in args.manifest] or None)
        elif args.run:
            run(args.db, args.executor)
        else:
            estimate(args.db, args.from_nothing)
    except LicbenchError as exc:  # a missing dataset, a bad database: one line, the fix in it
        print(f"licbench: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
