"""The shipped CPU codecs: registered, offline, small, and decoding exactly what they encode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from licbench.errors import LicbenchError
from licbench.images import crop, load_image, pad
from licbench.plugin.manager import load_registry
from licbench.rd import DOWNSAMPLING as PAD_DIV
from licbench_builtin.codecs import WEIGHTS_DIR, lite_qualities

SHIPPED = [
    (arch, q)
    for arch in ("bmshj2018-hyperprior", "mbt2018-mean", "cheng2020-anchor")
    for q in lite_qualities(arch)
]


def test_required_lite_codecs_are_shipped_small_and_registered() -> None:
    for arch in ("bmshj2018-hyperprior", "mbt2018-mean"):
        assert lite_qualities(arch) == [2, 4, 6]
    reg = load_registry()
    for arch, q in SHIPPED:
        path = WEIGHTS_DIR / f"{arch}-lite-q{q}.pth.tar"
        assert path.stat().st_size <= 10 * 2**20
        assert Path(str(path) + ".json").is_file()  # how it was trained
        assert q in reg.get("codec", f"{arch}-lite").meta["qualities"]


def test_lite_codec_loads_offline_and_rejects_unshipped_quality(monkeypatch) -> None:
    import socket

    def no_network(*a, **k):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", no_network)
    codec = load_registry().create("codec", "bmshj2018-hyperprior-lite", quality=4)
    assert codec.spec() == {
        "codec": "bmshj2018-hyperprior-lite",
        "quality": 4,
        "params": {},
        "weights": "shipped:bmshj2018-hyperprior-lite-q4.pth.tar",
    }
    with pytest.raises(LicbenchError, match=r"ships qualities \[2, 4, 6\], not 3"):
        load_registry().create("codec", "bmshj2018-hyperprior-lite", quality=3)


@pytest.mark.slow
@pytest.mark.parametrize("arch,quality", SHIPPED)
def test_decode_is_exact_and_deterministic_on_every_kodak_image(
    arch: str, quality: int, kodak_dir: Path
) -> None:
    """compress -> decompress equals forward() with rounding; a second run gives the same bytes."""
    codec = load_registry().create("codec", f"{arch}-lite", quality=quality)
    images = sorted(kodak_dir.glob("*.png"))
    assert len(images) == 24
    for path in images:
        x = load_image(path)
        enc = codec.compress(x)
        x_hat = codec.decompress(enc)
        xp, unpad = pad(x, PAD_DIV)
        with torch.no_grad():
            forward = crop(codec.model(xp)["x_hat"].clamp(0, 1), unpad)
        assert torch.equal(x_hat, forward), path.name
        assert codec.compress(x).payload == enc.payload, path.name
