"""Test-time attacks: bounded, effective on the real bitstream, and EoT asks the defense."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from licbench.api.context import RunContext
from licbench.bench.evaluate import code_image
from licbench.errors import LicbenchError
from licbench.images import load_image
from licbench.plugin.manager import get_registry

CTX = RunContext(torch.device("cpu"))


@pytest.fixture(scope="module")
def crop(kodak_dir: Path) -> torch.Tensor:
    return load_image(kodak_dir / "kodim15.png")[..., :128, :128]


def bpp(codec, x: torch.Tensor) -> float:
    return code_image(codec, x, estimate=False)[1]["bits"] / x[0, 0].numel()


@pytest.mark.parametrize(
    "name,kw", [("fgsm", {}), ("pgd", {"iters": 4}), ("pgd", {"iters": 4, "quantization": "ste"})]
)
def test_rate_attacks_raise_the_real_bitrate_within_the_budget(name, kw, crop) -> None:
    reg = get_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    x_adv = reg.create("attack", name, **kw).perturb(codec, crop, CTX)
    assert (x_adv - crop).abs().max() <= 4 / 255 + 1e-6 and 0 <= x_adv.min() <= x_adv.max() <= 1
    assert bpp(codec, x_adv) > 1.1 * bpp(codec, crop)


def test_eot_draws_from_the_defense_and_fda_moves_features(crop) -> None:
    reg = get_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    defended = reg.create("defense", "two-way").wrap(codec, None)
    eot = reg.create("attack", "eot", draws=2, iters=2)
    assert eot.adaptive and len(eot.transforms(defended, torch.Generator().manual_seed(0))) == 2
    x_adv = eot.perturb(defended, crop, CTX)
    assert 0 < (x_adv - crop).abs().max() <= 4 / 255 + 1e-6
    fda = reg.create("attack", "fda", iters=4)
    x_fda = fda.perturb(codec, crop, CTX)
    signs = torch.randint(0, 2, crop.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noise = (crop + signs * 4 / 255).clamp(0, 1)  # the same L∞ budget, spent at random
    with torch.no_grad():
        before = codec.model.g_a(crop)
        moved = (codec.model.g_a(x_fda) - before).norm()
        by_noise = (codec.model.g_a(noise) - before).norm()
    assert moved > 2 * by_noise
    with pytest.raises(LicbenchError, match="learned codec"):
        reg.create("attack", "pgd").perturb(reg.create("codec", "jpeg", quality=50), crop, CTX)
