from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from compressai.models import ScaleHyperprior

from licbench.cli import main
from licbench.errors import LicbenchError
from licbench.plugin.manager import load_registry
from licbench.train.codec import build_model, load_folder_images
from licbench.train.trainer import Objective, StepOutput, TrainConfig, Trainer

TINY = dict(steps=6, batch_size=2, patch_size=64, lr=1e-3, val_every=3, ckpt_every=3)


def train(image_dir: Path, out: Path, **kw) -> list[str]:
    args = [
        "train-codec",
        "--arch",
        "bmshj2018-hyperprior",
        "--N",
        "16",
        "--M",
        "24",
        "--quality",
        "3",
        "--data",
        str(image_dir),
        "--val",
        str(image_dir),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
        "--batch-size",
        "2",
        "--patch-size",
        "64",
        "--lr",
        "1e-3",
        "--ckpt-every",
        "3",
        "--val-every",
        "3",
    ]
    return args + [x for k, v in kw.items() for x in (f"--{k}", str(v))]


def test_train_codec_writes_a_compressai_checkpoint(image_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "hp.pth.tar"
    assert main(train(image_dir, out, steps=6)) == 0
    state = torch.load(out, weights_only=True)
    net = ScaleHyperprior.from_state_dict(state)  # CompressAI itself loads it
    assert net.N == 16 and net.M == 24
    assert (
        "entropy_bottleneck._quantized_cdf" in state
        and state["entropy_bottleneck._quantized_cdf"].numel() > 0
    )
    codec = load_registry().create("codec", "bmshj2018-hyperprior", quality=3, checkpoint=str(out))
    x = load_folder_images([str(image_dir)])[0]
    assert codec.decompress(codec.compress(x)).shape == x.shape
    assert (out.parent / "hp.pth.tar.json").is_file()


def test_resume_continues_exactly(image_dir: Path, tmp_path: Path) -> None:
    straight, split = tmp_path / "a.pth.tar", tmp_path / "b.pth.tar"
    assert main(train(image_dir, straight, steps=6)) == 0
    assert main(train(image_dir, split, steps=3)) == 0
    assert main([*train(image_dir, split, steps=6), "--resume"]) == 0
    a, b = torch.load(straight, weights_only=True), torch.load(split, weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    record = json.loads(split.with_name(split.name + ".json").read_text())
    assert (record["steps"], record["steps_this_session"]) == (6, 3)  # resumed at step 3


class NanAfter(Objective):
    def __init__(self, ok_steps: int) -> None:
        self.calls, self.ok = 0, ok_steps

    def parameter_groups(self, model):
        return {"codec": list(model.g_a.parameters())}

    def step(self, model, x) -> StepOutput:
        self.calls += 1
        loss = model(x)["x_hat"].mean()
        return StepOutput({"codec": loss * (float("nan") if self.calls > self.ok else 1.0)})


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(
    image_dir: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = build_model("bmshj2018-hyperprior", None, 16, 24)
    cfg = TrainConfig(**TINY)
    out = tmp_path / "x.pth.tar"
    trainer = Trainer(model, NanAfter(4), load_folder_images([str(image_dir)]), cfg, out)
    with pytest.raises(LicbenchError, match="training loss is not finite at step 5; stopped"):
        trainer.fit(progress=False)
    kept = torch.load(trainer.state_path, weights_only=False)
    assert kept["step"] == 3 and all(
        torch.isfinite(v).all() for v in kept["model"].values() if v.is_floating_point()
    )


def test_rate_distortion_training_lowers_the_loss(image_dir: Path, tmp_path: Path) -> None:
    from licbench.train.objectives import RateDistortion

    torch.manual_seed(0)
    model = build_model("bmshj2018-hyperprior", None, 16, 24)
    images = load_folder_images([str(image_dir)])
    cfg = TrainConfig(**{**TINY, "steps": 40, "val_every": 40, "ckpt_every": 40})
    trainer = Trainer(
        model, RateDistortion(0.013), images, cfg, tmp_path / "y.pth.tar", val_images=images
    )
    before = trainer.obj.validate(model.eval(), trainer.val)["loss"]
    after = trainer.fit(progress=False)["val_loss"]
    assert after < 0.8 * before


class CountsThreads(Objective):
    """Rate-distortion-free objective that notes the torch threads each step ran at."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def parameter_groups(self, model):
        return {"codec": list(model.g_a.parameters())}

    def step(self, model, x) -> StepOutput:
        self.seen.add(torch.get_num_threads())
        return StepOutput({"codec": model(x)["x_hat"].mean()})


def test_keyed_artifacts_train_at_a_fixed_thread_count(image_dir: Path, tmp_path: Path) -> None:
    """A keyed artifact's bytes must not depend on the machine's cores: ``cache.build``
    trains at TRAINING_THREADS whatever this process uses, records it, and restores the
    process's count; ``threads=None`` (train-codec) keeps the process's."""
    from licbench.threads import TRAINING_THREADS
    from licbench.train import cache

    images = load_folder_images([str(image_dir)])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for threads, expected in ((TRAINING_THREADS, TRAINING_THREADS), (None, 2)):
            torch.manual_seed(0)
            model, obj = build_model("bmshj2018-hyperprior", None, 16, 24), CountsThreads()
            out = tmp_path / f"{threads}.safetensors"
            cfg = TrainConfig(**{**TINY, "steps": 2})
            trainer = Trainer(model, obj, images, cfg, out)
            weights = {"w": torch.zeros(1)}
            build = {"progress": False, "threads": threads}
            cache.build(out, lambda: trainer, lambda _: weights, {}, **build)  # noqa: B023
            assert obj.seen == {expected}
            assert json.loads(cache.record_path(out).read_text())["threads"] == expected
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
