"""`licbench audit`: the checklist of Carlini et al. 2019 ("On Evaluating Adversarial
Robustness"), run per (codec, defense) of a manifest.

The audit is a benchmark of its own (:mod:`licbench.bench.audit` builds and runs it).
Per codec and defense, averaged over qualities and images, the damage of an attack is its
rate × clean − 1 (goal rate) or its PSNR drop in dB (goal distortion). The checks:

1. **ε sweep**: damage grows with ε (1, 2, 4, 8, 16/255; the budget's ε added);
2. **unbounded**: apgd with ε = 1 reaches a large blow-up (rate × 1.5, or a 10 dB drop);
3. **noise**: random ±ε noise does at most half the attack's damage;
4. **white > gray**: the white-box attack (apgd through the defense, or the adaptive attack
   the defense declares, ``adaptive-NAME``, whichever is stronger) does at least the
   transferred one's damage (pgd generated on the bare codec);
5. **gradient-free**: square does not beat the gradient attacks;
6. **converged**: twice the iterations and two more restarts change the damage by at most
   10 % (plus a small floor).

A defense failing one is flagged: its robustness claim rests on a weak or masked attack.
A check whose attacks were not scored on a pair (they do not apply) is ``n/a``, never a flag.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from licbench.budget import parse_eps
from licbench.labels import ADAPTIVE, AUDIT
from licbench.leaderboard.robust import attack_measures

SWEEP = (1, 2, 4, 8, 16)  # ε in 255ths
TOL = 0.01  # damage units (rate ratio, or dB) within which two attacks tie
BLOW_UP = {"rate": 0.5, "distortion": 10.0}  # damage an unbounded attack must reach


def eps_label(k: float) -> str:
    return AUDIT["sweep"].format(eps=k)


def sweep_steps(eps: float) -> tuple[list[float], str]:
    """The ε sweep in 255ths (the budget's ε included) and the label of the budget's step."""
    at = round(eps * 255, 6)
    return sorted({*SWEEP, at}), eps_label(at)


def _damage(clean: pd.DataFrame, hit: pd.DataFrame, goal: str) -> dict[str, float]:
    found = attack_measures(clean, hit, "bpp" if goal == "rate" else "psnr")
    return {a: (v - 1 if goal == "rate" else -v) for a, v in found.items()}


NEEDS = {  # the attack labels (beyond the budget's apgd) each check compares
    "ε sweep": (),
    "unbounded": (AUDIT["unbounded"],),
    "noise": (AUDIT["noise"],),
    "white > gray": (AUDIT["transfer"],),
    "gradient-free": (AUDIT["gradient-free"],),
    "converged": (AUDIT["converged"],),
}


def checks(d: dict[str, float], goal: str, eps: float) -> dict[str, tuple[bool | None, str]]:
    """The six checks on one (codec, defense)'s damages by attack label: (passed, numbers);
    passed is None where a check does not apply (an attack it needs was not scored on the
    pair, e.g. gradient attacks on JPEG): such a check never flags."""
    fmt = (lambda v: f"×{1 + v:.3f}") if goal == "rate" else (lambda v: f"−{v:.2f} dB")
    steps, label = sweep_steps(eps)
    at = d.get(label, float("nan"))
    adaptive = {a: v for a, v in d.items() if a.startswith(ADAPTIVE.format(name=""))}
    white = max([at, *adaptive.values()])
    white_text = f"white {fmt(white)}" + (
        f" ({max(adaptive, key=adaptive.__getitem__)})" if adaptive and white > at else ""
    )
    sweep = [(k, d[eps_label(k)]) for k in steps if eps_label(k) in d]
    grows = all(b >= a - TOL for (_, a), (_, b) in zip(sweep, sweep[1:], strict=False))
    of = {r: d.get(label, np.nan) for r, label in AUDIT.items() if r != "sweep"}  # nan: not run
    best_grad = max(white, of["transfer"]) if np.isfinite(of["transfer"]) else white
    long = of["converged"]
    out: dict[str, tuple[bool | None, str]] = {
        "ε sweep": (grows, ", ".join(f"{k:g}/255 {fmt(v)}" for k, v in sweep)),
        "unbounded": (of["unbounded"] >= BLOW_UP[goal], f"ε=1 {fmt(of['unbounded'])}"),
        "noise": (of["noise"] <= 0.5 * at, f"noise {fmt(of['noise'])} vs attack {fmt(at)}"),
        "white > gray": (white >= of["transfer"] - TOL,
                         f"{white_text} vs transferred {fmt(of['transfer'])}"),
        "gradient-free": (of["gradient-free"] <= best_grad + TOL,
                          f"{AUDIT['gradient-free']} {fmt(of['gradient-free'])} vs gradient "
                          f"{fmt(best_grad)}"),
        "converged": (abs(long - at) <= 0.1 * abs(at) + TOL,
                      f"2× iters, 3 restarts {fmt(long)} vs {fmt(at)}"),
    }  # fmt: skip
    for check, needs in NEEDS.items():
        missing = [a for a in (label, *needs) if not np.isfinite(d.get(a, np.nan))]
        if missing:
            out[check] = (None, f"n/a: {', '.join(missing)} not scored (does not apply here)")
    return out


def audit_table(group: pd.DataFrame, tm: dict[str, Any]) -> pd.DataFrame:
    """One codec's verdicts (``group``: its per-image rows in an audit benchmark whose
    threat model ``budget`` is ``tm``): a row per defense and check, ``pass`` or ``FAIL``,
    with its numbers."""
    goal, eps = tm["goal"], parse_eps(tm["budget"]["eps"])
    rows = []
    for defense, cur in group.groupby("defense"):
        damage = _damage(cur[cur.attack == "none"], cur[cur.attack != "none"], goal)
        for check, (ok, text) in checks(damage, goal, eps).items():
            verdict = "n/a" if ok is None else "pass" if ok else "FAIL"
            rows.append({"defense": defense, "check": check, "verdict": verdict, "numbers": text})
    return pd.DataFrame(rows, columns=["defense", "check", "verdict", "numbers"])


def flagged(tables: dict[str, pd.DataFrame]) -> list[str]:
    """``codec + defense: checks failed`` for every pair that failed a check, from
    ``{"B / dataset / codec / audit": verdicts}``."""
    out = []
    for title, table in tables.items():
        codec = title.split(" / ")[2]
        for defense, rows in table.groupby("defense"):
            failed = list(rows.check[rows.verdict == "FAIL"])
            if failed:
                out.append(f"{codec} + {defense}: {', '.join(failed)}")
    return out
