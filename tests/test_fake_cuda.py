"""Device mix-ups caught on a CPU-only machine. Forward passes run under ``FakeTensorMode``
with fake ``cuda`` tensors (no GPU needed, nothing computed) and forward plus backward passes
on the ``meta`` device (torch's autograd engine needs a real CUDA context for cuda tensors,
but not for meta ones); either way an operation that meets a CPU tensor raises. Every
defense transform, trigger, downstream model, the attack proxy and the delivery of attacked
images must keep their outputs (and gradients) on the input's device."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from compressai.entropy_models import EntropyBottleneck
from torch import Tensor, nn
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode, unset_fake_temporarily
from torch.overrides import TorchFunctionMode

from licbench.api.attack import deliver
from licbench.api.defense import Identity, Transform
from licbench.plugin.manager import load_registry
from licbench.rd import likelihood_bits

CUDA = torch.device("cuda")


def _bottleneck_forward(self: EntropyBottleneck, x: Tensor, training: bool | None = None) -> Any:
    """CompressAI's forward with the channel permutation as Python ints (its own builds it
    as a tensor and reads it back with ``.item()``, which fake tensors cannot answer)."""
    training = self.training if training is None else training
    perm = (1, 0, *range(2, x.ndim))
    x = x.permute(*perm).contiguous()
    shape = x.size()
    values = x.reshape(x.size(0), 1, -1)
    outputs = self.quantize(values, "noise" if training else "dequantize", self._get_medians())
    likelihood, _, _ = self._likelihood(outputs)
    if self.use_likelihood_bound:
        likelihood = self.likelihood_lower_bound(likelihood)
    back = (outputs.reshape(shape), likelihood.reshape(shape))
    return tuple(t.permute(*perm).contiguous() for t in back)


class Device:
    """Where a check runs: fake cuda (forward only) or meta (forward and backward)."""

    def __init__(self, kind: str, mode: FakeTensorMode | None) -> None:
        self.kind, self.mode = kind, mode
        self.device = CUDA if kind == "fake-cuda" else torch.device("meta")
        self.backward = kind == "meta"

    def put(self, m: nn.Module) -> nn.Module:
        """``m`` with every parameter and buffer on this device."""
        if self.mode is None:
            return m.to(self.device)
        for mod in m.modules():  # Module.to cannot swap in fake tensors: replace them
            for table in (mod._parameters, mod._buffers):
                for k, t in list(table.items()):
                    if t is None:
                        continue
                    meta = torch.empty(t.shape, dtype=t.dtype, device="meta")
                    fake = FakeTensor(self.mode, meta, CUDA)
                    table[k] = nn.Parameter(fake, t.requires_grad) if k in mod._parameters else fake
        return m

    def image(self, h: int = 64, w: int = 64) -> Tensor:
        return torch.rand(1, 3, h, w, device=self.device)

    def check(self, y: Tensor, x: Tensor) -> None:
        """``y`` (computed from ``x``) and, on meta, its gradient stay on the device."""
        assert y.device.type == self.device.type
        if self.backward and x.requires_grad:
            (g,) = torch.autograd.grad(y.float().sum(), x)
            assert g.device.type == self.device.type


@pytest.fixture(params=["fake-cuda", "meta"])
def dev(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Device]:
    monkeypatch.setattr(EntropyBottleneck, "forward", _bottleneck_forward)
    if request.param == "meta":
        yield Device("meta", None)
        return
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    with mode:
        yield Device("fake-cuda", mode)


@pytest.mark.parametrize("name", ["dct-adaptive", "lira-unet", "ftrojan"])
def test_triggers_stay_on_the_device(name: str, dev: Device) -> None:
    trigger = dev.put(load_registry().create("trigger", name))
    x = dev.image().requires_grad_(True)
    dev.check(trigger(x), x)


@pytest.mark.parametrize(
    "name", ["espnetv2-cityscapes", "espnetv2-pascal", "espnet-cityscapes", "mobilefacenet"]
)
def test_downstream_models_stay_on_the_device(name: str, dev: Device) -> None:
    model = dev.put(load_registry().create("downstream", name).eval())
    x = dev.image(256, 256).requires_grad_(True)
    out = model(x)
    for o in out if isinstance(out, (tuple, list)) else [out]:
        dev.check(o, x)


@pytest.mark.parametrize("name,params", [("gaussian-blur", {"sigma": 1.5}), ("bit-squeeze", {})])
def test_preprocessing_defenses_stay_on_the_device(
    name: str, params: dict[str, Any], dev: Device
) -> None:
    """(JPEG purification codes real pixels through Pillow: it has no fake-device form.)"""
    t = load_registry().create("defense", name, **params).transform()
    x = dev.image().requires_grad_(True)
    dev.check(t.forward(x), x)


def test_randomized_transforms_stay_on_the_device(dev: Device) -> None:
    defense = load_registry().create("defense", "k-way", k=3)
    gen = torch.Generator().manual_seed(0)  # the draws are CPU numbers, the pixels are not
    x = dev.image().requires_grad_(True)
    for _ in range(4):
        with unset_fake_temporarily():  # the draws are real CPU numbers
            t = defense.sample_transform(gen)
        dev.check(t.inverse(t.forward(x), (64, 64)), x)


@pytest.mark.parametrize("proxy", ["noise", "ste", "none"])
@pytest.mark.parametrize("objective", ["rate", "distortion", "rd"])
@pytest.mark.parametrize("arch", ["bmshj2018-hyperprior-lite", "mbt2018-mean-lite"])
def test_attack_proxy_forward_and_backward_stay_on_the_device(
    arch: str, objective: str, proxy: str, dev: Device
) -> None:
    from licbench_builtin.attacks.objective import proxy_loss, quantization_proxy

    reg = load_registry()
    with unset_fake_temporarily():  # real weights from the shipped file, then replaced
        codec = reg.create("codec", arch, quality=2)
    dev.put(codec.model).requires_grad_(False)
    codec.device = dev.device
    pgd = reg.create("attack", "pgd", objective=objective)
    x = dev.image()
    x_adv = x.clone().requires_grad_(True)
    with quantization_proxy(codec.model, proxy):
        dev.check(proxy_loss(pgd.params, codec, x_adv, x, [Identity()]), x_adv)
        dev.check(likelihood_bits(codec.model(x_adv)["likelihoods"]), x_adv)
    assert deliver(x_adv + 0.01, x, 4 / 255).device.type == dev.device.type


class _Leaky(Transform):
    """A transform with a deliberately device-less tensor: what the harness must catch."""

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.zeros(x.shape[-1], device="cpu")


def test_a_cpu_tensor_is_caught(dev: Device) -> None:
    with pytest.raises(Exception, match="device"):
        _Leaky().forward(dev.image())


FACTORIES = (torch.zeros, torch.ones, torch.empty, torch.full, torch.rand, torch.randn,
             torch.randint, torch.randperm, torch.arange, torch.linspace, torch.logspace,
             torch.eye, torch.tensor, torch.as_tensor)  # fmt: skip
LICBENCH = ("core/licbench/", "plugins/licbench_builtin/")


class FactoryLint(TorchFunctionMode):
    """Records each licbench call site (file:line) that creates a tensor from nothing, with
    or without an explicit ``device``: one without would land on the CPU under a CUDA run."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: dict[str, bool] = {}  # site -> it named a device

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in FACTORIES:
            frame = sys._getframe(1)
            while frame is not None and "/torch/" in frame.f_code.co_filename:
                frame = frame.f_back
            where = frame.f_code.co_filename if frame is not None else ""
            part = next((p for p in LICBENCH if p in where), None)
            if frame is not None and part is not None:
                site = f"{part}{where.split(part)[-1]}:{frame.f_lineno}"
                self.sites[site] = self.sites.get(site, True) and "device" in kwargs
        return func(*args, **kwargs)


LINTED = """\
name: factory-lint
datasets: [{name: samples, limit: 1, crop: 64}]
codecs:
  - {name: bmshj2018-hyperprior-lite, qualities: [2]}
  - {name: mbt2018-mean-lite, qualities: [2]}
  - {name: jpeg, qualities: [50]}
attacks:
  - {name: pgd, params: {iters: 2}}
  - {name: fgsm}
  - {name: eot, params: {iters: 2, draws: 2}}
  - {name: fda, params: {iters: 2}}
  - {name: apgd, params: {iters: 2}}
  - {name: square, params: {queries: 3}}
  - {name: random-noise}
  - name: backdoor
    params: {triggers: [{label: t, trigger: ftrojan, goal: bpp}], steps: 2, batch_size: 1,
             patch_size: 64}
defenses:
  - gaussian-blur
  - bit-squeeze
  - jpeg-purify
  - input-randomization
  - two-way
  - k-way
  - {name: adversarial-finetune, params: {steps: 2, batch_size: 1, patch_size: 64}}
exclude: [{attack: backdoor, defense: adversarial-finetune}]
train_data: {name: samples, limit: 2}
metrics: [bpp, psnr]
"""


def test_no_licbench_call_site_creates_a_tensor_without_a_device(tmp_path: Path) -> None:
    """A manifest over every built-in attack and defense kind (trained ones included, trained
    in-process), run under a TorchFunctionMode: every licbench call site that makes a tensor
    from nothing names its device (a CPU generator's draws name the generator's)."""
    import licbench
    from licbench.settings import Settings

    (tmp_path / "m.yaml").write_text(LINTED)
    settings = Settings(cache=tmp_path / "cache", data=Settings.from_env().data)
    with FactoryLint() as lint:
        summary = licbench.run(tmp_path / "m.yaml", str(tmp_path / "r.db"), device="cpu",
                               settings=settings)  # fmt: skip
    assert summary.failed == 0 and summary.done > 100
    assert len(lint.sites) >= 10  # the lint saw the factories of the run
    unnamed = [site for site, named in sorted(lint.sites.items()) if not named]
    assert unnamed == [], "\n".join(unnamed)
