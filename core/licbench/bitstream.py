"""The licbench bitstream file: a small header naming codec, quality and image size, then
the codec's payload, so that ``licbench decompress`` needs nothing else.

Layout: ``b"LICB"``, a version byte, a uint32 header length, the header as UTF-8 JSON,
then the payload bytes.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from licbench.api.codec import Codec, Encoded
from licbench.errors import LicbenchError

MAGIC = b"LICB"
VERSION = 1


def write_bitstream(path: Path, codec: Codec, enc: Encoded) -> int:
    """Write ``enc`` with a header from ``codec.spec()``; return the file size in bytes."""
    header: dict[str, Any] = {
        **codec.spec(),
        "fingerprint": codec.fingerprint(),
        "decoder_fingerprint": codec.decoder_fingerprint(),
        "height": enc.height,
        "width": enc.width,
        "meta": enc.meta,
    }
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    data = MAGIC + struct.pack("<BI", VERSION, len(head)) + head + enc.payload
    Path(path).write_bytes(data)
    return len(data)


def read_bitstream(path: Path) -> tuple[dict[str, Any], Encoded]:
    """Parse a bitstream file into its header and :class:`Encoded` payload."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LicbenchError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    if data[:4] != MAGIC or len(data) < 9:
        raise LicbenchError(f"{path}: not a licbench bitstream; write one with `licbench compress`")
    version, n = struct.unpack_from("<BI", data, 4)
    if version != VERSION:
        raise LicbenchError(f"{path}: bitstream version {version}, this licbench reads {VERSION}")
    try:
        header = json.loads(data[9 : 9 + n])
    except ValueError as exc:
        raise LicbenchError(f"{path}: corrupt bitstream header; re-encode the image") from exc
    enc = Encoded(data[9 + n :], header["height"], header["width"], header.get("meta", {}))
    return header, enc
