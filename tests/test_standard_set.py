"""The standard set's seeds and the defenses' declared adaptive attacks; the audit's
white-box check with them; time estimates from stored timings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import manifest_runner

import licbench
from licbench.bench.cells import expand
from licbench.bench.checker import load_manifest
from licbench.bench.estimate import estimate
from licbench.bench.store import ResultStore
from licbench.bench.work import describe
from licbench.labels import seed_label, unseeded
from licbench.leaderboard import robust
from licbench.leaderboard.audit import checks
from licbench.plugin.manager import load_registry

STANDARD = """\
name: std
datasets: [{name: samples, limit: 1, crop: 64}]
codecs: [{name: bmshj2018-hyperprior-lite, qualities: [4]}]
defenses: [two-way, {name: k-way, params: {k: 3}}, input-randomization, gaussian-blur]
threat_models:
  - {name: t, goal: rate, budget: {norm: linf, eps: 4/255}, standard: {seeds: 2, iters: 4}}
"""


def test_standard_set_has_seeds_and_each_defense_meets_its_adaptive_attack(
    tmp_path: Path,
) -> None:
    (tmp_path / "m.yaml").write_text(STANDARD)
    m = load_manifest(tmp_path / "m.yaml", load_registry())
    labels = [a.display for a in m.attacks]
    for base in ("apgd@t", "pgd@t", "square@t", "kway-adaptive@t", "eot@t"):
        assert {base, f"{base}#s1"} <= set(labels)
    assert set(m.threat_models[0].attacks) == set(labels)
    seeds = {a.display: a.params.get("seed") for a in m.attacks}
    assert seeds["apgd@t"] == 0 and seeds["apgd@t#s1"] == 1 and seeds["kway-adaptive@t#s1"] == 1
    met: dict[str, set[str]] = {}
    for cell in expand(m):
        if cell.attack is not None:
            met.setdefault(cell.attack.display, set()).add(
                cell.defense.display if cell.defense else "none"
            )
    assert met["kway-adaptive@t"] == met["kway-adaptive@t#s1"] == {"two-way", "k-way"}
    assert met["eot@t"] == {"input-randomization"}  # its declared attack, nobody else's
    assert met["apgd@t"] == {"none", "two-way", "k-way", "input-randomization", "gaussian-blur"}
    adaptive = next(a for a in m.attacks if a.display == "kway-adaptive@t")
    assert adaptive.params["iters"] == 4 and adaptive.params["restarts"] == 3  # as apgd


def test_seed_labels_round_trip() -> None:
    assert seed_label("apgd@t", 0) == "apgd@t" and seed_label("apgd@t", 3) == "apgd@t#s3"
    assert unseeded("apgd@t#s3") == "apgd@t" and unseeded("a#b") == "a#b"


def _frame(values: dict[str, list[float]], clean: list[float]) -> pd.DataFrame:
    """Per-image bpp rows of one codec, quality 4, no defense: clean and each attack."""
    rows = [
        {"attack": a, "defense": "none", "quality": 4.0, "image": f"i{k}", "bpp": v, "psnr": 30.0}
        for a, vs in {"none": clean, **values}.items()
        for k, v in enumerate(vs)
    ]
    return pd.DataFrame(rows)


def test_threat_table_counts_every_seed_and_shows_their_spread() -> None:
    clean = [1.0, 1.0, 1.0]
    runs = {"pgd@t": [1.2, 1.2, 1.2], "pgd@t#s1": [1.5, 1.0, 1.0], "pgd@t#s2": [1.1, 1.1, 1.1]}
    tm = {"name": "t", "goal": "rate", "attacks": list(runs)}
    table = robust.threat_table(_frame(runs, clean), tm, {"bpp": False, "psnr": True})
    row = table.set_index("defense").loc["none"]
    worst = np.mean([1.5, 1.2, 1.2])  # per image the worst over the three seeds
    assert row["rate × clean"] == pytest.approx(worst)
    means = sorted(np.mean(v) for v in runs.values())
    assert row["over seeds"] == (
        f"pgd@t {means[0]:.3f} / {means[1]:.3f} / {means[2]:.3f} (3 seeds)"
    )


def test_audit_white_box_counts_the_declared_adaptive_attack() -> None:
    eps = 4 / 255
    d = {"apgd-e1": 0.05, "apgd-e2": 0.1, "apgd-e4": 0.2, "apgd-e8": 0.3, "apgd-e16": 0.4,
         "apgd-unbounded": 2.0, "random-noise": 0.01, "pgd-transfer": 0.3, "square": 0.05,
         "apgd-long": 0.2}  # fmt: skip
    ok, text = checks(d, "rate", eps)["white > gray"]
    assert ok is False and "white ×1.200 vs transferred ×1.300" in text
    ok, text = checks({**d, "adaptive-kway-adaptive": 0.35}, "rate", eps)["white > gray"]
    assert ok is True and "(adaptive-kway-adaptive)" in text


JPEG = """\
name: est
datasets: [{name: samples, limit: 2}]
codecs: [{name: jpeg, qualities: [30, 70]}]
metrics: [bpp, psnr]
"""


def test_dry_run_estimates_from_comparable_stored_cells(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(JPEG)
    store = ResultStore(str(tmp_path / "r.db"))
    manifest_runner(tmp_path / "m.yaml", store, device="cpu", progress=False).run()
    cells = store.frame("cells")
    more = "codecs:\n  - {name: webp, qualities: [50]}\n  - {name: jpeg, qualities: [30, 50]}"
    (tmp_path / "m2.yaml").write_text(
        JPEG.replace("codecs: [{name: jpeg, qualities: [30, 70]}]", more)
    )
    runner = manifest_runner(tmp_path / "m2.yaml", store, device="cpu", progress=False)
    planned = {describe(p.cell): p for p in runner.plan()}
    found = estimate(list(planned.values()), cells, runner.registry).seconds
    assert planned["samples jpeg q=30 none/none"].stored
    per_image = float(np.median(cells.seconds / cells.n_images))
    assert found[planned["samples jpeg q=50 none/none"].key] == pytest.approx(2 * per_image)
    assert found[planned["samples webp q=50 none/none"].key] is None  # nothing comparable
    rows = {r["cell"]: r for r in licbench.plan(tmp_path / "m2.yaml", db=str(tmp_path / "r.db"))}
    assert rows["samples jpeg q=30 none/none"]["state"] == "stored"
    assert rows["samples jpeg q=50 none/none"]["estimated_seconds"] is not None
