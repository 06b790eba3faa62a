"""``licbench audit``: the gradient-masking checklist per (codec, defense) of a manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

from licbench.cli.run import _runner, add_run_options, at_least, load, registry, report


def cmd_audit(args: argparse.Namespace) -> int:
    from licbench.bench.audit import AuditConfig, audit_manifest
    from licbench.leaderboard.audit import flagged
    from licbench.leaderboard.render import render
    from licbench.leaderboard.view import Results

    cfg = AuditConfig(iters=args.iters, draws=args.draws, queries=args.queries, images=args.images)
    m = load(args.manifest, args)
    derived = audit_manifest(m, cfg, args.manifest, registry(args), args.threat_model)
    runner = _runner(args, progress=not args.no_progress, manifest=derived, audit_of=m.name)
    if report(runner, runner.run()):
        return 1
    results = Results(runner.store)
    tables = {t: x for t, x in results.tables(derived.name).items() if x.kind == "verdicts"}
    print(render(tables, {}, "md"))
    bad = flagged({t: x.frame for t, x in tables.items()})
    for line in bad:
        print(f"FLAGGED {line}")
    print(f"{derived.name}: {len(bad)} flagged (codec, defense) pairs")
    return 1 if bad else 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser(
        "audit", help="check a manifest's defenses for gradient masking (Carlini et al. 2019)"
    )
    s.add_argument("manifest", type=Path)
    s.add_argument("--threat-model", help="which rate or distortion threat model (default: first)")
    s.add_argument("--images", type=at_least(1), default=4, help="images per dataset (default: 4)")
    s.add_argument("--iters", type=at_least(2), default=20, help="apgd/pgd steps (default: 20)")
    s.add_argument("--draws", type=at_least(1), default=4, help="EoT draws vs randomized defenses")
    s.add_argument(
        "--queries", type=at_least(1), default=300, help="square's queries (default: 300)"
    )
    add_run_options(s)
    s.set_defaults(func=cmd_audit)
