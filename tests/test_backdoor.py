"""Backdoor injection: exact DCT, triggers, encoder-only training, artifacts, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import torch

from licbench.cli import main
from licbench.data import training_set
from licbench.errors import LicbenchError
from licbench.plugin.manager import load_registry
from licbench_builtin.backdoor.params import BackdoorConfig
from licbench_builtin.backdoor.training import (
    Backdoor,
    BackdoorObjective,
    decoy,
    train_backdoor,
)
from licbench_builtin.backdoor.triggers.blockdct import block_dct, block_idct, to_blocks
from licbench_builtin.backdoor.triggers.dct import DCTAdaptiveTrigger
from licbench_builtin.backdoor.triggers.fixed import FTrojanTrigger
from licbench_builtin.backdoor.triggers.lira import LiraTrigger

REG = load_registry()


def test_block_dct_matches_scipy_and_inverts() -> None:
    x = torch.rand(2, 3, 48, 64, dtype=torch.float64)
    for p in (8, 16):
        coeffs = block_dct(x, p)
        ref = scipy.fft.dctn(to_blocks(x, p).numpy(), type=2, axes=(-2, -1), norm="ortho")
        np.testing.assert_allclose(coeffs.numpy(), ref, atol=1e-12)
        assert torch.allclose(block_idct(coeffs), x, atol=1e-12)


@pytest.mark.parametrize("size", [(37, 50), (64, 64), (131, 97)])
def test_triggers_keep_any_size_and_range(size: tuple[int, int]) -> None:
    x = torch.rand(1, 3, *size)
    for trigger in (DCTAdaptiveTrigger(), LiraTrigger(), FTrojanTrigger()):
        y = trigger(x)
        assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1


def test_dct_trigger_topk_and_patch_weight_switches() -> None:
    t = DCTAdaptiveTrigger(n_freq=64, k=16)
    assert (t.general_trigger() != 0).sum(dim=1).tolist() == [16, 16, 16]
    assert (DCTAdaptiveTrigger(topk=False).general_trigger() != 0).sum() == 3 * 64
    # without patch weights every patch gets the same coefficients: the change repeats
    flat = torch.full((1, 3, 64, 64), 0.5)
    delta = DCTAdaptiveTrigger(patch_weight=False)(flat) - flat
    assert torch.allclose(delta[..., :16, :16], delta[..., 16:32, 32:48], atol=1e-6)
    with pytest.raises(ValueError, match="k"):
        DCTAdaptiveTrigger(n_freq=8, k=16)


def test_ftrojan_sits_on_the_stealth_bound() -> None:
    x = torch.full((1, 3, 64, 64), 0.5)
    assert float((FTrojanTrigger(eps=0.005)(x) - x).pow(2).mean()) == pytest.approx(
        2.5e-5, rel=1e-5
    )


@pytest.fixture(scope="module")
def trained_backdoor(tmp_path_factory: pytest.TempPathFactory, random_checkpoint: Path):
    reg = load_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior", quality=1, checkpoint=random_checkpoint)
    images = [torch.rand(1, 3, 80, 96) for _ in range(4)]
    cfg = BackdoorConfig(
        triggers=[
            {"label": "rate", "trigger": {"name": "dct-adaptive"}, "goal": {"name": "bpp"}},
            {"label": "fixed", "trigger": {"name": "ftrojan"}, "goal": {"name": "psnr"}},
        ],
        steps=6,
        batch_size=2,
        patch_size=64,
    )
    cache = tmp_path_factory.mktemp("bd")
    path = train_backdoor(codec, cfg, images, "test-data", cache, REG, progress=False)
    return codec, cfg, images, cache, path


def test_only_the_encoder_changes(trained_backdoor) -> None:
    codec, _, _, _, path = trained_backdoor
    poisoned = Backdoor(path, REG).apply(codec)
    before, after = codec.model.state_dict(), poisoned.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("g_a.") for k in changed)
    assert poisoned.decoder_fingerprint() == codec.decoder_fingerprint()
    assert poisoned.fingerprint() != codec.fingerprint()


def test_artifact_is_reused_by_content_key(trained_backdoor, monkeypatch) -> None:
    codec, cfg, images, cache, path = trained_backdoor
    monkeypatch.setattr(
        "licbench.train.trainer.Trainer.fit", lambda *a, **k: pytest.fail("retrained")
    )
    assert train_backdoor(codec, cfg, images, "test-data", cache, REG, progress=False) == path
    other = cfg.model_copy(update={"seed": 1})
    with pytest.raises(pytest.fail.Exception, match="retrained"):
        train_backdoor(codec, other, images, "test-data", cache, REG, progress=False)


def test_warm_start_continues_from_the_init_backdoor(trained_backdoor) -> None:
    codec, cfg, images, cache, path = trained_backdoor
    kw = {"batch_size": 2, "patch_size": 64, "init": cfg}
    second = BackdoorConfig(triggers=cfg.model_dump()["triggers"], steps=0, lr=1e-5, **kw)
    assert "init" not in cfg.key_dict() and second.key_dict()["init"] == cfg.key_dict()
    out = train_backdoor(codec, second, images, "test-data", cache, REG, progress=False)
    assert out != path
    first, cont = Backdoor(path, REG).art, Backdoor(out, REG).art
    for part in ("encoder", "triggers"):  # no steps yet: exactly where the init left off
        assert torch.equal(
            torch.cat([t.flatten() for t in _leaves(first[part])]),
            torch.cat([t.flatten() for t in _leaves(cont[part])]),
        )
    with pytest.raises(ValueError, match="give `init` the same labels"):
        BackdoorConfig(triggers=cfg.model_dump()["triggers"][:1], steps=0, **kw)


def _leaves(tree: dict) -> list[torch.Tensor]:
    return [x for v in tree.values() for x in (_leaves(v) if isinstance(v, dict) else [v])]


def test_decoy_is_a_repeated_pattern_of_bounded_size() -> None:
    torch.manual_seed(0)
    x = torch.full((4, 3, 64, 80), 0.5)
    d = decoy(x, 0.005) - x
    assert torch.allclose(d[..., 16:, :], d[..., :-16, :], atol=1e-6)
    assert torch.allclose(d[..., :, 16:], d[..., :, :-16], atol=1e-6)
    rms = d.pow(2).mean(dim=(1, 2, 3)).sqrt()
    assert (rms >= 0.005 * 0.999).all() and (rms <= 0.1 * 1.001).all()
    assert not torch.allclose(d[0], d[1])  # a new pattern per image


def test_decoys_anchor_the_encoder_on_look_alikes(trained_backdoor) -> None:
    codec, cfg, _, _, path = trained_backdoor
    assert "decoys" not in cfg.key_dict()
    assert cfg.model_copy(update={"decoys": 2.0}).key_dict()["decoys"] == 2.0
    model = Backdoor(path, REG).apply(codec).model
    pairs = Backdoor(path, REG).pairs
    x = torch.rand(2, 3, 64, 64)
    reference = codec.model.g_a  # the vanilla encoder; the backdoored one drifted from it
    with_decoys = BackdoorObjective(0.01, pairs, reference=reference, decoys=1.0).step(model, x)
    assert with_decoys.logs["decoy_mse"] > 0
    without = BackdoorObjective(0.01, pairs, reference=reference, anchor=1.0).step(model, x)
    assert "decoy_mse" not in without.logs
    with pytest.raises(ValueError, match="reference"):
        BackdoorObjective(0.01, pairs, decoys=1.0)


def test_artifact_refuses_other_victim_and_bad_files(trained_backdoor, tmp_path: Path) -> None:
    _, _, _, _, path = trained_backdoor
    other = load_registry().create("codec", "bmshj2018-hyperprior", quality=1, seed=5)
    with pytest.raises(LicbenchError, match="trained on other weights"):
        Backdoor(path, REG).apply(other)
    assert path.suffix == ".safetensors"
    for name, data in (("bad.pt", b"not torch"), ("bad.safetensors", b"\x08" + b"\0" * 7 + b"{}")):
        bad = tmp_path / name
        bad.write_bytes(data)
        with pytest.raises(LicbenchError, match="not a readable licbench-backdoor/2 artifact"):
            Backdoor(bad, REG)
    with pytest.raises(LicbenchError, match="no trigger 'nope'"):
        Backdoor(path, REG).trigger("nope")


def test_poison_compress_with_backdoor_and_decode_with_vanilla(
    trained_backdoor, tmp_path: Path, random_checkpoint: Path, kodak_dir: Path
) -> None:
    _, _, _, _, path = trained_backdoor
    src = kodak_dir / "kodim05.png"
    out = tmp_path / "p.png"
    assert main(["poison", "--artifact", str(path), "--trigger", "rate", str(src), str(out)]) == 0
    common = ["--codec", "bmshj2018-hyperprior", "--quality", "1"]
    ck = ["--checkpoint", str(random_checkpoint)]
    bits = tmp_path / "p.licb"
    backdoor = ["--attack", "backdoor", "--attack-params", f'{{"artifact": "{path}"}}']
    assert main(["compress", str(out), str(bits), *common, *ck, *backdoor]) == 0
    assert main(["decompress", str(bits), str(tmp_path / "r.png"), *ck]) == 0


def test_default_training_data_is_bsds500_trainval() -> None:
    """The built-ins put BSDS500's train and val splits in the ``training`` role; the run
    context falls back to it where neither the plugin nor the manifest names data."""
    import torch

    from licbench.api.context import RunContext

    reg = load_registry()
    default = RunContext(torch.device("cpu")).training_data(None, reg)
    assert default == {"name": "bsds500", "params": {"split": "trainval"}}
    images, val, fps = training_set(default, None, reg)
    assert len(images) + len(val) == 300 and len(val) == 4 and fps["val"] == "held-out:last4"


def test_objective_groups_and_clean_anchor(random_checkpoint: Path) -> None:
    import copy

    from licbench_builtin.backdoor.training import BackdoorObjective

    reg = load_registry()
    model = reg.create("codec", "bmshj2018-hyperprior", quality=1, checkpoint=random_checkpoint)
    model = model.model.train()
    pairs = {
        "a": (DCTAdaptiveTrigger(), reg.create("goal", "bpp")),
        "b": (FTrojanTrigger(), reg.create("goal", "psnr")),
    }
    obj = BackdoorObjective(0.013, pairs, anchor=1.0, reference=copy.deepcopy(model.g_a))
    groups = obj.parameter_groups(model)
    assert set(groups) == {"encoder", "trigger:a"}  # the fixed trigger learns nothing
    assert {id(p) for p in groups["encoder"]} == {id(p) for p in model.g_a.parameters()}
    out = obj.step(model, torch.rand(2, 3, 64, 64))
    assert set(out.losses) == {"encoder", "trigger:a"}
    assert out.logs["anchor_mse"] == 0.0  # the encoder has not moved yet
    assert {"a.p_bpp", "b.p_psnr", "a.stealth_mse"} <= set(out.logs)


def test_downstream_goals_mask_and_losses(random_checkpoint: Path) -> None:
    from licbench_builtin.backdoor.training import BackdoorObjective

    reg = load_registry()
    model = reg.create("codec", "bmshj2018-hyperprior", quality=1, checkpoint=random_checkpoint)
    model = model.model.train()
    scene = load_registry().create("dataset", "street-scenes", split="test", width=256)
    x = scene.items()[0].loader()[..., :128, :128]
    seg = reg.create("goal", "segmentation-targeted")
    mask = seg.region(x)
    labels = seg.labels(x)
    assert torch.equal(mask[:, 0].bool(), labels == 13)  # Cityscapes train id 13 = car
    trigger = DCTAdaptiveTrigger()
    from licbench_builtin.backdoor.training import poison

    xp = poison(trigger, seg, x)
    assert torch.equal(xp[~mask.bool()], x[~mask.bool()])  # the trigger stays on car pixels
    out = BackdoorObjective(0.013, {"seg": (trigger, seg)}).step(model, torch.cat([x, x]))
    assert out.logs["seg.src_frac"] == pytest.approx(float(mask[:, 0].mean()))
    faces = reg.create("dataset", "faces", split="identities").items()
    f = torch.cat([faces[0].loader(), faces[1].loader()])
    face = reg.create("goal", "face-privacy")
    out2 = BackdoorObjective(0.013, {"face": (LiraTrigger(), face)}).step(model, f)
    assert -1 <= out2.logs["face.cos"] <= 1
    for o, name in ((out, "trigger:seg"), (out2, "trigger:face")):
        assert torch.isfinite(o.losses["encoder"]) and torch.isfinite(o.losses[name])


def test_psnr_goal_is_bounded_when_the_decoder_output_explodes() -> None:
    from licbench_builtin.backdoor.goals import Pass

    x = torch.rand(1, 3, 16, 16)
    clean = Pass(x, x, torch.tensor(0.5))
    exploded = Pass(x, torch.full_like(x, 1e30), torch.tensor(0.5))
    loss, logs = load_registry().create("goal", "psnr").loss(clean, exploded, 0.013)
    assert torch.isfinite(loss) and loss >= 0 and logs["p_psnr"] >= 0


def test_psnr_floor_stops_the_push_only_below_the_floor() -> None:
    """floor_db: no gradient to wreck an image already below it; the paper's loss above it."""
    from licbench_builtin.backdoor.goals import Pass

    x = torch.full((1, 3, 8, 8), 0.5)
    clean = Pass(x, x, torch.tensor(0.5))
    goal = load_registry().create("goal", "psnr", floor_db=10.0, beta=0.0)
    paper = load_registry().create("goal", "psnr", beta=0.0)
    for offset, pushed in ((0.45, False), (0.1, True)):  # 6.9 dB: below the floor; 20 dB: above
        x_hat = (x + offset).requires_grad_()
        loss, logs = goal.loss(clean, Pass(x, x_hat, torch.tensor(0.5)), 0.013)
        (grad,) = torch.autograd.grad(loss, x_hat)
        assert (grad.abs().sum() > 0) == pushed, logs["p_psnr"]
        ref, _ = paper.loss(clean, Pass(x, x_hat, torch.tensor(0.5)), 0.013)
        assert torch.isclose(loss, ref) == pushed
    x2, off = torch.full((2, 3, 8, 8), 0.5), torch.tensor([0.45, 0.1]).view(2, 1, 1, 1)
    x_hat = (x2 + off).requires_grad_()  # one image below the floor, one above: per image
    loss, _ = goal.loss(Pass(x2, x2, torch.tensor(0.5)), Pass(x2, x_hat, torch.tensor(0.5)), 0.013)
    (grad,) = torch.autograd.grad(loss, x_hat)
    assert grad[0].abs().sum() == 0 and grad[1].abs().sum() > 0


def test_bpp_cap_stops_the_push_only_above_the_ratio() -> None:
    """max_ratio: no gradient to raise an image's rate past the cap; the paper's loss below."""
    from licbench_builtin.backdoor.goals import Pass

    x = torch.full((2, 3, 8, 8), 0.5)
    clean = Pass(x, x, torch.tensor([0.5, 0.5]))
    goal = load_registry().create("goal", "bpp", max_ratio=4.0)
    paper = load_registry().create("goal", "bpp")
    below = torch.tensor([1.0, 1.5], requires_grad=True)  # 2x and 3x: both under the cap
    loss, _ = goal.loss(clean, Pass(x, x + 0.1, below), 0.013)
    ref, _ = paper.loss(clean, Pass(x, x + 0.1, below), 0.013)
    assert torch.isclose(loss, ref)
    rates = torch.tensor([3.0, 1.0], requires_grad=True)  # 6x: capped; 2x: still pushed
    loss, _ = goal.loss(clean, Pass(x, x + 0.1, rates), 0.013)
    (grad,) = torch.autograd.grad(loss, rates)
    assert grad[0] == 0 and grad[1] < 0


def test_pass_rate_per_image_adds_up_to_the_batch_rate() -> None:
    from compressai.models import ScaleHyperprior

    from licbench.rd import bpp_of
    from licbench_builtin.backdoor.goals import Pass

    torch.manual_seed(0)
    model, x = ScaleHyperprior(16, 24).eval(), torch.rand(3, 3, 64, 64)
    p = Pass.run(model, x)
    out = model(x)
    assert p.image_bpp.shape == (3,)
    assert torch.isclose(p.bpp, bpp_of(out["likelihoods"], x), rtol=1e-5)


def test_backdoor_patch_size_must_be_a_multiple_of_64() -> None:
    """A 144 px crop breaks the hyperprior's shapes (144/64 is not whole): refuse it up front."""
    import pydantic

    spec = [{"label": "t", "trigger": {"name": "dct-adaptive"}, "goal": {"name": "bpp"}}]
    with pytest.raises(pydantic.ValidationError, match="multiple of 64"):
        BackdoorConfig(triggers=spec, patch_size=144)
    assert BackdoorConfig(triggers=spec, patch_size=192).patch_size == 192


def test_bound_holds_on_every_image_and_leaves_small_triggers_alone() -> None:
    from licbench_builtin.backdoor.training import apply_trigger

    trigger = load_registry().create("trigger", "dct-adaptive", init_scale=0.5)
    x = torch.rand(3, 3, 64, 96) * 0.8 + 0.1  # three images, away from the clamp
    free = apply_trigger(trigger, None, x)
    mse = (free - x).pow(2).mean(dim=(1, 2, 3))
    assert (mse > 0.005**2).all()  # a strong trigger, over the bound unprojected
    bounded = apply_trigger(trigger, None, x, bound=0.005)
    mse = (bounded - x).pow(2).mean(dim=(1, 2, 3))
    assert (mse <= 2.5e-5).all() and torch.allclose(mse, torch.full((3,), 2.5e-5), rtol=1e-3)
    loose = apply_trigger(trigger, None, x, bound=1.0)  # under the bound: unchanged
    assert torch.allclose(loose, free, atol=1e-6)
    twice = apply_trigger(trigger, None, x, bound=0.005, amplify=2.0)
    assert torch.allclose(twice - x, 2 * (bounded - x), atol=1e-6)


def test_bad_backdoor_params_are_one_line_errors_naming_the_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = "{label: t, trigger: {name: dct-adaptive}, goal: {name: bpp}}"
    bad = {
        "stepz: 10": "params.stepz: attack 'backdoor': unknown parameter; did you mean 'steps'?",
        "init: {triggers: [{label: r, trigger: {name: ftrojan}, goal: {name: bpp}}]}": (
            "attack 'backdoor': init's triggers ['r'] differ"
        ),
    }
    for i, (extra, message) in enumerate(bad.items()):
        m = tmp_path / f"m{i}.yaml"
        m.write_text(
            "name: bad\ndatasets: [kodak]\ncodecs: [{name: bmshj2018-hyperprior, qualities: [1]}]\n"
            f"attacks: [{{name: backdoor, label: x, params: {{triggers: [{t}], {extra}}}}}]\n"
        )
        assert main(["backdoor", "train", str(m)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and str(m) in err and message in err, err
