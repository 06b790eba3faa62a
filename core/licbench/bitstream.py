"""The licbench bitstream file: a typed header naming codec, quality and image size, then
the codec's payload, so that ``licbench decompress`` needs nothing else.

Layout (version 3; version 2, still read, lacks the header's device): ``b"LICB"``, a version
byte, a uint32 header length, the header as UTF-8 JSON, a uint32 payload length, the CRC-32
of header and payload, then the payload.
The header is validated against :class:`Header` before anything is built from it: it may
name only a registered codec (and defense) with the parameters their ``Params`` mark
``header_safe``, never a file path or a download (``checkpoint`` and ``pretrained`` come
from the command line alone), an artifact only by its content key inside the cache, and
its image size is bounded by the pixel limit (LICBENCH_MAX_PIXELS); its JSON is at most
``MAX_DEPTH`` deep.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from licbench.api.codec import Codec, Encoded
from licbench.errors import LicbenchError
from licbench.settings import DEFAULT_MAX_PIXELS

MAGIC = b"LICB"
VERSION = 3  # 3: the header may name the device type it was encoded on
READS = (2, 3)
MAX_DEPTH = 8  # of the header's JSON
TRUSTED_ONLY = ("checkpoint", "pretrained")  # what only the user may ask for
Plain = str | int | float | bool | None
ARTIFACT = {"family": r"[a-z0-9][a-z0-9_-]{0,63}", "key": r"[0-9a-f]{16,64}",
            "suffix": r"(\.[a-z0-9]{1,12}){0,2}"}  # fmt: skip


class DefenseHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100)
    params: dict[str, Plain] = Field(default_factory=dict)
    artifact: dict[str, str] | None = None

    @field_validator("artifact")
    @classmethod
    def _by_key(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        """An artifact is named by family and content key, never by a path."""
        if value is None:
            return value
        if set(value) - set(ARTIFACT) or not {"family", "key"} <= set(value):
            raise ValueError("an artifact is {family, key, suffix}")
        for k, v in value.items():
            if not re.fullmatch(ARTIFACT[k], v):
                raise ValueError(f"artifact {k} {v[:40]!r} is not a plain name")
        return value


class Header(BaseModel):
    """What a bitstream may say about itself."""

    model_config = ConfigDict(extra="forbid")
    codec: str = Field(max_length=100)
    quality: float
    params: dict[str, Plain] = Field(default_factory=dict)
    weights: str | None = Field(default=None, max_length=300)
    fingerprint: str = Field(default="", max_length=64)
    decoder_fingerprint: str = Field(default="", max_length=64)
    height: int = Field(ge=1, le=65_535)  # JPEG's limit: decoders allocate rows of a side
    width: int = Field(ge=1, le=65_535)
    meta: dict[str, Any] = Field(default_factory=dict)
    defense: DefenseHeader | None = None
    # the device type it was encoded on: a learned codec's decoder must recompute the
    # encoder's entropy parameters exactly, which is only certain on the same device type
    device: str | None = Field(default=None, pattern=r"^(cpu|cuda)$")


def _plain(params: dict[str, Any]) -> dict[str, Plain]:
    """Parameters a header may carry: scalars, minus what only the user may ask for (a
    decoder takes only its ``Params.header_safe`` ones: :func:`unsafe_params`)."""
    return {
        k: v
        for k, v in params.items()
        if k not in TRUSTED_ONLY and (v is None or isinstance(v, (str, int, float, bool)))
    }


def unsafe_params(given: dict[str, Any], params_model: Any) -> list[str]:
    """The keys of ``given`` that ``params_model`` does not mark header-safe."""
    safe = set(getattr(params_model, "header_safe", ()))
    return sorted(k for k in given if k not in safe or k in TRUSTED_ONLY)


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def header_of(codec: Codec, enc: Encoded) -> Header:
    spec = codec.spec()
    defense = spec.get("defense")
    if defense is not None:
        defense = {**defense, "params": _plain(defense.get("params", {}))}
    return Header.model_validate(
        {
            "codec": spec["codec"],
            "quality": spec["quality"],
            "params": _plain(spec.get("params", {})),
            "weights": spec.get("weights"),
            "fingerprint": codec.fingerprint(),
            "decoder_fingerprint": codec.decoder_fingerprint(),
            "height": enc.height,
            "width": enc.width,
            "meta": enc.meta,
            "defense": defense,
            "device": codec.device.type if codec.device.type in ("cpu", "cuda") else None,
        }
    )


def write_bitstream(path: Path, codec: Codec, enc: Encoded) -> int:
    """Write ``enc`` with a header from ``codec.spec()``; return the file size in bytes."""
    head = header_of(codec, enc).model_dump_json(exclude_none=True).encode()
    crc = zlib.crc32(head + enc.payload)
    data = MAGIC + struct.pack("<BI", VERSION, len(head)) + head
    data += struct.pack("<II", len(enc.payload), crc) + enc.payload
    Path(path).write_bytes(data)
    return len(data)


def _fail(path: Path, what: str) -> LicbenchError:
    return LicbenchError(f"{path}: {what}; re-encode the image with `licbench compress`")


def read_bitstream(
    path: Path, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[Header, Encoded]:
    """Parse and check a bitstream file into its header and :class:`Encoded` payload, of
    an image of at most ``max_pixels`` pixels (the settings' limit)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LicbenchError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    if data[:4] != MAGIC or len(data) < 9:
        raise LicbenchError(f"{path}: not a licbench bitstream; write one with `licbench compress`")
    version, n = struct.unpack_from("<BI", data, 4)
    if version not in READS:
        raise _fail(path, f"bitstream version {version}, this licbench reads {READS}")
    if len(data) < 17 + n:
        raise _fail(path, "truncated bitstream (the header is cut short)")
    head = data[9 : 9 + n]
    length, crc = struct.unpack_from("<II", data, 9 + n)
    payload = data[17 + n :]
    if len(payload) != length:
        raise _fail(path, f"payload of {len(payload)} bytes where the header says {length}")
    if zlib.crc32(head + payload) != crc:
        raise _fail(path, "checksum mismatch (the file is corrupt)")
    try:
        doc = json.loads(head)
        if _depth(doc) > MAX_DEPTH:
            raise _fail(path, f"header nested deeper than {MAX_DEPTH} levels")
        header = Header.model_validate(doc)
    except (ValueError, ValidationError, RecursionError) as exc:  # JSONDecodeError: ValueError
        raise _fail(path, f"malformed header ({type(exc).__name__})") from None
    if header.height * header.width > max_pixels:
        raise LicbenchError(
            f"{path}: a {header.width}x{header.height} image is over the {max_pixels}-pixel "
            "limit; raise LICBENCH_MAX_PIXELS if you trust the file"
        )
    return header, Encoded(payload, header.height, header.width, header.meta)
