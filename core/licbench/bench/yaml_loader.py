"""Manifest YAML with line numbers: every key's file and line, includes merged.

A manifest may ``include`` other manifests (paths relative to it); keys in the including
file override included ones, mappings merge and lists replace.

A manifest is untrusted input, so loading is bounded: a file must be a regular file of at
most ``MAX_BYTES`` (never a device or a FIFO), an include a relative path, and the
document at most ``MAX_NODES`` nodes after expanding aliases (an alias bomb is refused
before it is expanded) and ``MAX_DEPTH`` levels deep. Every refusal is one
:class:`LicbenchError` that names the file.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from licbench.errors import LicbenchError
from licbench.plugin.params import Loc

MAX_BYTES = 1 << 20  # 1 MiB per file
MAX_NODES = 50_000  # after alias expansion, all included files together
MAX_DEPTH = 50
MAX_INCLUDES = 64


class _Budget:
    """Nodes left to construct, shared by a manifest and its includes."""

    def __init__(self) -> None:
        self.nodes = MAX_NODES
        self.files = MAX_INCLUDES

    def take(self, n: int, file: Path) -> None:
        self.nodes -= n
        if self.nodes < 0:
            raise LicbenchError(
                f"{file}: more than {MAX_NODES} YAML nodes after expanding aliases (an alias "
                "bomb?); write the manifest out plainly"
            )


def _sizes(node: yaml.Node, file: Path, memo: dict[int, int], depth: int = 0) -> int:
    """The node count of ``node`` with every alias expanded, computed without expanding
    (a shared node is counted once per use from its memoised size)."""
    if depth > MAX_DEPTH:
        raise LicbenchError(f"{file}: YAML nested more than {MAX_DEPTH} levels; flatten it")
    found = memo.get(id(node))
    if found is not None:
        return found
    if isinstance(node, yaml.MappingNode):
        n = 1 + sum(_sizes(k, file, memo, depth + 1) + _sizes(v, file, memo, depth + 1)
                    for k, v in node.value)  # fmt: skip
    elif isinstance(node, yaml.SequenceNode):
        n = 1 + sum(_sizes(v, file, memo, depth + 1) for v in node.value)
    else:
        n = 1
    memo[id(node)] = min(n, 10 * MAX_NODES)
    return memo[id(node)]


def _scalar(node: yaml.Node, file: Path) -> Any:
    try:
        return yaml.safe_load(yaml.serialize(node))
    except ValueError as exc:  # e.g. an integer of 5,000 digits
        raise LicbenchError(
            f"{file}:{node.start_mark.line + 1}: unreadable value ({str(exc)[:60]}); "
            "write a plain number or string"
        ) from None


def _construct(node: yaml.Node, file: Path, loc: Loc, lines: dict[Loc, tuple[Path, int]]) -> Any:
    lines[loc] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: explicit keys win
                merged = _construct(value_node, file, loc, lines)
                for part in merged if isinstance(merged, list) else [merged]:
                    if not isinstance(part, dict):
                        raise LicbenchError(
                            f"{file}:{key_node.start_mark.line + 1}: `<<` merges a mapping; "
                            "point it at an anchored mapping"
                        )
                    out = {**part, **out}
                continue
            key = _scalar(key_node, file)
            if not isinstance(key, (str, int)):
                raise LicbenchError(
                    f"{file}:{key_node.start_mark.line + 1}: a key must be a plain name"
                )
            lines[(*loc, key)] = (file, key_node.start_mark.line + 1)
            out[key] = _construct(value_node, file, (*loc, key), lines)
            lines[(*loc, key)] = (file, key_node.start_mark.line + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(n, file, (*loc, i), lines) for i, n in enumerate(node.value)]
    return _scalar(node, file)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_text(path: Path, what: str = "manifest") -> str:
    """A small regular file's text; anything else (a device, a FIFO, a folder, a huge or
    unreadable file) is a one-line error, checked before reading."""
    try:
        info = path.stat()
    except OSError as exc:
        raise LicbenchError(
            f"{path}: cannot read {what} ({exc.strerror}); check the path"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise LicbenchError(f"{path}: not a regular file; a {what} is a YAML file")
    if info.st_size > MAX_BYTES:
        raise LicbenchError(
            f"{path}: {info.st_size} bytes, over the {MAX_BYTES}-byte limit of a {what}; "
            "split it with include"
        )
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
        return data[:MAX_BYTES].decode("utf-8")
    except OSError as exc:
        raise LicbenchError(
            f"{path}: cannot read {what} ({exc.strerror}); check the path"
        ) from None
    except UnicodeDecodeError:
        raise LicbenchError(f"{path}: not UTF-8 text; save the {what} as UTF-8") from None


def read_yaml(
    path: Path,
    lines: dict[Loc, tuple[Path, int]],
    _seen: tuple[Path, ...] = (),
    _budget: _Budget | None = None,
) -> Any:
    """Load a manifest file and its includes, filling ``lines`` with key locations."""
    path, budget = Path(path), _budget or _Budget()
    if path.resolve() in _seen:
        raise LicbenchError(f"{path}: include cycle through {_seen[-1]}; remove one include")
    budget.files -= 1
    if budget.files < 0:
        raise LicbenchError(f"{path}: more than {MAX_INCLUDES} included files; merge some")
    text = read_text(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise LicbenchError(f"{path}{where}: {problem}; fix the YAML syntax") from exc
    except RecursionError:
        raise LicbenchError(f"{path}: YAML nested too deeply; flatten it") from None
    own: dict[Loc, tuple[Path, int]] = {}
    if node is not None:
        budget.take(_sizes(node, path, {}), path)
    data = _construct(node, path, (), own) if node is not None else {}
    if not isinstance(data, dict):
        raise LicbenchError(f"{path}:1: a manifest is a mapping of keys (name, datasets, ...)")
    includes = data.pop("include", [])
    if not isinstance(includes, (str, list)):
        raise LicbenchError(f"{path}: include takes a file name or a list of them")
    merged: dict[str, Any] = {}
    for inc in [includes] if isinstance(includes, str) else includes:
        if not isinstance(inc, str) or Path(inc).is_absolute() or not inc:
            raise LicbenchError(f"{path}: include {inc!r}: name a file relative to this manifest")
        if not (path.parent / inc).exists():
            raise LicbenchError(f"{path}: include {inc!r} not found beside it; fix the name")
        found = read_yaml(path.parent / inc, lines, (*_seen, path.resolve()), budget)
        if not isinstance(found, dict):
            raise LicbenchError(f"{path.parent / inc}:1: an included manifest is a mapping")
        merged = _merge(merged, found)
    lines.update(own)
    return _merge(merged, data)
