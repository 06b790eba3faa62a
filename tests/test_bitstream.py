"""The bitstream format: a typed, checksummed header that names no file and triggers no
download, and a fuzz test over real streams of every codec family."""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

import pytest

from licbench.cli import main

STREAMS = {
    "jpeg": ["--codec", "jpeg", "--quality", "50"],
    "webp": ["--codec", "webp", "--quality", "50"],
    "hyperprior": ["--codec", "bmshj2018-hyperprior-lite", "--quality", "2"],
    "mean-scale": ["--codec", "mbt2018-mean-lite", "--quality", "2"],
    "two-way": ["--codec", "bmshj2018-hyperprior-lite", "--quality", "2", "--defense", "two-way"],
}


@pytest.fixture
def streams(tmp_path: Path, image_dir: Path) -> dict[str, bytes]:
    from licbench.images import load_image, save_image

    src = tmp_path / "src.png"
    save_image(load_image(sorted(image_dir.glob("*.png"))[0])[..., :80, :96], src)
    out = {}
    for name, args in STREAMS.items():
        path = tmp_path / f"{name}.licb"
        assert main(["compress", str(src), str(path), *args, "--device", "cpu"]) == 0
        out[name] = path.read_bytes()
    return out


def split(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack_from("<I", data, 5)
    return json.loads(data[9 : 9 + n]), data[17 + n :]


def join(header: dict, payload: bytes) -> bytes:
    """A stream with a valid length and checksum: only the content is hostile."""
    head = json.dumps(header).encode()
    crc = zlib.crc32(head + payload)
    return (
        b"LICB"
        + struct.pack("<BI", 2, len(head))
        + head
        + struct.pack("<II", len(payload), crc)
        + payload
    )


def decode(data: bytes, tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path, out = tmp / "case.licb", tmp / "case.png"
    path.write_bytes(data)
    capsys.readouterr()
    rc = main(["decompress", str(path), str(out), "--device", "cpu"])
    return rc, capsys.readouterr().err.strip()


def test_real_streams_decode_and_name_no_path(
    streams: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, data in streams.items():
        header, _ = split(data)
        assert "checkpoint" not in json.dumps(header) and "pretrained" not in header["params"]
        assert decode(data, tmp_path, capsys) == (0, ""), name


LEARNED = ("hyperprior", "two-way")


def with_shape(meta: dict, shape: list[int]) -> dict:
    """The stream's latent shape replaced (inside a defense's metadata, if defended)."""
    if "inner" in meta:
        return {**meta, "inner": with_shape(meta["inner"], shape)}
    return {**meta, "shape": shape}


HOSTILE = {
    "path in params": lambda h: {**h, "params": {"checkpoint": "/etc/passwd"}},
    "download": lambda h: {**h, "params": {"pretrained": True}},
    "huge image": lambda h: {**h, "height": 60000, "width": 60000},
    "latent shape": lambda h: {**h, "meta": with_shape(h["meta"], [40, 40])},
    "no height": lambda h: {k: v for k, v in h.items() if k != "height"},
    "unknown codec": lambda h: {**h, "codec": "nosuch"},
    "bad quality": lambda h: {**h, "quality": 99},
    "extra key": lambda h: {**h, "exec": "rm -rf /"},
    "nested params": lambda h: {**h, "params": {"metric": {"path": "/x"}}},
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_headers_are_one_line_errors(
    case: str,
    streams: dict[str, bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LICBENCH_MAX_PIXELS", "1000000")
    for name in LEARNED if case == "latent shape" else ("jpeg", *LEARNED):
        header, payload = split(streams[name])
        rc, err = decode(join(HOSTILE[case](header), payload), tmp_path, capsys)
        assert rc == 2 and err.startswith("licbench: error:") and "\n" not in err, (name, err)


@pytest.mark.slow
def test_fuzzed_streams_never_traceback(
    streams: dict[str, bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1,250 mutated or truncated real streams: raw mutations (the checksum catches them),
    and payload and transform mutations behind a recomputed checksum (the decoders must
    catch them) for the codecs whose decoders check their input."""
    monkeypatch.setenv("LICBENCH_MAX_PIXELS", "1000000")
    rng = random.Random(0)
    outcomes = {0: 0, 2: 0}
    for i in range(1250):
        name = list(streams)[i % len(streams)]
        data = bytearray(streams[name])
        kind = rng.choice(["flip", "truncate", "insert", "refit"])
        if kind == "flip":
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == "truncate":
            del data[rng.randrange(len(data)) :]
        elif kind == "insert":
            at = rng.randrange(len(data))
            data[at:at] = rng.randbytes(rng.randint(1, 16))
        else:  # valid checksum: hostile content reaches the decoder
            header, payload = split(bytes(data))
            if name in ("jpeg", "webp"):
                payload = bytearray(payload)
                for _ in range(rng.randint(1, 8)):
                    payload[rng.randrange(len(payload))] = rng.randrange(256)
                payload = bytes(payload[: rng.randint(0, len(payload))])
            elif name == "two-way":
                header["meta"]["transform"] = {"d": rng.randint(-2, 9), "sh": 10**9}
            else:
                payload = payload[: rng.randint(0, len(payload) - 1)]
            data = bytearray(join(header, payload))
        rc, err = decode(bytes(data), tmp_path, capsys)
        assert rc in (0, 2), (i, kind, name, err)
        assert rc == 0 or (err.startswith("licbench: error:") and "\n" not in err), (i, err)
        outcomes[rc] += 1
    assert outcomes[2] > 1000, outcomes  # nearly every mutation is refused, none crashes
