"""Test-time attacks: bounded, effective on the real bitstream, and EoT asks the defense."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from licbench.api.context import RunContext
from licbench.bench.evaluate import code_image
from licbench.errors import LicbenchError
from licbench.images import load_image
from licbench.plugin.manager import load_registry

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
    reg = load_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    x_adv = reg.create("attack", name, **kw).perturb(codec, crop, CTX)
    assert (x_adv - crop).abs().max() <= 4 / 255 + 1e-6 and 0 <= x_adv.min() <= x_adv.max() <= 1
    assert bpp(codec, x_adv) > 1.1 * bpp(codec, crop)


def test_eot_draws_from_the_defense_and_fda_moves_features(crop) -> None:
    reg = load_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    defended = reg.create("defense", "two-way").wrap(codec, None)
    eot = reg.create("attack", "eot", draws=2, iters=2)
    assert (
        eot.adaptive and len(eot.transforms(defended, torch.Generator().manual_seed(0), crop)) == 2
    )
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


def real(attack, codec, x_adv, x) -> float:
    from licbench_builtin.attacks.objective import real_score

    return real_score(attack.params, codec, x_adv, x)


@pytest.mark.parametrize(
    "name,kw",
    [
        ("apgd", {"iters": 6}),
        ("apgd", {"iters": 6, "restarts": 2, "objective": "distortion"}),
        ("pgd", {"iters": 4, "objective": "rd", "quantization": ["noise", "none"]}),
        ("eot", {"iters": 3, "draws": 2}),
        ("fda", {"iters": 3}),
        ("square", {"queries": 40}),
        ("square", {"queries": 40, "objective": "distortion"}),
    ],
)
@pytest.mark.slow
def test_every_attack_raises_its_objective_within_its_budget(name, kw, crop) -> None:
    """On the shipped lite codec and the real bitstream: each attack's objective (rate,
    distortion or rd; FDA's is the rate) is higher than the clean input's, within ε."""
    reg = load_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    attack = reg.create("attack", name, **kw)
    x_adv = attack.perturb(codec, crop, CTX.for_image("kodim15"))
    assert (x_adv - crop).abs().max() <= attack.params.eps + 1e-6
    assert 0 <= x_adv.min() <= x_adv.max() <= 1
    assert real(attack, codec, x_adv, crop) > 1.01 * real(attack, codec, crop, crop)


def test_kept_iterate_is_the_best_real_one_at_checkpoints(crop) -> None:
    """PGD with a step as large as ε oscillates; at each checkpoint and at the end its
    iterate and its best one by the proxy are delivered (8-bit, within ε) and measured on
    the real bitstream once each; the kept one is the best of them by real bits."""
    from licbench.api.attack import deliver
    from licbench_builtin.attacks.gradient import Batch, Judges
    from licbench_builtin.attacks.objective import Best, checkpoints, quantization_proxy

    reg = load_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    pgd = reg.create("attack", "pgd", iters=10, step=4 / 255)
    offered: list[torch.Tensor] = []

    class Logged(Best):
        def offer(self, *candidates: torch.Tensor) -> float:
            offered.extend(deliver(c, self.x, self.p.eps) for c in candidates)
            return super().offer(*candidates)

    codec.model.requires_grad_(False)
    b = Batch.of(crop, [CTX.for_image("kodim15")], 0)
    judges = Judges(pgd.params, codec, b.images)
    judges.each = [chosen := Logged(pgd.params, codec, b.images[0])]
    with quantization_proxy(codec.model, "noise", b.noise):
        pgd.ascend(codec, codec, b, crop.clone(), judges)
    assert len(offered) == 2 * (len(checkpoints(10)) + 1)
    assert chosen.measured == len({c.numpy().tobytes() for c in offered}) < len(offered)
    assert chosen.score == pytest.approx(max(real(pgd, codec, c, crop) for c in offered))
    assert torch.equal(deliver(chosen.value, crop, pgd.params.eps), chosen.value)
    assert real(pgd, codec, chosen.value, crop) > real(pgd, codec, offered[-1], crop) - 1e-9


def test_rate_attacks_never_run_the_decoder_and_z_alone_raises_z(crop) -> None:
    from licbench_builtin.codecs.compressai import deserialize_strings

    reg = load_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    calls = []
    hook = codec.model.g_s.register_forward_hook(lambda *_: calls.append(1))
    try:
        x_z = reg.create("attack", "pgd", iters=3, y_weight=0.0).perturb(codec, crop, CTX)
        assert calls == []  # 3 steps and their candidates checked by their bits: no synthesis
        reg.create("attack", "pgd", iters=2, objective="distortion").perturb(codec, crop, CTX)
        assert len(calls) == 5  # 2 steps + decoding 3 distinct candidates (x, steps 1 and 2)
    finally:
        hook.remove()

    def z_bits(x):
        return len(deserialize_strings(codec.compress(x).payload)[1][0])

    assert z_bits(x_z) > 1.1 * z_bits(crop)


def test_apgd_schedule_and_proxies(crop) -> None:
    from licbench.api.attack import PROXIES
    from licbench_builtin.attacks.objective import checkpoints

    marks = checkpoints(100)
    assert marks[0] == 22 and marks == sorted(marks) and marks[-1] < 100
    assert set(PROXIES) == {"noise", "ste", "none"}
    with pytest.raises(Exception, match="each proxy once"):
        load_registry().create("attack", "apgd", quantization=["noise", "noise"])


def test_square_is_gradient_free_and_attacks_jpeg_too(crop) -> None:
    reg = load_registry()
    codec = reg.create("codec", "jpeg", quality=50)
    square = reg.create("attack", "square", queries=30)
    assert square.applies_to(type(codec))
    x_adv = square.perturb(codec, crop, CTX.for_image("kodim15"))
    assert (x_adv - crop).abs().max() <= 4 / 255 + 1e-6
    assert bpp(codec, x_adv) > bpp(codec, crop)
    noise = reg.create("attack", "random-noise").perturb(codec, crop, CTX.for_image("kodim15"))
    assert (noise - crop).abs().max() == pytest.approx(4 / 255, abs=1e-6)


def test_the_decision_attack_targets_the_path_two_way_encodes(crop) -> None:
    """kway-adaptive: the softmin of the defense's RD losses weights each path's rate, so
    its gradient follows the chosen path; through two-way it raises the real rate of what
    two-way encodes, within the budget; each defense names its adaptive attack."""
    reg = load_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    two_way = reg.create("defense", "two-way")
    assert two_way.adaptive_attack == "kway-adaptive"
    assert reg.create("defense", "k-way").adaptive_attack == "kway-adaptive"
    assert reg.create("defense", "input-randomization").adaptive_attack == "eot"
    defended = two_way.wrap(codec, None)
    attack = reg.create("attack", "kway-adaptive", draws=2, iters=4)
    assert attack.adaptive and attack.budget() == pytest.approx(4 / 255)
    x_adv = attack.perturb(defended, crop, CTX)
    assert (x_adv - crop).abs().max() <= 4 / 255 + 1e-6
    assert bpp(defended, x_adv) > 1.05 * bpp(defended, crop)


def test_iterates_are_measured_as_the_codec_really_runs() -> None:
    """Inside the attack's noise proxy, measuring an iterate behind two-way (whose choice
    runs the model forward) sees no proxy noise and leaves the random stream alone."""
    import torch

    from licbench.plugin.manager import load_registry
    from licbench_builtin.attacks.objective import quantization_proxy, real_mode, real_score

    reg = load_registry()
    bare = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    two_way = reg.create("defense", "two-way").wrap(bare, None)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    p = reg.create("attack", "pgd").params
    outside = real_score(p, two_way, x, x)
    with quantization_proxy(bare.model, "noise"):
        state = torch.get_rng_state()
        with real_mode(two_way, x):
            inside = real_score(p, two_way, x, x)
        assert torch.equal(state, torch.get_rng_state())
        assert all(m.training for m in bare.model.modules() if hasattr(m, "_quantized_cdf"))
    assert inside == outside
