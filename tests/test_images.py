from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from licbench.errors import LicbenchError
from licbench.images import load_image
from licbench.plugin.manager import load_registry


def test_modes_are_converted_with_a_logged_note(tmp_path: Path, caplog) -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([gray] * 3 + [gray])).save(tmp_path / "rgba.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    with caplog.at_level(logging.WARNING, logger="licbench"):
        for name in ("gray", "rgba", "deep"):
            x = load_image(tmp_path / f"{name}.png")
            assert x.shape == (1, 3, 40, 50)
            assert np.allclose(x[0, 0].numpy() * 255, gray, atol=0.51)
    text = caplog.text
    assert "gray.png: converted grayscale" in text and "alpha dropped" in text
    assert "deep.png: converted I;16" in text or "deep.png: converted I" in text


def test_corrupt_image_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(LicbenchError, match=r"broken.png: cannot read image .* remove it"):
        load_image(bad)


def test_folder_dataset_is_sorted_and_deterministic(tmp_path: Path) -> None:
    for name in ("b.png", "a.jpg", "sub/c.tif"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("x")
    ds = load_registry().create("dataset", "folder", path=str(tmp_path))
    assert [i.name for i in ds.items()] == ["a", "b", "sub/c"]
    assert ds.fingerprint() == ds.fingerprint()
    with pytest.raises(LicbenchError, match="does not exist"):
        load_registry().create("dataset", "folder", path=str(tmp_path / "nope")).items()


def test_samples_dataset_is_embedded() -> None:
    ds = load_registry().create("dataset", "samples")
    items = ds.items()
    assert len(items) >= 6 and all(i.loader().shape[1] == 3 for i in items)


def test_kodak_from_local_folder_is_verified(kodak_dir: Path, tmp_path: Path) -> None:
    ds = load_registry().create("dataset", "kodak")
    assert [i.name for i in ds.items()][:2] == ["kodim01", "kodim02"] and len(ds.items()) == 24
    partial = tmp_path / "kodak"
    partial.mkdir()
    (partial / "kodim01.png").write_bytes((kodak_dir / "kodim01.png").read_bytes())
    with pytest.raises(LicbenchError, match="expected the 24 Kodak images"):
        load_registry().create("dataset", "kodak", path=str(partial)).items()


def test_images_faithfully(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """EXIF orientation is applied and logged; 16-bit RGB is noted; a.png and a.jpg keep
    distinct names; an image over the pixel limit is refused before it is decoded."""
    caplog.set_level(logging.WARNING, logger="licbench")
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90° clockwise
    Image.fromarray(arr).save(tmp_path / "a.jpg", exif=exif, quality=95)
    x = load_image(tmp_path / "a.jpg")
    assert tuple(x.shape[-2:]) == (40, 20) and float(x[0, :, :5].mean()) > 0.9  # top is white
    assert "EXIF orientation 6" in caplog.text
    png16(tmp_path / "a.png", (np.arange(16 * 16 * 3).reshape(16, 16, 3) * 300).astype(np.uint16))
    caplog.clear()
    assert load_image(tmp_path / "a.png").shape == (1, 3, 16, 16)
    assert "converted 16-bit RGB to 8 bits" in caplog.text
    folder = load_registry().create("dataset", "folder", path=str(tmp_path))
    names = [i.name for i in folder.items()]
    assert names == ["a.jpg", "a.png"]


def test_pixel_limit_refuses_before_decoding(tmp_path: Path) -> None:
    Image.new("RGB", (300, 200)).save(tmp_path / "big.png")
    with pytest.raises(LicbenchError, match="300x200 is over the 50000-pixel limit"):
        load_image(tmp_path / "big.png", max_pixels=50000)


def png16(path: Path, arr: np.ndarray) -> None:
    """A 16-bit RGB PNG, written by hand (Pillow writes 8-bit RGB only)."""
    import struct
    import zlib

    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
