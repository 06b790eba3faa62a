"""Trained artifacts as safetensors files, shipped artifacts, and what the device type adds
to keys (CUDA's numeric settings, the training device of an artifact)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from licbench.api.codec import Codec, Encoded
from licbench.api.context import RunContext, numerics
from licbench.bench.cells import expand
from licbench.bench.checker import load_manifest
from licbench.bench.plan import Planner
from licbench.bench.run import Runner
from licbench.bench.store import ResultStore
from licbench.checkpoint import load_tensors, load_tree, save_tree
from licbench.errors import LicbenchError
from licbench.plugin.hookspecs import hookimpl
from licbench.plugin.manager import build_plugin_manager, build_registry, load_registry
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
    m = load_manifest(tmp_path / "m.yaml", load_registry())
    reg = load_registry()
    cell = next(c for c in expand(m) if c.defense is not None)
    planned = {}
    for device in ("cpu", "cuda"):  # planned on the CPU, keyed for the device cells run on
        ctx = RunContext(torch.device("cpu"))
        planned[device] = Planner(m, reg, ctx, None, key_device=device).plan(cell)
    cpu, cuda = planned["cpu"], planned["cuda"]
    assert "numerics" not in cpu.payload and cuda.payload["numerics"] == numerics("cuda")
    assert cpu.key != cuda.key
    assert cuda.recipes["defense"].key != cpu.recipes["defense"].key  # keyed where it trains
    fake_cuda = RunContext(torch.device("meta"))  # a device type other than the CPU's
    defense = reg.create("defense", "adversarial-finetune", steps=2)
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    assert defense.recipe(codec, fake_cuda).key != cpu.recipes["defense"].key


class _OutOfMemory(Codec):
    """A codec whose quality 2 runs out of (GPU) memory."""

    name = "oom"

    def compress(self, x: torch.Tensor) -> Encoded:
        if self.quality == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return Encoded(b"\0" * 10, x.shape[-2], x.shape[-1])

    def decompress(self, enc: Encoded) -> torch.Tensor:
        return torch.zeros(1, 3, enc.height, enc.width)


class _OomPlugin:
    @staticmethod
    @hookimpl
    def register_codecs(register: Any) -> None:
        register("oom", _OutOfMemory)


def test_out_of_memory_is_reported_as_such_and_the_run_goes_on(tmp_path: Path) -> None:
    reg = build_registry(*build_plugin_manager({"oom-plugin": _OomPlugin()}))
    (tmp_path / "m.yaml").write_text(
        "name: oom\ndatasets: [{name: samples, limit: 1}]\n"
        "codecs: [{name: oom, qualities: [1, 2, 3]}]\nmetrics: [bpp]\n"
    )
    store = ResultStore(str(tmp_path / "r.db"))
    m = load_manifest(tmp_path / "m.yaml", reg)
    summary = Runner(m, store, device="cpu", progress=False, registry=reg).run()
    assert (summary.done, summary.failed) == (2, 1)
    error = store.frame("cells").set_index("quality").error[2.0]
    assert error.startswith("out of memory on cpu: OutOfMemoryError: CUDA out of memory")


def test_ray_honours_device_cpu_when_gpus_are_reserved() -> None:
    from licbench.api.executor import Resources

    ray_executor = load_registry().create("executor", "ray")
    assert ray_executor.device("cpu", Resources(gpus=1)).type == "cpu"
    assert ray_executor.device("auto", Resources(gpus=1)).type == "cuda"
    assert ray_executor.device("auto", Resources()).type == "cpu"
    with pytest.raises(LicbenchError, match="needs `resources: {gpus: N}`"):
        ray_executor.device("cuda", Resources())


def test_one_downstream_model_per_device() -> None:
    """A model used on another device is its own copy: the CPU callers' stays on the CPU."""
    from licbench_builtin.backdoor.goals_downstream import downstream

    reg = load_registry()
    cpu = downstream(reg, "mobilefacenet")
    other = downstream(reg, "mobilefacenet", "meta")  # any device other than the CPU's
    assert other is not cpu and downstream(reg, "mobilefacenet", "cpu") is cpu
    assert next(cpu.parameters()).device.type == "cpu"
    assert next(other.parameters()).device.type == "meta"
    x = torch.rand(1, 3, 256, 256)
    assert cpu(x).device.type == "cpu"  # still usable after the other copy was made
