"""Defenses wrap a codec and are codecs: pre-processing filters."""

from __future__ import annotations

from pathlib import Path

import torch

from licbench.cli import main
from licbench.defended import DefendedCodec
from licbench.images import load_image
from licbench.leaderboard import load_means
from licbench.manager import get_registry
from licbench.store import ResultStore


def test_preprocess_defenses_filter_and_pass_gradients() -> None:
    reg = get_registry()
    x = torch.rand(1, 3, 40, 56, requires_grad=True)
    blur = reg.create("defense", "gaussian-blur", sigma=1.5).transform
    y = blur.forward(x)
    assert y.shape == x.shape
    assert (y[..., 1:] - y[..., :-1]).abs().mean() < (x[..., 1:] - x[..., :-1]).abs().mean() / 3
    squeeze = reg.create("defense", "bit-squeeze", bits=3).transform
    s = squeeze.forward(x)
    assert len(torch.unique(s.detach())) <= 8
    jpeg = reg.create("defense", "jpeg-purify", quality=30).transform
    for t in (blur, squeeze, jpeg):
        (g,) = torch.autograd.grad(t.forward(x).sum(), x)
        assert g.abs().sum() > 0  # straight-through where the operation is not differentiable


def test_defended_codec_round_trips_through_a_bitstream_file(
    tmp_path: Path, kodak_dir: Path
) -> None:
    src = kodak_dir / "kodim23.png"
    bits, rec = tmp_path / "b.licb", tmp_path / "r.png"
    reg = get_registry()
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
    means, _, _ = load_means(ResultStore(str(db)))
    assert set(means.defense) == {"none", "gaussian-blur", "bit-squeeze", "jpeg-purify"}
    blurred = means[means.defense == "gaussian-blur"]
    clean = means[means.defense == "none"]
    assert float(blurred["bpp"].iloc[0]) < float(clean["bpp"].iloc[0])  # blur removes detail


def test_random_transforms_invert_exactly_without_resampling() -> None:
    from licbench.plugins.defense_randomized import RandomTransform

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
    reg = get_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    defense = reg.create("defense", "two-way")
    defended = defense.wrap(codec, None)
    x = load_image(kodak_dir / "kodim15.png")[..., :192, :256]
    enc = defended.compress(x)
    identity_loss, other_loss = defense.last_losses
    chosen = enc.meta["transform"]
    is_identity = all(v == 0 for v in chosen.values())
    assert is_identity == (identity_loss <= other_loss)
    assert defended.compress(x).payload == enc.payload  # seeded per image
    from licbench.bitstream import write_bitstream

    bits, rec = tmp_path / "t.licb", tmp_path / "t.png"
    write_bitstream(bits, defended, enc)
    assert main(["decompress", str(bits), str(rec)]) == 0
    assert torch.equal(load_image(rec), load_image_roundtrip(defended.decompress(enc)))
