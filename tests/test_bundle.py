"""Export -> import -> verify: a submission that another installation can check."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

from licbench.bench.store import ResultStore
from licbench.cli import main

MANIFEST = """\
name: sub
datasets: [{name: samples, limit: 2, crop: 96}]
codecs: [{name: jpeg, qualities: [30, 70]}, {name: bmshj2018-hyperprior-lite, qualities: [2]}]
attacks: [{name: pgd, params: {iters: 2}}]
metrics: [bpp, psnr, encode-seconds]
"""


def rewrite(src: Path, dst: Path, edit) -> None:
    doc = json.loads(zipfile.ZipFile(src).read("bundle.json"))
    edit(doc)
    with zipfile.ZipFile(dst, "w") as z:
        z.writestr("bundle.json", json.dumps(doc))


def test_export_import_verify_round_trip_and_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    db, other, bundle = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "sub.zip"
    assert main(["run", str(tmp_path / "m.yaml"), "--db", str(db), "--no-progress"]) == 0
    threads = {json.loads(c)["threads"] for c in ResultStore(str(db)).frame("cells").config}
    assert threads == {torch.get_num_threads()}  # verify re-runs with as many
    assert main(["export", "--benchmark", "sub", "-o", str(bundle), "--db", str(db)]) == 0
    assert "4 cells of sub" in capsys.readouterr().out  # PGD does not apply to JPEG
    assert main(["import", str(bundle), "--db", str(other)]) == 0
    assert "4 cells imported, 0 already stored" in capsys.readouterr().out
    runs = ResultStore(str(other)).frame("runs")
    assert list(runs.status) == ["imported"] and list(runs.kind) == ["import"]
    assert runs.source[0] == "sub.zip" and len(runs.bundle_sha256[0]) == 64
    assert main(["import", str(bundle), "--db", str(other)]) == 0  # idempotent
    assert "0 cells imported, 4 already stored" in capsys.readouterr().out

    assert main(["verify", str(bundle), "--sample", "4", "--db", str(other)]) == 0
    out = capsys.readouterr().out  # each re-run cell found by its labels (Cell.labels)
    assert "agrees: re-run here, 4 of 4 cells agree" in out and "encode-seconds" not in out
    assert "result recorded in" in out  # beside the cells it imported
    runs = ResultStore(str(other)).frame("runs")
    assert list(runs.status) == ["imported", "imported"]  # two imports
    (v,) = ResultStore(str(other)).frame("verifications").itertuples()
    assert (v.status, v.n_cells, v.agree_cells, len(json.loads(v.cells))) == ("verified", 4, 4, 4)

    # a score changed, its digest recomputed to hide it: re-running catches it
    def lie(doc):
        from licbench.leaderboard.bundle import digest as _digest

        for row in doc["cells"]:
            row["scores"] = [[i, m, v * 1.01 if m == "psnr" else v] for i, m, v in row["scores"]]
            row["digest"] = _digest(row["cell"], row["scores"])

    rewrite(bundle, tmp_path / "lie.zip", lie)
    assert main(["verify", str(tmp_path / "lie.zip"), "--sample", "4", "--db", str(other)]) == 1
    out = capsys.readouterr().out
    assert "DISAGREES" in out and "recorded" not in out  # never imported there
    # a naive edit breaks a digest: refused before anything runs or is imported
    naive = lambda doc: doc["cells"][0]["scores"][0].__setitem__(2, 0.0)  # noqa: E731
    rewrite(bundle, tmp_path / "naive.zip", naive)
    assert main(["import", str(tmp_path / "naive.zip"), "--db", str(tmp_path / "c.db")]) == 2
    assert "does not match its digest" in capsys.readouterr().err

    # the same key with other content: refused, nothing written
    def other_config(doc):
        from licbench.leaderboard.bundle import digest as _digest

        row = doc["cells"][0]
        row["cell"]["config"] = row["cell"]["config"].replace('"sub"', '"sub2"')
        row["digest"] = _digest(row["cell"], row["scores"])

    # the same key with other content is another submission: stored apart, the first kept
    rewrite(bundle, tmp_path / "conflict.zip", other_config)
    first = ResultStore(str(other)).frame("scores")
    assert main(["import", str(tmp_path / "conflict.zip"), "--db", str(other)]) == 0
    assert "4 cells imported" in capsys.readouterr().out
    cells = ResultStore(str(other)).frame("cells")
    assert cells.key.str.split(":").str[1].nunique() == 4 and len(cells) == 8
    after = ResultStore(str(other)).frame("scores")
    kept = after[after.cell_key.isin(set(first.cell_key))]
    order = ["cell_key", "image", "metric"]
    assert (
        kept.sort_values(order)
        .reset_index(drop=True)
        .equals(first.sort_values(order).reset_index(drop=True))
    )
    # a plugin this installation lacks is named
    alien = {"name": "alien", "qualities": [1]}
    rewrite(bundle, tmp_path / "alien.zip", lambda doc: doc["manifest"]["codecs"].append(alien))
    assert main(["verify", str(tmp_path / "alien.zip"), "--db", str(other)]) == 2
    assert "missing plugins here: codec 'alien'" in capsys.readouterr().err


def test_verify_reruns_the_bundles_own_manifest_so_attacks_draw_the_same_seeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An attack's seed derives from its cell's config. Verify once rewrote the manifest
    (Kodak told `download: false`), so each re-run attack drew other seeds and a bundle of
    Kodak PGD cells disagreed with itself; now it runs the manifest as it is, offline."""
    (tmp_path / "k.yaml").write_text(
        "name: kpgd\ndatasets: [{name: kodak, limit: 1, crop: 64}]\n"
        "codecs: [{name: bmshj2018-hyperprior-lite, qualities: [2]}]\n"
        "attacks: [{name: pgd, params: {iters: 3}}]\nmetrics: [bpp, psnr]\n"
    )
    db, bundle = tmp_path / "a.db", tmp_path / "k.zip"
    assert main(["run", str(tmp_path / "k.yaml"), "--db", str(db), "--no-progress"]) == 0
    assert main(["export", "--benchmark", "kpgd", "-o", str(bundle), "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["verify", str(bundle), "--sample", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 cells agree" in out
    worst = [float(line.split("|")[-2]) for line in out.splitlines() if "| bpp" in line]
    assert worst == [0.0]  # the same bits, not merely within tolerance


def test_the_site_marks_imported_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "m.yaml").write_text(
        MANIFEST.replace("attacks: [{name: pgd, params: {iters: 2}}]\n", "")
    )
    db, other, bundle = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "sub.zip"
    assert main(["run", str(tmp_path / "m.yaml"), "--db", str(db), "--no-progress"]) == 0
    threads = {json.loads(c)["threads"] for c in ResultStore(str(db)).frame("cells").config}
    assert threads == {torch.get_num_threads()}  # verify re-runs with as many
    assert main(["export", "--benchmark", "sub", "-o", str(bundle), "--db", str(db)]) == 0
    assert main(["import", str(bundle), "--db", str(other)]) == 0
    assert main(["leaderboard", "--db", str(other), "--site", str(tmp_path / "site")]) == 0
    page = (tmp_path / "site" / "sub_imported_sub.zip_.html").read_text()  # its own entry
    assert "3 cells imported from sub.zip" in page and "licbench verify sub.zip" in page
    assert "not verified here" in page
    # a verify result stored beside the import is shown on the page
    assert main(["verify", str(bundle), "--sample", "2", "--db", str(other)]) == 0
    assert main(["leaderboard", "--db", str(other), "--site", str(tmp_path / "site")]) == 0
    page = (tmp_path / "site" / "sub_imported_sub.zip_.html").read_text()  # its own entry
    assert "class='verified'>verified" in page and "re-run here: 2 of 2 cells agree" in page


def test_verify_reruns_on_the_device_the_cells_record(caplog: pytest.LogCaptureFixture) -> None:
    """Cells record their device (older cells: the CPU); a bundle of CUDA cells re-runs on
    CUDA where there is one, else on the CPU with a warning."""
    import json

    import torch

    from licbench.bench.bundle import recorded_device

    old, cpu = {"config": json.dumps({})}, {"config": json.dumps({"device": "cpu"})}
    cuda = {"config": json.dumps({"device": "cuda"})}
    assert recorded_device([old, cpu]) == "cpu" and not caplog.text
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert recorded_device([cuda]) == expected
    assert ("ran on cuda; re-run on the CPU here" in caplog.text) == (expected == "cpu")
    assert recorded_device([cuda, cpu]) == "cpu"


def test_verify_reruns_with_the_attack_batch_the_cells_record() -> None:
    """A batch above one may move an attack's result: verify re-runs with the recorded one
    (older cells record none: the device's default, as when they disagree)."""
    import json

    from licbench.bench.bundle import recorded_batch

    old, one = {"config": json.dumps({})}, {"config": json.dumps({"attack_batch": 1})}
    eight = {"config": json.dumps({"attack_batch": 8})}
    assert recorded_batch([old, eight, eight]) == 8
    assert recorded_batch([one]) == 1
    assert recorded_batch([old]) is None and recorded_batch([one, eight]) is None


def test_verify_compares_scores_within_tolerance_and_equal_infinities_agree() -> None:
    """A clean cell's input PSNR is inf in the bundle and inf here: it agrees (inf - inf is
    NaN, which a tolerance test alone would count as a disagreement)."""
    from licbench.bench.bundle import compare

    inf, nan = float("inf"), float("nan")
    assert compare(inf, inf, "input-psnr") == (True, 0.0)
    assert compare(nan, nan, "psnr") == (True, 0.0)
    assert compare(30.0, 30.0 * (1 + 5e-7), "psnr")[0]
    assert not compare(30.0, 30.3, "psnr")[0] and not compare(inf, 30.0, "psnr")[0]
    assert compare(None, 30.0, "psnr") == (False, inf)


def test_verify_reruns_with_the_threads_the_cells_record() -> None:
    """Another thread count moves CPU scores in their last digits: verify sets the recorded
    one for the re-run and restores this process's afterwards."""
    from licbench.bench.bundle import recorded_threads
    from licbench.threads import torch_threads

    one, two = ({"config": json.dumps({"threads": n})} for n in (1, 2))
    assert recorded_threads([one, one]) == 1
    assert recorded_threads([{"config": "{}"}]) is None and recorded_threads([one, two]) is None
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
