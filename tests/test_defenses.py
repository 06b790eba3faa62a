"""Defenses wrap a codec and are codecs: pre-processing filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from licbench.api.defense import DefendedCodec
from licbench.bench.store import ResultStore
from licbench.cli import main
from licbench.images import load_image
from licbench.leaderboard.view import Results
from licbench.plugin.manager import load_registry


def test_preprocess_defenses_filter_and_pass_gradients() -> None:
    reg = load_registry()
    x = torch.rand(1, 3, 40, 56, requires_grad=True)
    blur = reg.create("defense", "gaussian-blur", sigma=1.5).transform()
    y = blur.forward(x)
    assert y.shape == x.shape
    assert (y[..., 1:] - y[..., :-1]).abs().mean() < (x[..., 1:] - x[..., :-1]).abs().mean() / 3
    squeeze = reg.create("defense", "bit-squeeze", bits=3).transform()
    s = squeeze.forward(x)
    assert len(torch.unique(s.detach())) <= 8
    jpeg = reg.create("defense", "jpeg-purify", quality=30).transform()
    for t in (blur, squeeze, jpeg):
        (g,) = torch.autograd.grad(t.forward(x).sum(), x)
        assert g.abs().sum() > 0  # straight-through where the operation is not differentiable


def test_defended_codec_round_trips_through_a_bitstream_file(
    tmp_path: Path, kodak_dir: Path
) -> None:
    src = kodak_dir / "kodim23.png"
    bits, rec = tmp_path / "b.licb", tmp_path / "r.png"
    reg = load_registry()
    codec = reg.create("codec", "jpeg", quality=80)
    defended = reg.create("defense", "bit-squeeze", bits=4).wrap(codec, None)
    assert isinstance(defended, DefendedCodec) and defended.family == "jpeg"
    x = load_image(src)
    x_hat = defended.decompress(defended.compress(x))
    assert x_hat.shape == x.shape
    from licbench.bitstream import write_bitstream

    write_bitstream(bits, defended, defended.compress(x))
    assert main(["decompress", str(bits), str(rec)]) == 0
    assert torch.equal(load_image(rec), load_image_roundtrip(x_hat))


def load_image_roundtrip(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round() / 255


def test_defenses_in_a_manifest_matrix(tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    m.write_text(
        "name: defended\ndatasets: [{name: samples, limit: 2}]\n"
        "codecs: [{name: jpeg, qualities: [50]}]\n"
        "defenses: [{name: gaussian-blur, params: {sigma: 2.0}}, bit-squeeze, jpeg-purify]\n"
        "metrics: [bpp, psnr-clean]\n"
    )
    db = tmp_path / "r.db"
    assert main(["run", str(m), "--db", str(db), "--no-progress"]) == 0
    means = Results(ResultStore(str(db))).means
    assert set(means.defense) == {"none", "gaussian-blur", "bit-squeeze", "jpeg-purify"}
    blurred = means[means.defense == "gaussian-blur"]
    clean = means[means.defense == "none"]
    assert float(blurred["bpp"].iloc[0]) < float(clean["bpp"].iloc[0])  # blur removes detail


def test_random_transforms_invert_exactly_without_resampling() -> None:
    from licbench_builtin.defenses.randomized import RandomTransform

    x = torch.rand(1, 3, 37, 52)
    for d in range(8):
        t = RandomTransform(d=d, dy=5, dx=9)
        y = t.forward(x)
        assert torch.equal(t.inverse(y, (37, 52)), x)
    stretched = RandomTransform(d=3, sh=20, sw=7, dy=2, dx=4)
    back = stretched.inverse(stretched.forward(x), (37, 52))
    assert back.shape == x.shape and (back - x).abs().mean() < 0.1


def test_two_way_picks_the_lower_loss_repeatably_and_decodes_from_the_file(
    tmp_path: Path, kodak_dir: Path
) -> None:
    reg = load_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    defense = reg.create("defense", "two-way")
    defended = defense.wrap(codec, None)
    x = load_image(kodak_dir / "kodim15.png")[..., :192, :256]
    enc = defended.compress(x)
    identity_loss, other_loss = defense.last_losses
    chosen = enc.meta["transform"]
    is_identity = all(v == 0 for v in chosen.values())
    assert is_identity == (identity_loss <= other_loss)
    from licbench.bench.evaluate import code_image

    choices = []
    choose = defense.transform_for
    defense.transform_for = lambda c, y: choices.append(y) or choose(c, y)
    try:
        y = x.clone()
        code_image(defended, y)  # encode, decode and rate estimate: one choice
        y[..., 0, 0, 0] = 1 - y[..., 0, 0, 0]  # the same tensor, changed: chosen again
        code_image(defended, y)
        code_image(defended, y)
    finally:
        defense.transform_for = choose
    assert len(choices) == 2
    assert defended.compress(x).payload == enc.payload  # seeded per image
    from licbench.bitstream import write_bitstream

    bits, rec = tmp_path / "t.licb", tmp_path / "t.png"
    write_bitstream(bits, defended, enc)
    assert main(["decompress", str(bits), str(rec)]) == 0
    assert torch.equal(load_image(rec), load_image_roundtrip(defended.decompress(enc)))


def test_randomized_defense_is_scored_over_draws_with_mean_and_worst(tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    m.write_text(
        "name: draws\ndatasets: [{name: samples, limit: 2, crop: 96}]\n"
        "codecs: [{name: bmshj2018-hyperprior-lite, qualities: [2]}]\n"
        "defenses: [input-randomization]\nclean: false\ndraws: 3\nmetrics: [bpp, psnr]\n"
    )
    db = tmp_path / "r.db"
    assert main(["run", str(m), "--db", str(db), "--no-progress"]) == 0
    scores = (
        ResultStore(str(db))
        .frame("scores")
        .pivot_table(index="image", columns="metric", values="value")
    )
    assert len(scores) == 2
    assert (scores["bpp@worst"] >= scores["bpp"]).all()
    assert (scores["psnr@worst"] <= scores["psnr"]).all()
    # three different transforms per image: the worst draw is strictly worse than the mean
    assert (scores["bpp@worst"] > scores["bpp"]).any()
    one = ResultStore(str(db)).frame("cells")
    assert json.loads(one.config.iloc[0])["draws"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("params", [{}, {"max_stretch": 4, "max_shift": 4}])
def test_two_way_is_never_worse_than_the_bare_codec_on_clean_images(
    params: dict[str, int], kodak_dir: Path
) -> None:
    """Property over 40 seeded random 100×100 crops of Kodak: two-way's rate-distortion loss
    (the estimate it decides on) is at most the bare codec's, and with real bitstreams it is
    worse by no more than the entropy coder's few bytes of overhead. The paper's transform
    set rarely beats the identity on a clean crop; small stretches and shifts often do, so
    the property is also tested where it is not vacuous."""
    from licbench.rd import lmbda_for
    from licbench_builtin.defenses.randomized import RandomTransform, path_loss

    reg = load_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=2)
    defended = reg.create("defense", "two-way", **params).wrap(codec, None)
    lmbda = lmbda_for(2)
    gen = torch.Generator().manual_seed(0)
    images = sorted(kodak_dir.glob("*.png"))
    picked_other = 0
    for i in range(40):
        x = load_image(images[i % len(images)])
        top = int(torch.randint(x.shape[-2] - 100, (1,), generator=gen))
        left = int(torch.randint(x.shape[-1] - 100, (1,), generator=gen))
        x = x[..., top : top + 100, left : left + 100]
        t = defended.choose(x)
        assert path_loss(codec, x, t, lmbda) <= path_loss(codec, x, RandomTransform(), lmbda)
        picked_other += not t.is_identity
        real = []
        for c in (codec, defended):
            enc = c.compress(x)
            mse = float(torch.mean((c.decompress(enc).clamp(0, 1) - x) ** 2))
            real.append(enc.num_bits() / x[0, 0].numel() + lmbda * 255**2 * mse)
        assert real[1] <= real[0] + 64 / x[0, 0].numel()  # at most 8 bytes more than bare
    if params:
        assert picked_other >= 5  # not vacuous: the other path won on these crops


def test_adversarial_finetune_trains_once_and_decodes_from_the_file(
    tmp_path: Path, image_dir: Path, kodak_dir: Path
) -> None:
    from licbench.api.context import RunContext
    from licbench.bitstream import write_bitstream
    from licbench.settings import Settings
    from licbench_builtin.defenses.adv_finetune import AdversarialRD

    reg = load_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=2)
    x = load_image(kodak_dir / "kodim05.png")[..., :64, :64]
    # the FGSM-RS step of the objective really raises the rate of the batch it attacks
    logs = AdversarialRD(lmbda=0.0035, eps=4 / 255).step(codec.model.train(), x).logs
    codec.model.eval()
    assert logs["adv_bpp"] > logs["bpp"]
    train = {"name": "folder", "params": {"path": str(image_dir)}}
    defense = reg.create(
        "defense", "adversarial-finetune", train_data=train, steps=4, batch_size=2, patch_size=64
    )
    ctx = RunContext(torch.device("cpu"), 0, Settings.from_env())  # the test's own cache
    recipe = defense.recipe(codec, ctx)
    path = defense.train(codec, ctx, recipe)  # the prepare stage's work
    files = list((ctx.cache_dir / "adv-finetune").glob("*.safetensors"))
    assert files == [path] == [recipe.location(ctx.cache_dir)]
    record = json.loads(path.with_name(path.name + ".json").read_text())
    assert record["steps"] == 4 and record["validation"]  # validated, on held-out images
    assert 0 < record["cpu_seconds_this_session"] and record["threads"] >= 1  # for estimates
    assert record["steps_this_session"] == 4  # one session, from step 0
    tuned = defense.wrap(defense.load(codec, path), ctx)
    assert tuned.fingerprint() != codec.fingerprint()  # the whole codec was tuned
    stamp = files[0].stat().st_mtime_ns
    again = defense.train(codec, ctx, defense.recipe(codec, ctx))  # found, not retrained
    assert files[0].stat().st_mtime_ns == stamp and again == path
    enc = tuned.compress(x)
    bits, rec = tmp_path / "a.licb", tmp_path / "a.png"
    write_bitstream(bits, tuned, enc)
    assert main(["decompress", str(bits), str(rec)]) == 0
    assert torch.equal(load_image(rec), load_image_roundtrip(tuned.decompress(enc)))
