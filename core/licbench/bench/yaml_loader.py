"""Manifest YAML with line numbers: every key's file and line, includes merged.

A manifest may ``include`` other manifests (paths relative to it); keys in the including
file override included ones, mappings merge and lists replace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from licbench.errors import LicbenchError
from licbench.plugin.params import Loc


def _construct(node: yaml.Node, file: Path, loc: Loc, lines: dict[Loc, tuple[Path, int]]) -> Any:
    lines[loc] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: explicit keys win
                merged = _construct(value_node, file, loc, lines)
                for part in merged if isinstance(merged, list) else [merged]:
                    out = {**part, **out}
                continue
            key = yaml.safe_load(yaml.serialize(key_node))
            lines[(*loc, key)] = (file, key_node.start_mark.line + 1)
            out[key] = _construct(value_node, file, (*loc, key), lines)
            lines[(*loc, key)] = (file, key_node.start_mark.line + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(n, file, (*loc, i), lines) for i, n in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: Path, lines: dict[Loc, tuple[Path, int]], _seen: tuple[Path, ...] = ()) -> Any:
    """Load a manifest file and its includes, filling ``lines`` with key locations."""
    path = Path(path)
    if path.resolve() in _seen:
        raise LicbenchError(f"{path}: include cycle through {_seen[-1]}; remove one include")
    try:
        text = path.read_text()
    except OSError as exc:
        msg = f"{path}: cannot read manifest ({exc.strerror}); check the path"
        raise LicbenchError(msg) from exc
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise LicbenchError(f"{path}{where}: {problem}; fix the YAML syntax") from exc
    own: dict[Loc, tuple[Path, int]] = {}
    data = _construct(node, path, (), own) if node is not None else {}
    if not isinstance(data, dict):
        raise LicbenchError(f"{path}:1: a manifest is a mapping of keys (name, datasets, ...)")
    includes = data.pop("include", [])
    merged: dict[str, Any] = {}
    for inc in [includes] if isinstance(includes, str) else includes:
        merged = _merge(merged, read_yaml(path.parent / inc, lines, (*_seen, path.resolve())))
    lines.update(own)
    return _merge(merged, data)
