from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from licbench.cli import main
from licbench.errors import LicbenchError
from licbench.images import load_image
from licbench.plugin.manager import load_registry
from licbench.rd import psnr_8bit


@pytest.mark.parametrize(
    "name,lo,hi",
    [("jpeg", 10, 90), ("webp", 10, 90), ("jpeg2000", 25, 40), ("avif", 20, 80),
     ("hevc", 10, 50), ("jpeg-xl", 1, 80)],
)  # fmt: skip
def test_classical_codecs_trade_rate_for_quality(
    name: str, lo: int, hi: int, image_dir: Path
) -> None:
    x = load_image(image_dir / "img0.png")
    out = {}
    for q in (lo, hi):
        codec = load_registry().create("codec", name, quality=q)
        enc = codec.compress(x)
        x_hat = codec.decompress(enc)
        assert x_hat.shape == x.shape
        out[q] = (enc.num_bits(), psnr_8bit(x, x_hat))
    assert out[lo][0] < out[hi][0] and out[lo][1] < out[hi][1]


def test_learned_codec_pads_any_size_and_crops_back(random_checkpoint: Path) -> None:
    codec = load_registry().create(
        "codec", "bmshj2018-hyperprior", quality=1, checkpoint=str(random_checkpoint)
    )
    x = torch.rand(1, 3, 77, 130)
    enc = codec.compress(x)
    assert (enc.height, enc.width) == (77, 130)
    x_hat = codec.decompress(enc)
    assert x_hat.shape == x.shape
    assert enc.num_bits() == 8 * (len(enc.payload) - 1 - 4 * 2)  # strings minus lengths
    assert codec.estimate_bits(x) > 0


def test_checkpoint_errors_are_one_line(tmp_path: Path, random_checkpoint: Path) -> None:
    reg = load_registry()
    with pytest.raises(LicbenchError, match=r"checkpoint .*nope.pth not found"):
        reg.create("codec", "mbt2018-mean", quality=1, checkpoint=str(tmp_path / "nope.pth"))
    with pytest.raises(LicbenchError, match=r"not a mbt2018 checkpoint .* name the arch"):
        reg.create("codec", "mbt2018", quality=1, checkpoint=str(random_checkpoint))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(LicbenchError, match="not a readable PyTorch checkpoint"):
        reg.create("codec", "bmshj2018-hyperprior", quality=1, checkpoint=str(garbage))


def test_pretrained_offline_failure_says_how_to_pass_a_checkpoint(monkeypatch) -> None:
    import torch.hub

    def offline(*a, **k):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr("compressai.zoo.image.load_state_dict_from_url", offline)
    with pytest.raises(LicbenchError) as err:
        load_registry().create("codec", "cheng2020-anchor", quality=3, pretrained=True)
    msg = str(err.value)
    assert "checkpoint: PATH" in msg and "\n" not in msg


def test_zoo_quality_range_is_checked() -> None:
    with pytest.raises(LicbenchError, match="zoo qualities are 1..6, not 7"):
        load_registry().create("codec", "cheng2020-attn", quality=7)


@pytest.mark.parametrize(
    "codec_args",
    [["--codec", "jpeg", "--quality", "60"], ["--codec", "hevc", "--quality", "30"],
     ["--codec", "jpeg-xl", "--quality", "40"],
     ["--codec", "bmshj2018-hyperprior", "--quality", "1"]],
)
def test_compress_decompress_files(
    tmp_path: Path, image_dir: Path, random_checkpoint: Path, codec_args: list[str]
) -> None:
    learned = "bmshj2018-hyperprior" in codec_args
    weights = ["--checkpoint", str(random_checkpoint)] if learned else []
    codec_args = [*codec_args, *weights]
    src, bin_, rec = image_dir / "img1.png", tmp_path / "x.bin", tmp_path / "rec.png"
    assert main(["compress", str(src), str(bin_), *codec_args, "--device", "cpu"]) == 0
    head = bin_.read_bytes()
    assert head[:4] == b"LICB" and b'"checkpoint"' not in head  # the header names no file
    if weights:  # the weights come from the command line, never from the header
        assert main(["decompress", str(bin_), str(rec), "--device", "cpu"]) == 2
    assert main(["decompress", str(bin_), str(rec), "--device", "cpu", *weights]) == 0
    x, x_rec = load_image(src), load_image(rec)
    assert x_rec.shape == x.shape
    # the file decodes to what the codec object itself reconstructs
    reg = load_registry()
    name, q = codec_args[1], float(codec_args[3])
    params = {"checkpoint": codec_args[5]} if len(codec_args) > 4 else {}
    codec = reg.create("codec", name, quality=int(q), **params)
    expected = codec.decompress(codec.compress(x))
    assert psnr_8bit(expected, x_rec) == math.inf


def test_decompress_refuses_other_weights(
    tmp_path: Path, image_dir: Path, random_checkpoint: Path
) -> None:
    from compressai.zoo import bmshj2018_hyperprior

    bin_ = tmp_path / "x.bin"
    main(
        [
            "compress",
            str(image_dir / "img0.png"),
            str(bin_),
            "--codec",
            "bmshj2018-hyperprior",
            "--quality",
            "1",
            "--checkpoint",
            str(random_checkpoint),
        ]
    )
    torch.manual_seed(1)
    other = tmp_path / "other.pth"
    torch.save(bmshj2018_hyperprior(quality=1).state_dict(), other)
    assert main(["decompress", str(bin_), str(tmp_path / "r.png"), "--checkpoint", str(other)]) == 2
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"hello")
    assert main(["decompress", str(bad), str(tmp_path / "r.png")]) == 2


def test_eval_json_reports_per_image_and_mean(image_dir: Path, capsys) -> None:
    assert (
        main(["eval", "--codec", "webp", "--quality", "50", "--data", str(image_dir), "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in out["images"]] == ["img0", "img1", "img2"]
    for key in ("bpp", "psnr", "ms-ssim", "encode-seconds", "decode-seconds"):
        mean = sum(r[key] for r in out["images"]) / 3
        assert out["mean"][key] == pytest.approx(mean)


@pytest.mark.parametrize(
    "name",
    ["bmshj2018-hyperprior-lite", "mbt2018-mean-lite", "cheng2020-anchor",
     "bmshj2018-factorized", "cheng2020-attn"],
)  # fmt: skip
@pytest.mark.slow
def test_large_images_are_coded_in_bands_with_the_same_result(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Banded g_a/g_s (large images, no gradient) give the whole-image bitstream and output."""
    from licbench_builtin.codecs import strips

    codec = load_registry().create("codec", name, quality=2)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 700, 256, generator=gen)
    x = torch.nn.functional.avg_pool2d(x, 5, 1, 2)  # smoother, more like a photo
    whole = codec.compress(x)
    x_whole = codec.decompress(whole)
    est_whole = codec.estimate_bits(x)

    calls: list[tuple[int, int]] = []
    real = strips.banded
    monkeypatch.setattr(strips, "MIN_PIXELS", 0)
    monkeypatch.setattr(strips, "BAND_PIXELS", 48 * 256)

    def spy(forward: object, x: torch.Tensor, scale: float, rows: int, step: int) -> object:
        calls.append((rows, step))
        return real(forward, x, scale, rows, step)  # type: ignore[arg-type]

    monkeypatch.setattr(strips, "banded", spy)
    split = codec.compress(x)
    assert split.payload == whole.payload
    assert len(calls) == 1 and calls[0][1] == 48  # g_a ran in bands of 48 rows
    x_split = codec.decompress(split)
    assert len(calls) == 2 and (x_split - x_whole).abs().max() < 1e-5
    assert codec.estimate_bits(x) == pytest.approx(est_whole, rel=1e-6)
    assert len(calls) == 4  # its g_a and g_s
    with strips.bands(codec.model, 16), torch.enable_grad():  # attacks: the whole image
        codec.model.g_a(x.requires_grad_(True)).sum().backward()
    assert len(calls) == 4 and "forward" not in vars(codec.model.g_a)


def test_an_autoregressive_codec_entropy_codes_on_a_cpu_copy_of_its_weights() -> None:
    """On a GPU, mbt2018's serial context loop codes on a CPU copy that follows the model's
    weights; the bitstream is the one a CPU run writes. Other models code where they are."""
    reg = load_registry()
    codec = reg.create("codec", "mbt2018", quality=1)  # seeded random weights
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    on_cpu = codec.compress(x).payload
    codec.device = torch.device("cuda")  # as on a GPU; the test keeps the weights here
    coder, where = codec.coder()
    assert where.type == "cpu" and coder is not codec.model
    assert codec.compress(x).payload == on_cpu
    with torch.no_grad():  # weights changed after the copy (a backdoor, a fine-tune)
        codec.model.g_a[0].weight.mul_(1.5)
    again, _ = codec.coder()
    assert again is coder and torch.equal(again.g_a[0].weight, codec.model.g_a[0].weight)
    plain = reg.create("codec", "bmshj2018-hyperprior-lite", quality=2)
    plain.device = torch.device("cuda")
    assert plain.coder()[0] is plain.model and not plain.autoregressive
