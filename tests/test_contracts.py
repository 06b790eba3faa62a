"""Typed parameters at `licbench validate`, cell keys that follow the training data, and
decoding that never trains."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from licbench.cli import main

REPO = Path(__file__).resolve().parent.parent
HEAD = "name: bad\ndatasets: [{name: samples, limit: 1}]\n"
LEARNED = "codecs: [{name: bmshj2018-hyperprior-lite, qualities: [2]}]\n"
TRIGGER = "{label: r, trigger: {name: dct-adaptive}, goal: {name: bpp}}"

# (manifest body, line of the problem, what the one-line error must say)
BAD = {
    "pgd iters -1": (
        LEARNED + "attacks:\n  - name: pgd\n    params:\n      iters: -1\n",
        7,
        "attacks[0].params.iters: attack 'pgd': Input should be greater than or equal to 1",
    ),
    "pgd eps abc": (
        LEARNED + "attacks:\n  - name: pgd\n    params: {eps: abc}\n",
        6,
        "attacks[0].params.eps: attack 'pgd': Input should be a valid number",
    ),
    "jpeg quality 0": (
        "codecs:\n  - name: jpeg\n    qualities: [50, 0]\n",
        5,
        "codecs[0].qualities[1]: codec 'jpeg': Input should be greater than or equal to 1",
    ),
    "jpeg quality 101": (
        "codecs:\n  - name: jpeg\n    qualities: [101]\n",
        5,
        "codecs[0].qualities[0]: codec 'jpeg': Input should be less than or equal to 95",
    ),
    "misspelt trigger": (
        LEARNED + "attacks:\n  - name: backdoor\n    params:\n      triggers:\n"
        "        - {label: r, trigger: {name: dct-adaptiv}, goal: {name: bpp}}\n",
        8,
        "attacks[0].params.triggers[0].trigger.name: unknown trigger 'dct-adaptiv'; "
        "did you mean 'dct-adaptive'?",
    ),
    "misspelt goal": (
        LEARNED + "attacks:\n  - name: backdoor\n    params:\n      triggers:\n"
        "        - {label: r, trigger: {name: dct-adaptive}, goal: {name: rate-distortion}}\n",
        8,
        "attacks[0].params.triggers[0].goal.name: unknown goal 'rate-distortion'",
    ),
    "misspelt trigger param": (
        LEARNED + "attacks:\n  - name: backdoor\n    params:\n      triggers:\n"
        "        - {label: r, trigger: {name: dct-adaptive, params: {n_freqs: 8}}, goal: bpp}\n",
        8,
        "triggers[0].trigger.params.n_freqs: trigger 'dct-adaptive': unknown parameter; "
        "did you mean 'n_freq'?",
    ),
    "fgsm": (
        LEARNED + "attacks:\n  - name: fgsm\n    params:\n      epsilon: 0.01\n",
        7,
        "attacks[0].params.epsilon: attack 'fgsm': unknown parameter; did you mean 'eps'?",
    ),
    "eot": (
        LEARNED + "attacks:\n  - name: eot\n    params:\n      draw: 4\n",
        7,
        "attacks[0].params.draw: attack 'eot': unknown parameter; did you mean 'draws'?",
    ),
    "k-way": (
        LEARNED + "defenses:\n  - name: k-way\n    params:\n      K: 3\n",
        7,
        "defenses[0].params.K: defense 'k-way': unknown parameter; did you mean 'k'?",
    ),
    "backdoor": (
        LEARNED + f"attacks:\n  - name: backdoor\n    params:\n      triggers: [{TRIGGER}]\n"
        "      stepz: 10\n",
        8,
        "attacks[0].params.stepz: attack 'backdoor': unknown parameter; did you mean 'steps'?",
    ),
    "adversarial-finetune": (
        LEARNED + "defenses:\n  - name: adversarial-finetune\n    params:\n      lr_: 0.1\n",
        7,
        "defenses[0].params.lr_: defense 'adversarial-finetune': unknown parameter; "
        "did you mean 'lr'?",
    ),
    "backdoor init mismatch": (
        LEARNED + f"attacks:\n  - name: backdoor\n    params:\n      triggers: [{TRIGGER}]\n"
        "      init: {triggers: [{label: q, trigger: ftrojan, goal: bpp}]}\n",
        6,
        "attack 'backdoor': init's triggers ['q'] differ",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_validate_rejects_bad_params_with_file_line_and_hint(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body, line, message = BAD[case]
    path = tmp_path / "m.yaml"
    path.write_text(HEAD + body)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith(f"licbench: error: {path}:{line}: "), err
    assert message in err, err


def test_a_broken_parameter_never_runs(tmp_path: Path) -> None:
    """`licbench run` validates first: nothing is stored for a manifest with a bad param."""
    path = tmp_path / "m.yaml"
    path.write_text(HEAD + BAD["pgd iters -1"][0])
    db = tmp_path / "r.db"
    assert main(["run", str(path), "--db", str(db), "--no-progress"]) == 2
    assert not db.exists()


def _dry_run(path: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert main(["run", str(path), "--db", str(db), "--dry-run", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_train_data_is_in_the_key_of_exactly_the_cells_that_train(
    tmp_path: Path, image_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        HEAD + LEARNED + f"attacks: [{{name: backdoor, params: {{triggers: [{TRIGGER}], "
        "steps: 1}}, {name: fgsm}]\ndefenses: [gaussian-blur]\n"
        "train_data: {name: folder, params: {path: %s}, limit: LIMIT}\n" % image_dir
    )
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text(body.replace("LIMIT", "2"))
    two.write_text(body.replace("LIMIT", "3"))
    a = _dry_run(one, tmp_path / "r.db", capsys)
    b = _dry_run(two, tmp_path / "r.db", capsys)
    assert len(a) == len(b) == 6 and all(r["state"] == "to run" for r in a)
    for ra, rb in zip(a, b, strict=True):
        trains = "backdoor" in ra["cell"]
        assert bool(ra["artifacts"]) == trains
        assert (ra["key"] != rb["key"]) == trains, ra["cell"]
        if trains:
            assert ra["artifacts"]["attack"] != rb["artifacts"]["attack"]


def test_decompress_never_trains(
    tmp_path: Path,
    image_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An adversarial-finetune stream decodes from the prepared weights; with an empty
    cache it is a one-line error naming `licbench prepare`, and nothing trains."""
    manifest, params = finetune_manifest(tmp_path, image_dir)
    assert main(["prepare", str(manifest)]) == 0
    src, bits, rec = kodak_like(image_dir), tmp_path / "a.licb", tmp_path / "r.png"
    codec = ["--codec", "bmshj2018-hyperprior-lite", "--quality", "2", "--device", "cpu"]
    defense = ["--defense", "adversarial-finetune", "--defense-params", params]
    assert main(["compress", str(src), str(bits), *codec, *defense]) == 0
    assert main(["decompress", str(bits), str(rec)]) == 0

    def no_training(*_a: object, **_k: object) -> None:
        raise AssertionError("decompress trained")

    monkeypatch.setattr("licbench.train.trainer.Trainer.fit", no_training)
    monkeypatch.setenv("LICBENCH_CACHE", str(tmp_path / "empty-cache"))
    capsys.readouterr()
    assert main(["decompress", str(bits), str(tmp_path / "r2.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "licbench prepare" in err, err
    assert re.search(r"adversarial-finetune artifact .*adv-finetune/\w+\.safetensors", err), err
    assert not (tmp_path / "r2.png").exists()


def test_no_progress_reaches_the_trainings(
    tmp_path: Path,
    image_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--no-progress` silences a training's progress bar too, not only the run's."""
    manifest, _ = finetune_manifest(tmp_path, image_dir)
    for flag, shown in (([], True), (["--no-progress"], False)):
        monkeypatch.setenv("LICBENCH_CACHE", str(tmp_path / f"cache-{shown}"))
        capsys.readouterr()
        assert main(["prepare", str(manifest), *flag]) == 0
        assert ("train:" in capsys.readouterr().err) is shown


def finetune_manifest(tmp_path: Path, image_dir: Path) -> tuple[Path, str]:
    """A one-step adversarial fine-tuning on ``image_dir``: the manifest and the params."""
    params = json.dumps(
        {"steps": 1, "batch_size": 1, "patch_size": 64, "train_data": {
            "name": "folder", "params": {"path": str(image_dir)}}}
    )  # fmt: skip
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        HEAD + LEARNED + f"defenses: [{{name: adversarial-finetune, params: {params}}}]\n"
    )
    return manifest, params


def kodak_like(folder: Path) -> Path:
    return sorted(folder.glob("*.png"))[0]


def test_parameter_docs_are_generated_from_the_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--markdown"]) == 0
    assert capsys.readouterr().out == (REPO / "docs" / "parameters.md").read_text()


def test_training_data_keeps_limit_and_crop(image_dir: Path) -> None:
    """train_data's limit and crop reach the trained artifact and its key; validation is
    held out of the training images."""
    from licbench.data import training_fingerprints, training_set
    from licbench.plugin.manager import load_registry

    reg = load_registry()
    ref = {"name": "folder", "params": {"path": str(image_dir)}}
    images, val, fps = training_set({**ref, "limit": 2, "crop": 96}, None, reg)
    assert [tuple(x.shape[-2:]) for x in images + val] == [(96, 96)] * 2
    assert len(images) == 1 and len(val) == 1 and fps["val"] == "held-out:last1"
    assert fps == training_fingerprints({**ref, "limit": 2, "crop": 96}, None, reg)
    whole = training_fingerprints(ref, None, reg)["data"]
    assert (
        len({whole, fps["data"], training_fingerprints({**ref, "limit": 2}, None, reg)["data"]})
        == 3
    )
