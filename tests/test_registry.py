from __future__ import annotations

import subprocess
import sys

import pytest

from licbench.errors import DuplicatePluginError, LicbenchError, UnknownPluginError
from licbench.plugin.hookspecs import KIND_HOOKS
from licbench.plugin.manager import build_plugin_manager, build_registry, get_registry
from licbench.plugin.registry import PluginEntry, Registry

KINDS = {"codec", "trigger", "attack", "defense", "metric", "dataset"}


def test_builtins_come_through_the_entry_point_group() -> None:
    reg = get_registry()
    assert KINDS <= set(reg.kinds) == set(KIND_HOOKS)
    for kind, name in [
        ("codec", "bmshj2018-hyperprior"),
        ("codec", "cheng2020-attn"),
        ("codec", "jpeg"),
        ("codec", "webp"),
        ("metric", "ms-ssim"),
        ("dataset", "samples"),
        ("dataset", "kodak"),
    ]:
        entry = reg.get(kind, name)
        assert entry.dist == "licbench", (kind, name, entry.dist)
        assert entry.version


def test_targets_are_lazy_until_used() -> None:
    reg = build_registry(*build_plugin_manager())
    entry = reg.get("codec", "jpeg")
    assert isinstance(entry.target, str) and ":" in entry.target
    cls = entry.load()
    assert cls.__name__ == "JpegCodec" and entry.target is cls


def test_unknown_name_suggests_nearest() -> None:
    with pytest.raises(UnknownPluginError, match="did you mean 'bmshj2018-hyperprior'"):
        get_registry().get("codec", "bmshj2018-hyperpior")


def test_duplicate_names_the_two_packages() -> None:
    reg = Registry(["codec"])
    reg.add(PluginEntry("codec", "x", "a:B", "pkg-one", "1"))
    with pytest.raises(DuplicatePluginError, match="pkg-one and by pkg-two"):
        reg.add(PluginEntry("codec", "x", "c:D", "pkg-two", "1"))


def test_broken_target_is_a_one_line_error() -> None:
    entry = PluginEntry("codec", "ghost", "no_such_module:Nope", "ghost-pkg", "0.1")
    with pytest.raises(LicbenchError, match="reinstall ghost-pkg"):
        entry.load()


def test_bad_param_is_a_one_line_error() -> None:
    with pytest.raises(LicbenchError, match="check its params"):
        get_registry().create("codec", "jpeg", quality=50, colour=True)


def test_cli_lists_every_kind_with_its_distribution() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "licbench.cli", "plugins"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in ["bmshj2018-factorized", "mbt2018", "jpeg", "bpp-estimate", "samples"]:
        line = next(ln for ln in out.splitlines() if f" {name} " in ln)
        assert "licbench 0.1.0" in line
