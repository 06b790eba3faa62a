"""The trust boundary: a crafted pickle fed to every path that reads a model file never runs
its payload, and each path answers with one `licbench: error:` line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import manifest_runner

from licbench.cli import main


class Payload:
    """Unpickling this creates ``marker``: the proof that a file ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def crafted(path: Path, marker: Path, **fields: object) -> Path:
    """A file that torch.load(weights_only=False) would turn into a created ``marker``."""
    torch.save({**fields, "payload": Payload(marker)}, path)
    return path


def test_crafted_pickles_never_run(
    tmp_path: Path, image_dir: Path, random_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    evil = crafted(tmp_path / "evil.pt", marker, format="licbench-backdoor/1")
    img = sorted(image_dir.glob("*.png"))[0]
    out = tmp_path / "out"
    codec = ["--codec", "bmshj2018-hyperprior", "--quality", "1", "--device", "cpu"]
    lite = ["--codec", "bmshj2018-hyperprior-lite", "--quality", "2", "--device", "cpu"]
    attack = ["--attack", "backdoor", "--attack-params", f'{{"artifact": "{evil}"}}']
    state = tmp_path / "ckpt.pth.tar"
    crafted(state.with_name(state.name + ".train.pt"), marker, format="licbench-train-state/1")
    train = ["train-codec", "--arch", "bmshj2018-hyperprior", "--quality", "1", "--N", "8"]
    train += ["--M", "8", "--data", str(image_dir), "--steps", "1", "--out", str(state)]
    stream = tmp_path / "real.licb"
    assert (
        main(["compress", str(img), str(stream), *codec, "--checkpoint", str(random_checkpoint)])
        == 0
    )
    paths = {
        "compress --checkpoint": [
            "compress",
            str(img),
            str(out),
            *codec,
            "--checkpoint",
            str(evil),
        ],
        "compress backdoor artifact": ["compress", str(img), str(out), *lite, *attack],
        "poison --artifact": ["poison", "--artifact", str(evil), str(img), str(out)],
        "eval --checkpoint": ["eval", *codec, "--checkpoint", str(evil), "--data", str(image_dir)],
        "decompress --checkpoint": ["decompress", str(stream), str(out), "--checkpoint", str(evil)],
        "train-codec --resume": [*train, "--resume", "--no-progress", "--patch-size", "64"],
        "train-codec --init": [*train, "--init", str(evil), "--no-progress", "--patch-size", "64"],
    }
    for what, argv in paths.items():
        capsys.readouterr()
        assert main(argv) == 2, what
        err = capsys.readouterr().err.strip()
        assert err.startswith("licbench: error:") and err.count("\n") == 0, (what, err)
        assert not marker.exists(), f"{what} ran the file's code"


def test_crafted_artifact_in_a_manifest_never_runs(tmp_path: Path) -> None:
    """A manifest's backdoor `artifact:` is read when the run plans its cells: the cell
    fails with the reason, the payload never runs, nothing else is lost."""
    from licbench.bench.store import ResultStore

    marker = tmp_path / "pwned"
    evil = crafted(tmp_path / "evil.pt", marker, format="licbench-backdoor/1")
    m = tmp_path / "m.yaml"
    m.write_text(
        "name: trust\ndatasets: [{name: samples, limit: 1, crop: 64}]\n"
        "codecs: [{name: bmshj2018-hyperprior-lite, qualities: [2]}]\nmetrics: [bpp]\n"
        f"attacks: [{{name: backdoor, params: {{artifact: {evil}}}}}]\n"
    )
    store = ResultStore(str(tmp_path / "r.db"))
    summary = manifest_runner(m, store, device="cpu", progress=False).run()
    assert (summary.done, summary.failed) == (1, 1) and not marker.exists()
    cells = store.frame("cells")
    error = cells[cells.attack == "backdoor"].error.iloc[0]
    assert "not a readable licbench-backdoor/2 artifact (UnpicklingError)" in error
