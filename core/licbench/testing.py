"""Checks for a plugin author's own attack or defense, on a tiny real codec and real image
(those in the ``testing`` roles; the built-ins: the shipped lite hyperprior at quality 4
and a 128×128 crop of a scikit-image sample photo: offline, seconds on a CPU)::

    from licbench.testing import check_attack, check_defense

    def test_my_attack():
        report = check_attack("my-attack", {"eps": 4 / 255})
        assert report.gain > 1.01          # check_attack already raises below min_gain

    def test_my_defense():
        check_defense("my-defense", max_psnr_drop_db=1.0, max_rate_increase=0.2)

An attack must raise its objective on the real bitstream (``objective: distortion`` in its
params: the PSNR to the clean image falls; otherwise the bits rise) by ``min_gain`` and keep
its delivered image within its budget; a defense must keep the clean rate and PSNR within
the stated bounds. A failed check raises :class:`PluginCheckError` saying which and by how
much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from licbench.api.attack import Attack, deliver
from licbench.api.codec import Codec
from licbench.api.context import RunContext
from licbench.api.defense import Defense
from licbench.plugin.registry import Registry
from licbench.rd import psnr_from_mse

SIDE = 128  # the test image is its central SIDE × SIDE crop


class PluginCheckError(AssertionError):
    """A plugin failed a check of :mod:`licbench.testing`."""


@dataclass(frozen=True)
class Report:
    """What a check measured: the clean and the plugin's bpp and PSNR, and the attack's
    gain (bits ratio, or PSNR drop in dB) and L∞ distance."""

    clean_bpp: float
    clean_psnr: float
    bpp: float
    psnr: float
    gain: float = 0.0
    linf: float = 0.0


def _setup(registry: Registry | None) -> tuple[Registry, Codec, Tensor, RunContext]:
    if registry is None:
        from licbench.plugin.manager import load_registry

        registry = load_registry()
    codec_ref = registry.role_ref("codec", "testing")
    codec = registry.create("codec", codec_ref["name"], **codec_ref["params"])
    from licbench.data import DataRef, load

    image = {**registry.role_ref("dataset", "testing"), "limit": 1, "crop": SIDE}
    ((name, x),) = load(DataRef.of(image), registry)
    ctx = RunContext(torch.device("cpu"), settings=registry.settings)
    return registry, codec, x, ctx.for_image(name)


def _measure(codec: Codec, x_in: Tensor, x: Tensor) -> tuple[float, float]:
    """Real bits per pixel of ``x_in`` and the PSNR of its decode to the clean ``x``."""
    enc = codec.compress(x_in)
    mse = float(torch.mean((codec.decompress(enc).to(x) - x) ** 2))
    return enc.num_bits() / (x.shape[-2] * x.shape[-1]), psnr_from_mse(mse)


def check_attack(
    name: str,
    params: dict[str, Any] | None = None,
    *,
    registry: Registry | None = None,
    min_gain: float = 1.01,
) -> Report:
    """Run attack ``name`` once on the test codec and image and check it: its delivered
    image stays within its budget (``Attack.budget()``, where it has one) and raises its
    objective by ``min_gain`` (bits ratio; for ``objective: distortion``, ``min_gain − 1``
    dB of PSNR drop)."""
    registry, codec, x, ctx = _setup(registry)
    attack: Attack = registry.create("attack", name, **(params or {}))
    budget = attack.budget()
    x_in = deliver(attack.perturb(codec, x, ctx), x, budget)
    clean_bpp, clean_psnr = _measure(codec, x, x)
    bpp, psnr = _measure(codec, x_in, x)
    linf = float((x_in - x).abs().max())
    if budget is not None and linf > budget + 1e-6:
        raise PluginCheckError(f"attack '{name}': L∞ {linf:.5f} over its budget {budget:.5f}")
    distortion = getattr(attack.params, "objective", "rate") == "distortion"
    gain = clean_psnr - psnr if distortion else bpp / clean_bpp
    need = min_gain - 1 if distortion else min_gain
    if gain < need:
        what = f"PSNR drop {gain:.3f} dB" if distortion else f"rate × {gain:.4f}"
        hint = " (its output equals its input)" if torch.equal(x_in, x) else ""
        raise PluginCheckError(
            f"attack '{name}': {what}, below the {need:g} required{hint}; an attack that "
            "differentiates through the codec needs a quantization proxy (docs/plugins.md)"
        )
    return Report(clean_bpp, clean_psnr, bpp, psnr, gain, linf)


def check_defense(
    name: str,
    params: dict[str, Any] | None = None,
    *,
    registry: Registry | None = None,
    max_psnr_drop_db: float = 1.0,
    max_rate_increase: float = 0.25,
) -> Report:
    """Encode the clean test image behind defense ``name`` and check that its clean cost
    stays within the bounds: PSNR to the clean image at most ``max_psnr_drop_db`` below the
    bare codec's, bits at most ``max_rate_increase`` (a share) above."""
    registry, codec, x, ctx = _setup(registry)
    defense: Defense = registry.create("defense", name, **(params or {}))
    clean_bpp, clean_psnr = _measure(codec, x, x)
    bpp, psnr = _measure(defense.wrap(codec, ctx), x, x)
    if clean_psnr - psnr > max_psnr_drop_db:
        raise PluginCheckError(
            f"defense '{name}': clean PSNR {psnr:.2f} dB, {clean_psnr - psnr:.2f} dB below the "
            f"bare codec's (bound {max_psnr_drop_db:g} dB)"
        )
    if bpp > clean_bpp * (1 + max_rate_increase):
        raise PluginCheckError(
            f"defense '{name}': clean rate {bpp:.4f} bpp, × {bpp / clean_bpp:.3f} the bare "
            f"codec's (bound × {1 + max_rate_increase:g})"
        )
    return Report(clean_bpp, clean_psnr, bpp, psnr)
