"""Batched attacks: several same-size images per forward/backward, each with its own state.
Where rounding flips no gradient sign (small crops, few steps), each image scores as if it
had been attacked alone: bpp exactly, the rest within 1e-6 relative."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import manifest_runner

from licbench.api.attack import deliver
from licbench.api.context import RunContext
from licbench.bench.evaluate import code_image
from licbench.bench.store import ResultStore
from licbench.images import load_image
from licbench.plugin.manager import load_registry
from licbench.rd import psnr_8bit

NAMES = ["kodim01", "kodim02", "kodim03", "kodim04"]


@pytest.fixture(scope="module")
def crops(kodak_dir: Path) -> torch.Tensor:
    """Four same-size Kodak crops (kodim04 is portrait: its crop is as large as the rest)."""
    return torch.cat([load_image(kodak_dir / f"{n}.png")[..., 96:160, 96:160] for n in NAMES])


def scores(codec, x_adv: torch.Tensor, x: torch.Tensor) -> tuple[float, float]:
    x_hat, facts = code_image(codec, x_adv, estimate=False)
    return facts["bits"] / x[0, 0].numel(), psnr_8bit(x_hat, x_adv)


@pytest.mark.parametrize(
    "name,params,defense",
    [
        ("pgd", {"iters": 4, "random_start": True, "restarts": 2}, None),
        ("pgd", {"iters": 3, "objective": "rd", "quantization": ["ste", "noise"]}, None),
        ("apgd", {"iters": 4}, "two-way"),
        ("eot", {"iters": 3, "draws": 2}, "input-randomization"),  # draws of different sizes
        ("fda", {"iters": 3, "objective": "distortion"}, None),
        ("kway-adaptive", {"iters": 2, "draws": 1}, "two-way"),
    ],
)
def test_a_batch_scores_as_its_images_one_at_a_time(name, params, defense, crops) -> None:
    reg = load_registry()
    codec = reg.create("codec", "bmshj2018-hyperprior-lite", quality=4)
    target = reg.create("defense", defense).wrap(codec, None) if defense else codec
    attack = reg.create("attack", name, **params)
    assert attack.batched
    ctx = RunContext(torch.device("cpu"), seed=3)
    ctxs = [ctx.for_image(n, noise_seed=i) for i, n in enumerate(NAMES)]
    batch = attack.perturb_batch(target, crops, ctxs)
    eps, changed = attack.budget(), 0
    for i, c in enumerate(ctxs):
        x = crops[i : i + 1]
        alone = deliver(attack.perturb(target, x, c), x, eps)
        together = deliver(batch[i : i + 1], x, eps)
        changed += not torch.equal(together, x)
        (bpp_1, psnr_1), (bpp_b, psnr_b) = scores(target, alone, x), scores(target, together, x)
        assert bpp_b == bpp_1
        assert psnr_b == pytest.approx(psnr_1, rel=1e-6)
    assert changed  # the attack did something


MANIFEST = """\
name: batched
datasets: [{name: kodak, limit: 3, crop: 64}]
codecs: [{name: bmshj2018-hyperprior-lite, qualities: [4]}]
attacks:
  - {name: pgd, params: {iters: 3}}
  - {name: apgd, params: {iters: 3}}
defenses: [two-way]
metrics: [bpp, psnr]
"""


def test_the_runner_batches_attacks_and_keys_the_batch(tmp_path: Path) -> None:
    """Gray-box PGD (inputs shared by both defenses) and adaptive APGD (made per cell), run
    with 1 and with 3 images per attack call: the batch enters the keys of the attacked
    cells only (clean cells are shared), each row records it, and here, where no gradient
    sign is close enough to zero to flip, the scores are the same."""
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST)
    store = ResultStore(str(tmp_path / "r.db"))
    for batch in (1, 3):
        s = manifest_runner(path, store, device="cpu", progress=False, attack_batch=batch).run()
        assert (s.done, s.skipped, s.failed) == ((6, 0, 0) if batch == 1 else (4, 2, 0))
    cells = store.frame("cells")
    attacked = cells[cells.kind == "adversarial"]
    assert sorted(c.count('"attack_batch": 3') for c in attacked.config) == [0] * 4 + [1] * 4
    scores = store.frame("scores").merge(cells[["key", "attack", "defense"]], left_on="cell_key",
                                         right_on="key")  # fmt: skip
    scores["batch"] = scores.cell_key.map(dict(zip(cells.key, cells.config, strict=True)))
    scores["batch"] = scores.batch.str.contains('"attack_batch": 3')
    by = ["attack", "defense", "image", "metric"]
    one = scores[~scores.batch & (scores.attack != "none")].sort_values(by).reset_index(drop=True)
    three = scores[scores.batch].sort_values(by).reset_index(drop=True)
    assert len(one) == len(three) == 4 * 3 * 2
    bpp = one.metric == "bpp"
    assert list(three.value[bpp]) == list(one.value[bpp])
    assert list(three.value[~bpp]) == pytest.approx(list(one.value[~bpp]), rel=1e-6)
