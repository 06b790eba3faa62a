"""The typed registry: entry points, lazy targets, base classes per kind, typed params,
misspelt hooks, duplicates and suggestions."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from licbench import hookimpl
from licbench.api.codec import Codec
from licbench.api.metric import Metric
from licbench.errors import DuplicatePluginError, LicbenchError, UnknownPluginError
from licbench.plugin.hookspecs import KINDS
from licbench.plugin.manager import build_plugin_manager, build_registry, load_registry
from licbench.plugin.registry import Registry

CORE_KINDS = {
    "codec",
    "trigger",
    "goal",
    "attack",
    "defense",
    "metric",
    "dataset",
    "downstream",
    "executor",
}


def test_builtins_come_through_the_entry_point_group() -> None:
    reg = load_registry()
    assert set(reg.kinds) == set(KINDS) == CORE_KINDS
    for kind, name in [
        ("codec", "bmshj2018-hyperprior"),
        ("codec", "cheng2020-attn"),
        ("codec", "jpeg"),
        ("executor", "ray"),
        ("metric", "ms-ssim"),
        ("dataset", "kodak"),
        ("goal", "bpp"),
        ("trigger", "dct-adaptive"),
    ]:
        entry = reg.get(kind, name)
        assert entry.dist == "licbench", (kind, name, entry.dist)
        assert entry.version


def test_every_builtin_subclasses_its_base_and_declares_params() -> None:
    """Loading checks the base class and the Params model of each kind."""
    for entry in load_registry().entries():
        cls = entry.load()
        assert issubclass(cls, entry.base), entry.name
        assert entry.params_model.model_config.get("extra") == "forbid", entry.name


def test_targets_are_lazy_until_used() -> None:
    reg = build_registry(*build_plugin_manager())
    entry = reg.get("codec", "jpeg")
    assert isinstance(entry.target, str) and ":" in entry.target
    cls = entry.load()
    assert cls.__name__ == "JpegCodec" and entry.target is cls


def test_unknown_name_suggests_nearest() -> None:
    with pytest.raises(UnknownPluginError, match="did you mean 'bmshj2018-hyperprior'"):
        load_registry().get("codec", "bmshj2018-hyperpior")


def test_duplicate_names_the_two_packages() -> None:
    reg = Registry({"codec": Codec})
    reg.add("codec", "x", "a:B", "pkg-one", "1")
    with pytest.raises(DuplicatePluginError, match="pkg-one and by pkg-two"):
        reg.add("codec", "x", "c:D", "pkg-two", "1")


def test_broken_target_is_a_one_line_error() -> None:
    reg = Registry({"codec": Codec})
    entry = reg.add("codec", "ghost", "no_such_module:Nope", "ghost-pkg", "0.1")
    with pytest.raises(LicbenchError, match="reinstall ghost-pkg"):
        entry.load()


def test_wrong_base_class_names_the_package() -> None:
    """A metric registered as a codec is refused when it registers (class) or loads (lazy)."""
    reg = Registry({"codec": Codec, "metric": Metric})
    with pytest.raises(LicbenchError, match=r"registered by pkg-x .* not a subclass of .*Codec"):
        reg.add("codec", "oops", Metric, "pkg-x")
    lazy = reg.add("codec", "oops2", "licbench_builtin.metrics.image:Psnr", "pkg-y")
    with pytest.raises(LicbenchError, match="registered by pkg-y .* not a subclass"):
        lazy.load()


def test_params_that_would_accept_unknown_keys_are_refused_at_registration() -> None:
    """A plain pydantic model ignores unknown keys silently; a licbench Params refuses them."""
    from pydantic import BaseModel

    class Loose(Codec):
        name = "loose"

        class Params(BaseModel):  # type: ignore[assignment]
            quality: float = 1

        def compress(self, x):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def decompress(self, enc):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    reg = Registry({"codec": Codec})
    with pytest.raises(LicbenchError, match=r"registered by pkg-l: its `Params` is not a licbench"):
        reg.add("codec", "loose", Loose, "pkg-l")


def test_misspelt_hook_is_a_one_line_error_naming_the_package() -> None:
    plugin = types.ModuleType("typo_plugin")

    @hookimpl
    def register_codec(register: object) -> None:  # should be register_codecs
        raise AssertionError("never called")

    plugin.register_codec = register_codec  # type: ignore[attr-defined]
    with pytest.raises(LicbenchError) as err:
        build_plugin_manager(extra={"typo-pkg": plugin})
    msg = str(err.value)
    assert "typo-pkg" in msg and "'register_codec'" in msg and "'register_codecs'" in msg
    assert "\n" not in msg


def test_bad_param_is_a_one_line_error_with_a_suggestion() -> None:
    with pytest.raises(LicbenchError, match="params qualty: unknown parameter") as err:
        load_registry().create("attack", "pgd", qualty=50)
    with pytest.raises(LicbenchError, match=r"iters: .*greater than or equal to 1"):
        load_registry().create("attack", "pgd", iters=0)
    assert "\n" not in str(err.value)


def test_a_real_type_error_inside_a_plugin_is_not_hidden() -> None:
    """Only parameter problems become manifest errors; a bug stays a bug."""
    reg = Registry({"codec": Codec})

    class Buggy(Codec):
        name = "buggy"

        def __init__(self, quality: float) -> None:
            super().__init__(quality)
            raise TypeError("unsupported operand: missing argument in a real bug")

        def compress(self, x):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def decompress(self, enc):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    reg.add("codec", "buggy", Buggy, "pkg")
    with pytest.raises(TypeError, match="real bug"):
        reg.create("codec", "buggy", quality=1)


@pytest.mark.slow
def test_cli_lists_every_kind_with_its_distribution() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "licbench.cli", "plugins"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in ["bmshj2018-factorized", "mbt2018", "jpeg", "bpp-estimate", "samples", "psnr"]:
        line = next(ln for ln in out.splitlines() if f" {name} " in ln)
        assert "licbench 0.1.0" in line


@pytest.mark.slow
def test_cli_prints_a_plugins_parameters() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "licbench.cli", "plugins", "--params", "pgd"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    iters = next(ln for ln in out.splitlines() if ln.startswith("| iters"))
    assert "int (>= 1)" in iters and "50" in iters and "gradient steps" in iters
    bad = subprocess.run(
        [sys.executable, "-m", "licbench.cli", "plugins", "--kind", "codecs"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "invalid choice: 'codecs'" in bad.stderr


def test_core_asks_for_roles_and_the_builtins_fill_each_once() -> None:
    """Every role core asks for (hookspecs.ROLES) is filled by the built-ins; the default
    metrics keep the order every stored default manifest's cell keys were made with."""
    from licbench.plugin.hookspecs import ROLES

    reg = load_registry()
    for kind, role in ROLES:
        assert reg.with_role(kind, role), f"no built-in {kind} in role {role}"
    assert reg.with_role("metric", "default") == [
        "bpp", "bpp-estimate", "psnr", "ms-ssim", "encode-seconds", "decode-seconds",
    ]  # fmt: skip
    assert reg.role("codec", "anchor").name == "jpeg"
    assert reg.role_ref("dataset", "training") == {
        "name": "bsds500", "params": {"split": "trainval"},
    }  # fmt: skip
    standard = [reg.role("attack", r).name for r in ("white-box", "transfer", "gradient-free")]
    assert standard == ["apgd", "pgd", "square"]


def test_a_role_with_two_plugins_or_none_names_them() -> None:
    """A role belongs to one package; two of its plugins in a one-plugin role, or none,
    is an error when core asks; a role core does not know is refused at registration."""
    reg = Registry({"codec": Codec})
    reg.add("codec", "a", "a:A", "pkg-one", roles=["anchor"])
    assert reg.role("codec", "anchor").name == "a"
    reg.add("codec", "b", "b:B", "pkg-one", roles={"anchor": {}})
    with pytest.raises(LicbenchError, match=r"'a' \(pkg-one\), 'b' \(pkg-one\)"):
        reg.role("codec", "anchor")
    with pytest.raises(DuplicatePluginError, match="declared by pkg-one .* and by pkg-two"):
        reg.add("codec", "c", "c:C", "pkg-two", roles=["anchor"])  # e.g. a default metric
    with pytest.raises(LicbenchError, match="role 'nothing' needs exactly one plugin, found none"):
        reg.role("codec", "nothing")
    plugin = types.ModuleType("typo_role")

    @hookimpl
    def register_codecs(register: object) -> None:
        register("x", "x:X", roles=["anchr"])  # type: ignore[operator]

    plugin.register_codecs = register_codecs  # type: ignore[attr-defined]
    with pytest.raises(LicbenchError, match="unknown role 'anchr'; codec roles: anchor"):
        build_registry(*build_plugin_manager(extra={"typo-role": plugin}))


def test_every_builtin_declares_what_validate_reads_and_its_class_agrees() -> None:
    """Each built-in registers its Params, its description and its traits, so listing,
    validating and `plugins --params` import none of them; loading checks every declaration
    against its class (params, learned codecs, trained artifacts, the codecs it applies to)."""
    reg = load_registry()
    for entry in reg.entries():
        assert entry.params is not None and entry.description, (entry.kind, entry.name)
        if entry.kind == "codec":
            assert "learned" in entry.meta, entry.name
        if entry.kind in ("attack", "defense"):
            assert {"codecs", "trained"} <= set(entry.meta), entry.name
        declared = entry.params_model
        assert entry.load().Params is declared, entry.name  # load() checks the rest
    jpeg, lite = reg.get("codec", "jpeg"), reg.get("codec", "bmshj2018-hyperprior-lite")
    assert not jpeg.learned and lite.learned
    assert reg.get("attack", "square").applies_to(jpeg)
    pgd = reg.get("attack", "pgd")
    assert not pgd.applies_to(jpeg) and pgd.applies_to(lite)
    assert reg.get("defense", "adversarial-finetune").trained


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        ({"params": "licbench.plugin.params:Params"}, "is not its class's Params"),
        ({"learned": True}, "learned=True does not match its class"),
        ({"trained": True}, "trained=True does not match its class"),
    ],
)
def test_a_registration_its_class_contradicts_names_the_package(
    meta: dict[str, object], problem: str
) -> None:
    from licbench.plugin.params import Params

    class LoudParams(Params):
        level: int = 1

    class Loud(Codec):
        Params = LoudParams

    module = types.ModuleType("loud_codec_mod")
    module.Loud = Loud  # type: ignore[attr-defined]
    sys.modules["loud_codec_mod"] = module
    try:
        reg = Registry({"codec": Codec})
        reg.add("codec", "loud", "loud_codec_mod:Loud", "loud-pkg", **meta)  # type: ignore[arg-type]
        with pytest.raises(LicbenchError, match=f"loud-pkg.*{problem}"):
            reg.get("codec", "loud").load()
    finally:
        del sys.modules["loud_codec_mod"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["validate", "benchmarks/quickstart.yaml"],
        ["validate", "benchmarks/backdoor/segmentation.yaml"],
        ["plugins", "--params", "pgd"],
        ["plugins"],
    ],
)
def test_start_up_commands_import_no_torch(argv: list[str]) -> None:
    """`--help`, `validate` and `plugins` read the registrations only: torch never loads."""
    from pathlib import Path

    code = (
        "import sys\nfrom licbench.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=repo
    )
    assert out.returncode == 0, out.stderr[-2000:]
