"""Trained artifacts as safetensors files, shipped artifacts, and what the device type adds
to keys (CUDA's numeric settings, the training device of an artifact)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from licbench.api.context import RunContext, numerics
from licbench.bench.manifest import load_manifest
from licbench.bench.prepare import Planner, expand
from licbench.checkpoint import load_tensors, load_tree, save_tree
from licbench.errors import LicbenchError
from licbench.plugin.manager import get_registry
from licbench.train import cache as artifact_cache


def test_artifact_tree_round_trips_through_safetensors(tmp_path: Path) -> None:
    shared = torch.arange(6.0)
    tree = {
        "format": "x/1",
        "config": {"steps": 3, "triggers": [{"label": "t", "eps": 0.5}], "none": None},
        "encoder": {
            "w": shared,
            "w_view": shared[:3],
            "i": torch.tensor([1, 2], dtype=torch.int64),
        },
        "pairs": [torch.ones(2, 2), "text"],
    }
    path = tmp_path / "a.safetensors"
    save_tree(tree, path)
    back = load_tree(path)
    assert back["config"] == tree["config"] and back["format"] == "x/1"
    assert torch.equal(back["encoder"]["w"], shared) and torch.equal(
        back["encoder"]["w_view"], shared[:3]
    )
    assert back["encoder"]["i"].dtype == torch.int64 and back["pairs"][1] == "text"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_a_crafted_safetensors_file_is_one_line_error(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    bad = tmp_path / "bad.safetensors"
    save_file({"x": torch.zeros(1)}, str(bad), metadata={"licbench-tree": '{"code": "os.system"}'})
    with pytest.raises(LicbenchError, match="not a readable thing .ValueError.; fix it"):
        load_tensors(bad, "thing", "fix it")
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(LicbenchError, match="not a readable thing"):
        load_tensors(bad, "thing", "fix it")


def test_shipped_artifacts_are_adopted_into_the_cache(tmp_path: Path, monkeypatch) -> None:
    shipped = tmp_path / "benchmarks" / "artifacts" / "fam"
    shipped.mkdir(parents=True)
    save_tree({"k": torch.ones(1)}, shipped / "abc.safetensors")
    (shipped / "abc.safetensors.json").write_text("{}")

    def shipped_artifact(family: str, name: str) -> Path | None:
        path = tmp_path / "benchmarks" / "artifacts" / family / name
        return path if path.is_file() else None

    monkeypatch.setattr(artifact_cache, "shipped_artifact", shipped_artifact)
    cache = tmp_path / "cache" / "fam" / "abc.safetensors"
    assert artifact_cache.adopt_shipped("fam", cache)
    assert torch.equal(load_tree(cache)["k"], torch.ones(1))
    assert (cache.parent / "abc.safetensors.json").is_file()
    assert not artifact_cache.adopt_shipped("fam", tmp_path / "cache" / "fam" / "other.safetensors")


FT = """\
name: ft
datasets: [{name: samples, limit: 1}]
codecs: [{name: bmshj2018-hyperprior-lite, qualities: [4]}]
defenses: [{name: adversarial-finetune, params: {steps: 2}}]
metrics: [bpp]
train_data: {name: samples}
val_data: {name: samples}
"""


def test_keys_carry_cuda_numerics_and_the_training_device(tmp_path: Path) -> None:
    assert numerics("cpu") == {} and numerics("cuda")["cudnn_deterministic"] is True
    (tmp_path / "m.yaml").write_text(FT)
    m = load_manifest(tmp_path / "m.yaml")
    reg = get_registry()
    cell = next(c for c in expand(m) if c.defense is not None)
    planned = {}
    for device in ("cpu", "cuda"):  # planned on the CPU, keyed for the device cells run on
        ctx = RunContext(torch.device("cpu"))
        planned[device] = Planner(m, reg, ctx, None, key_device=device).plan(cell)
    cpu, cuda = planned["cpu"], planned["cuda"]
    assert "numerics" not in cpu.payload and cuda.payload["numerics"] == numerics("cuda")
    assert cpu.key != cuda.key
    fake_cuda = RunContext(torch.device("meta"))  # a device type other than the CPU's
    defense = reg.create("defense", "adversarial-finetune", steps=2)
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    assert defense.recipe(codec, fake_cuda).key != cpu.recipes["defense"].key
