from __future__ import annotations

from pathlib import Path

import pytest

from licbench.bench.checker import load_manifest as load_with
from licbench.bench.manifest import Manifest
from licbench.bench.run import expand
from licbench.cli import main
from licbench.errors import LicbenchError
from licbench.plugin.manager import load_registry

GOOD = """\
name: demo
datasets:
  - name: samples
    limit: 2
codecs:
  - name: jpeg
    qualities: [20, 80]
  - name: bmshj2018-hyperprior
    qualities: [1, 2]
metrics: [bpp, psnr]
"""


def load_manifest(path: Path) -> Manifest:
    return load_with(path, load_registry())


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_manifest_expands_the_matrix(tmp_path: Path) -> None:
    m = load_manifest(write(tmp_path, GOOD))
    cells = expand(m)
    assert len(cells) == 4
    assert [(c.codec.name, c.quality) for c in cells][:2] == [("jpeg", 20), ("jpeg", 80)]
    assert all(c.attack is None and c.defense is None for c in cells)


def test_attack_and_defense_axes_are_crossed(tmp_path: Path) -> None:
    text = GOOD + "attacks: [{name: a1}, {name: a2}]\ndefenses: [d1]\n"
    import yaml

    from licbench.bench.manifest import Manifest

    m = Manifest.model_validate(yaml.safe_load(text))  # schema only: no such plugins exist
    cells = expand(m)
    assert len(cells) == 4 * 3 * 2  # (none, a1, a2) x (none, d1)


def test_misspelt_plugin_names_file_line_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("name: bmshj2018-hyperprior", "name: bmshj2018-hyperpior"))
    with pytest.raises(LicbenchError) as err:
        load_manifest(path)
    msg = str(err.value)
    assert f"{path}:8:" in msg and "codecs[1]" in msg
    assert "did you mean 'bmshj2018-hyperprior'" in msg and "\n" not in msg


def test_misspelt_key_names_line_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    qualities: [20, 80]", "    qualitys: [20, 80]"))
    with pytest.raises(
        LicbenchError,
        match=r"m\.yaml:7: codecs\[0\]\.qualitys: unknown key; did you mean 'qualities'\?",
    ):
        load_manifest(path)


def test_wrong_type_and_missing_key(tmp_path: Path) -> None:
    with pytest.raises(LicbenchError, match=r"m\.yaml:4: datasets\[0\]\.limit"):
        load_manifest(write(tmp_path, GOOD.replace("limit: 2", "limit: two")))
    with pytest.raises(LicbenchError, match=r"codecs: required key is missing"):
        load_manifest(write(tmp_path, "name: x\ndatasets: [samples]\n"))


def test_unknown_param_and_bad_quality(tmp_path: Path) -> None:
    with_params = "    qualities: [20, 80]\n    params: {qualty: 3}"
    text = GOOD.replace("    qualities: [20, 80]", with_params)
    with pytest.raises(LicbenchError, match=r"m\.yaml:8: codecs\[0\]\.params\.qualty"):
        load_manifest(write(tmp_path, text))
    text = GOOD.replace("    qualities: [20, 80]", "    qualities: [20]\n    params: {quality: 3}")
    with pytest.raises(LicbenchError, match=r"m\.yaml:8: .*quality comes from its `qualities`"):
        load_manifest(write(tmp_path, text))
    with pytest.raises(
        LicbenchError,
        match=r"m\.yaml:9: codecs\[1\]\.qualities\[1\]: codec 'bmshj2018-hyperprior': "
        r"zoo qualities are 1\.\.8, not 9",
    ):
        load_manifest(write(tmp_path, GOOD.replace("qualities: [1, 2]", "qualities: [1, 9]")))


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(LicbenchError, match=r"m\.yaml:3: .*fix the YAML syntax"):
        load_manifest(write(tmp_path, "name: x\ndatasets: [samples\ncodecs: []\n"))


def test_include_merges_and_reports_the_included_file(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "base.yaml")
    m = load_manifest(write(tmp_path, "include: base.yaml\nname: child\nseed: 7\n"))
    assert (m.name, m.seed, len(m.codecs)) == ("child", 7, 2)
    write(tmp_path, GOOD.replace("name: jpeg", "name: jpg"), "base.yaml")
    with pytest.raises(LicbenchError, match=r"base\.yaml:6: .*did you mean 'jpeg'"):
        load_manifest(tmp_path / "m.yaml")


def test_yaml_merge_keys_share_params(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  - name: jpeg\n    qualities: [20, 80]",
        "  - &b {name: jpeg, qualities: [20, 80]}\n  - {<<: *b, label: j2, qualities: [10]}",
    )
    m = load_manifest(write(tmp_path, text))
    assert [(c.name, c.label, c.qualities) for c in m.codecs[:2]] == [
        ("jpeg", None, [20, 80]),
        ("jpeg", "j2", [10]),
    ]


def test_clean_false_keeps_the_none_entry_of_an_empty_axis(tmp_path: Path) -> None:
    text = GOOD + "clean: false\nattacks: [{name: backdoor, params: {artifact: a.pt}}]\n"
    cells = expand(load_manifest(write(tmp_path, text)))
    assert len(cells) == 4 and all(c.attack and c.defense is None for c in cells)


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(write(tmp_path, GOOD))]) == 0
    assert "4 cells" in capsys.readouterr().out
    bad = write(tmp_path, GOOD.replace("name: jpeg", "name: jpge"), "bad.yaml")
    db = tmp_path / "r.db"
    assert main(["validate", str(bad)]) == 2
    assert main(["run", str(bad), "--db", str(db)]) == 2  # nothing runs on an invalid manifest
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "did you mean 'jpeg'" in err and not db.exists()


def test_shipped_manifests_are_valid() -> None:
    for path in sorted((Path(__file__).parent.parent / "benchmarks").rglob("*.yaml")):
        if path.name == "common.yaml":
            continue  # include-only fragments
        assert expand(load_manifest(path)), path


def test_cells_that_do_not_apply_or_are_excluded_are_never_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The newcomer manifest: PGD x JPEG is left out, an exclude rule drops blurred JPEG."""
    newcomer = Path(__file__).parents[1] / "benchmarks" / "newcomer.yaml"
    assert main(["validate", str(newcomer)]) == 0
    out = capsys.readouterr().out
    # jpeg: 2 qualities x (none, pgd) x (none, blur); the rule takes the 4 blurred ones, and
    # pgd does not apply to the other 2; the lite codec keeps all 8
    assert "valid manifest 'newcomer', 10 cells; 6 left out" in out
    assert "4: excluded by a rule" in out and "2: pgd does not apply to jpeg" in out
    assert main(["run", str(newcomer), "--db", str(tmp_path / "r.db"), "--no-progress"]) == 0
    assert "10 cells: 10 run, 0 already stored, 0 failed" in capsys.readouterr().out


def test_validate_and_dry_run_find_every_dataset_and_download_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder that does not exist is named by `validate`; Kodak with no local copy is a
    note there, and a one-line error of the dry run, which downloads and creates nothing."""
    monkeypatch.delenv("LICBENCH_DATA", raising=False)
    monkeypatch.setenv("LICBENCH_CACHE", str(tmp_path / "cache"))
    codecs = "codecs: [{name: jpeg, qualities: [50]}]\n"
    gone = write(
        tmp_path,
        f"name: f\ndatasets: [{{name: folder, params: {{path: {tmp_path}/no}}}}]\n{codecs}",
    )
    assert main(["validate", str(gone)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"dataset 'folder': image folder {tmp_path}/no does not" in err
    kodak = write(tmp_path, f"name: k\ndatasets: [kodak]\n{codecs}", "k.yaml")
    assert main(["validate", str(kodak)]) == 0
    assert f"note: kodak is not here: a run downloads its images into {tmp_path}/cache" in (
        capsys.readouterr().out
    )
    db = tmp_path / "r.db"
    assert main(["run", str(kodak), "--dry-run", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "(a dry run or a verify downloads nothing); or set LICBENCH_DATA" in err
    assert not (tmp_path / "cache").exists() and not db.exists()


def test_a_threat_model_may_count_another_ones_standard_attack(tmp_path: Path) -> None:
    """Threat models are checked once every standard set has joined the matrix."""
    text = GOOD + (
        "threat_models:\n"
        "  - {name: a, goal: rate, budget: {eps: 4/255}, standard: true}\n"
        "  - {name: b, goal: rate, budget: {eps: 4/255}, attacks: ['apgd@a']}\n"
        "  - {name: c, goal: rate, budget: {eps: 4/255}, attacks: ['apgd@z']}\n"
    )
    with pytest.raises(LicbenchError, match=r"m\.yaml: threat model 'c' counts attack 'apgd@z'"):
        load_manifest(write(tmp_path, text))
    m = load_manifest(write(tmp_path, text.rsplit("  - {name: c", 1)[0]))
    assert m.threat_models[1].attacks == ["apgd@a"]
