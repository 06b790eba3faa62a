"""licbench.testing, the checks a plugin author runs on their own attack or defense, used
on one built-in of each kind and on the example plugin; and what a broken one is told."""

from __future__ import annotations

import pytest

from licbench.testing import PluginCheckError, check_attack, check_defense

pytestmark = pytest.mark.slow  # each runs a real codec (and an attack) on a real image


def test_builtin_attack_passes_and_stays_in_budget() -> None:
    report = check_attack("pgd", {"iters": 5})
    assert report.gain > 1.01 and report.linf <= 4 / 255 + 1e-6
    distortion = check_attack("fgsm", {"objective": "distortion", "eps": 8 / 255})
    assert distortion.psnr < distortion.clean_psnr


def test_builtin_defense_passes_within_its_bounds() -> None:
    report = check_defense("gaussian-blur", {"sigma": 0.5}, max_psnr_drop_db=2.0)
    assert report.bpp <= report.clean_bpp * 1.25


def test_an_attack_that_does_nothing_is_told_so() -> None:
    with pytest.raises(PluginCheckError, match=r"rate × 1\.0000.*output equals its input"):
        check_attack("random-noise", {"eps": 0.5 / 255})  # rounds back to the clean image


def test_a_costly_defense_is_told_its_cost() -> None:
    with pytest.raises(PluginCheckError, match=r"defense 'gaussian-blur': clean PSNR .* below"):
        check_defense("gaussian-blur", {"sigma": 4.0}, max_psnr_drop_db=0.5)


def test_the_example_plugin_passes_its_checks(installed_example) -> None:  # noqa: ANN001
    from licbench.plugin.manager import load_registry

    reg = load_registry()
    assert check_attack("salt-pepper", {"amount": 0.05}, registry=reg).gain > 1.01
    check_defense("median3", registry=reg, max_psnr_drop_db=3.0, max_rate_increase=0.0)
