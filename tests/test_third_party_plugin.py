"""A third-party package adds a codec, a metric, an attack, a transform defense, a backdoor
goal and a CLI command through the entry-point group alone (examples/, written from
docs/plugins.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import manifest_runner

from licbench.bench.checker import load_manifest
from licbench.bench.run import Runner
from licbench.bench.store import ResultStore
from licbench.cli import main
from licbench.plugin.manager import load_registry
from licbench.settings import Settings


def test_example_plugin_registers_codec_and_metric(installed_example: Path) -> None:
    reg = load_registry()
    assert reg.get("codec", "downsample-png").dist == "licbench-example-plugin"
    assert reg.get("metric", "mae").dist == "licbench-example-plugin"
    assert reg.get("codec", "jpeg").dist == "licbench"


def test_example_plugin_runs_in_a_manifest(installed_example: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "name: third-party\ndatasets: [{name: samples, limit: 2}]\n"
        "codecs: [{name: downsample-png, qualities: [2, 4]}]\nmetrics: [bpp, psnr, mae]\n"
    )
    m = load_manifest(manifest, load_registry())
    store = ResultStore(str(tmp_path / "r.db"))
    summary = Runner(m, store, device="cpu", progress=False, registry=load_registry()).run()
    assert summary.done == 2 and summary.failed == 0
    scores = store.frame("scores")
    mae = scores[scores.metric == "mae"].merge(
        store.frame("cells"), left_on="cell_key", right_on="key"
    )
    by_q = mae.groupby("quality").value.mean()
    assert 0 < by_q[2.0] < by_q[4.0]  # stronger downsampling, larger error


def test_example_attack_defense_goal_and_command_run(
    installed_example: Path, tmp_path: Path, image_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """salt-pepper × median3 on two codecs, and a backdoor trained with the `darken` goal,
    in one manifest; then the plugin's own `licbench mae` command."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "name: third-party-all\ndatasets: [{name: samples, limit: 2, crop: 128}]\n"
        "codecs: [{name: jpeg, qualities: [50]},\n"
        "         {name: bmshj2018-hyperprior-lite, qualities: [2]}]\n"
        "attacks:\n  - {name: salt-pepper, params: {amount: 0.05}}\n"
        "  - name: backdoor\n    params:\n"
        "      triggers:\n"
        "        - {label: dark, trigger: ftrojan, goal: {name: darken, params: {level: 0}}}\n"
        "      steps: 3\n      batch_size: 1\n      patch_size: 64\n"
        f"defenses: [median3]\ntrain_data: {{name: folder, params: {{path: {image_dir}}}}}\n"
        "metrics: [bpp, psnr, mae, input-psnr]\n"
    )
    assert main(["validate", str(manifest)]) == 0
    # 2 codecs x 3 attacks x 2 defenses; a backdoor applies to learned codecs only
    assert "10 cells; 2 left out (2: backdoor does not apply to jpeg)" in capsys.readouterr().out
    store = ResultStore(str(tmp_path / "r.db"))
    summary = manifest_runner(manifest, store, device="cpu", progress=False).run()
    assert (summary.total, summary.done, summary.failed) == (10, 10, 0)
    scores = store.frame("scores").merge(store.frame("cells"), left_on="cell_key", right_on="key")
    mean = scores.groupby(["label", "attack", "defense", "metric"]).value.mean()
    # impulse noise really changes the input; the median filter removes most of the damage
    assert mean[("jpeg", "salt-pepper", "none", "input-psnr")] < 25
    noisy, filtered = (mean[("jpeg", "salt-pepper", d, "mae")] for d in ("none", "median3"))
    assert filtered < noisy
    learned = "bmshj2018-hyperprior-lite"
    assert mean[(learned, "backdoor", "none", "input-psnr")] > 40  # a stealthy trigger
    cache = Settings.from_env().cache / "backdoors"
    (artifact,) = cache.glob("*.safetensors")  # trained once, for both cells
    record = json.loads(artifact.with_name(artifact.name + ".json").read_text())
    assert record["config"]["triggers"][0]["goal"]["name"] == "darken" and record["steps"] == 3
    a, b = sorted(image_dir.glob("*.png"))[:2]
    capsys.readouterr()
    assert main(["mae", str(a), str(b)]) == 0
    assert float(capsys.readouterr().out) > 0


@pytest.mark.slow
def test_cli_sees_the_example_plugin(installed_example: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed_example)}
    out = subprocess.run(
        [sys.executable, "-m", "licbench.cli", "plugins"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert any(
        "downsample-png" in ln and "licbench-example-plugin 0.1.0" in ln for ln in out.splitlines()
    )
