"""A third-party package adds a codec and a metric through the entry-point group alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from licbench.bench.manifest import load_manifest
from licbench.bench.runner import Runner
from licbench.bench.store import ResultStore
from licbench.plugin.manager import reset_registry

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "licbench-example-plugin"


@pytest.fixture
def installed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install the example package the way pip lays it out: module + dist-info with
    entry_points.txt on sys.path."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "licbench_example_plugin", site / "licbench_example_plugin")
    info = site / "licbench_example_plugin-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: licbench-example-plugin\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text("[licbench]\nexample = licbench_example_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    reset_registry()
    yield site
    sys.modules.pop("licbench_example_plugin", None)
    reset_registry()


def test_example_plugin_registers_codec_and_metric(installed_example: Path) -> None:
    from licbench.plugin.manager import get_registry

    reg = get_registry()
    assert reg.get("codec", "downsample-png").dist == "licbench-example-plugin"
    assert reg.get("metric", "mae").dist == "licbench-example-plugin"
    assert reg.get("codec", "jpeg").dist == "licbench"


def test_example_plugin_runs_in_a_manifest(installed_example: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "name: third-party\ndatasets: [{name: samples, limit: 2}]\n"
        "codecs: [{name: downsample-png, qualities: [2, 4]}]\nmetrics: [bpp, psnr, mae]\n"
    )
    m = load_manifest(manifest)
    store = ResultStore(str(tmp_path / "r.db"))
    summary = Runner(m, store, device="cpu", progress=False).run()
    assert summary.done == 2 and summary.failed == 0
    scores = store.frame("scores")
    mae = scores[scores.metric == "mae"].merge(
        store.frame("cells"), left_on="cell_key", right_on="key"
    )
    by_q = mae.groupby("quality").value.mean()
    assert 0 < by_q[2.0] < by_q[4.0]  # stronger downsampling, larger error


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
