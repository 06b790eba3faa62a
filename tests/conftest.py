"""Shared fixtures: offline data through LICBENCH_DATA, temp caches, tiny images."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if not os.environ.get("LICBENCH_DATA"):
    os.environ["LICBENCH_DATA"] = str((REPO.parent / "shared" / "data").resolve())
DATA = Path(os.environ["LICBENCH_DATA"])


def require_shared(path: Path) -> Path:
    """A file of the shared data folder; a missing one fails loudly (tests never skip it)."""
    if not path.exists():
        pytest.fail(f"{path} not found: set LICBENCH_DATA to the shared data folder", False)
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LICBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("LICBENCH_RESULTS", str(tmp_path_factory.mktemp("results") / "r.db"))


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    path = DATA / "kodak"
    if not path.is_dir():
        pytest.fail(f"Kodak not found at {path}: set LICBENCH_DATA to the shared data folder")
    return path


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    """Three small RGB photos-like images (smooth gradients plus noise)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir()
    yy, xx = np.mgrid[0:192, 0:256]
    for i in range(3):
        base = np.stack([xx * (i + 1) % 256, yy, (xx + yy) // 2 % 256], -1).astype(float)
        img = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i}.png")
    return folder


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CompressAI-format bmshj2018-hyperprior state dict (seeded random init)."""
    from compressai.zoo import bmshj2018_hyperprior

    torch.manual_seed(0)
    net = bmshj2018_hyperprior(quality=1)
    path = tmp_path_factory.mktemp("ckpt") / "hyperprior-random.pth.tar"
    torch.save(net.state_dict(), path)
    return path


def write_manifest(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def pg():
    """A PostgreSQL server for the session (tests/services.py)."""
    from services import postgres

    yield from postgres()


@pytest.fixture(scope="session")
def ray_nodes(tmp_path_factory: pytest.TempPathFactory):
    """A two-node local Ray cluster for the session: (address, per-node cache dirs)."""
    from services import ray_cluster

    yield from ray_cluster(tmp_path_factory.mktemp("ray"))


EXAMPLE = REPO / "examples" / "licbench-example-plugin"


@pytest.fixture
def installed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
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
    yield site
    sys.modules.pop("licbench_example_plugin", None)


def manifest_runner(path: Path, store: Any, **kw: Any) -> Any:
    """A Runner of the manifest at ``path`` into ``store``, with one registry for both (as
    the command line builds them); ``kw``: the Runner's options."""
    from licbench.bench.checker import load_manifest
    from licbench.bench.run import Runner
    from licbench.plugin.manager import load_registry

    registry = load_registry()
    return Runner(load_manifest(path, registry), store, registry=registry, **kw)
