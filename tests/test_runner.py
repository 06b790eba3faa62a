from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from licbench.api.attack import Attack
from licbench.api.codec import Codec, Encoded
from licbench.bench.checker import load_manifest
from licbench.bench.run import Runner
from licbench.bench.store import ResultStore
from licbench.errors import LicbenchError
from licbench.plugin.hookspecs import hookimpl
from licbench.plugin.manager import build_plugin_manager, build_registry, load_registry

MANIFEST = """\
name: t
datasets: [{name: samples, limit: 2}]
codecs:
  - {name: jpeg, qualities: [30, 70]}
metrics: [bpp, psnr, ms-ssim]
"""


def run(tmp_path: Path, text: str, db: str = "r.db", registry=None, **kw):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    store = ResultStore(str(tmp_path / db))
    registry = registry or load_registry()
    m = load_manifest(path, registry)
    return Runner(m, store, device="cpu", progress=False, registry=registry, **kw).run(), store


def test_run_stores_per_image_scores_with_provenance(tmp_path: Path) -> None:
    summary, store = run(tmp_path, MANIFEST)
    assert (summary.total, summary.done, summary.failed) == (2, 2, 0)
    cells, scores = store.frame("cells"), store.frame("scores")
    assert set(scores.image) == {"astronaut", "chelsea"}
    assert len(scores) == 2 * 2 * 3
    row = cells.iloc[0]
    assert '"torch"' in row.versions and '"codec:jpeg": "licbench==' in row.versions
    assert '"dataset"' in row.fingerprints and row.seconds > 0 and row.n_images == 2


def test_rerun_skips_finished_cells(tmp_path: Path) -> None:
    run(tmp_path, MANIFEST)
    summary, store = run(tmp_path, MANIFEST)
    assert (summary.done, summary.skipped) == (0, 2)
    summary, store = run(tmp_path, MANIFEST.replace("[30, 70]", "[30, 70, 90]"))
    assert (summary.done, summary.skipped) == (1, 2)
    assert len(store.frame("cells")) == 3


class Flaky(Codec):
    name = "flaky"

    def compress(self, x) -> Encoded:
        if self.quality == 2:
            raise RuntimeError("boom at quality 2")
        return Encoded(b"\0" * 10, x.shape[-2], x.shape[-1])

    def decompress(self, enc: Encoded):
        import torch

        return torch.zeros(1, 3, enc.height, enc.width)


class FlakyPlugin:
    @staticmethod
    @hookimpl
    def register_codecs(register) -> None:
        register("flaky", Flaky)


def test_failing_cell_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    reg = build_registry(*build_plugin_manager({"flaky-plugin": FlakyPlugin()}))
    text = MANIFEST.replace(
        "{name: jpeg, qualities: [30, 70]}", "{name: flaky, qualities: [1, 2, 3]}"
    )
    summary, store = run(tmp_path, text, registry=reg)
    assert (summary.done, summary.failed) == (2, 1)
    cells = store.frame("cells").set_index("quality")
    assert cells.status[2.0] == "failed" and cells.error[2.0] == "RuntimeError: boom at quality 2"
    trace = cells.traceback[2.0]  # the plugin's own file and line, not the runner's re-raise
    assert "Traceback" in trace and 'test_runner.py", line' in trace and "in compress" in trace
    summary, _ = run(tmp_path, text, registry=reg)  # failed cells are retried, done skipped
    assert (summary.skipped, summary.failed) == (2, 1)


@pytest.mark.slow
def test_learned_codec_numbers_repeat_exactly_on_cpu(tmp_path: Path) -> None:
    text = MANIFEST.replace(
        "{name: jpeg, qualities: [30, 70]}", "{name: bmshj2018-factorized, qualities: [1]}"
    )
    text = text.replace("[bpp, psnr, ms-ssim]", "[bpp, bpp-estimate, psnr]")
    _, a = run(tmp_path, text, db="a.db")
    _, b = run(tmp_path, text, db="b.db")
    sa, sb = (s.frame("scores").sort_values(["image", "metric"]) for s in (a, b))
    assert list(sa.value) == list(sb.value)
    assert a.frame("cells").key[0] == b.frame("cells").key[0]


def test_image_below_metric_minimum_is_a_clear_error(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "tiny"
    folder.mkdir()
    Image.new("RGB", (100, 80)).save(folder / "small.png")
    text = MANIFEST.replace(
        "[{name: samples, limit: 2}]", f"[{{name: folder, params: {{path: '{folder}'}}}}]"
    )
    with pytest.raises(
        LicbenchError,
        match=r"small is 100x80, smaller than the 161px minimum of ms-ssim; use larger",
    ):
        run(tmp_path, text)


def test_crop_takes_the_central_window_and_names_an_image_too_small(tmp_path: Path) -> None:
    import skimage.data

    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST.replace("limit: 2}", "limit: 2, crop: 64}").replace(", ms-ssim", ""))
    m = load_manifest(path, load_registry())
    runner = Runner(
        m,
        ResultStore(str(tmp_path / "r.db")),
        device="cpu",
        progress=False,
        registry=load_registry(),
    )
    name, x = runner.images(m.datasets[0])[0]
    full = skimage.data.astronaut()  # 512x512
    assert name == "astronaut" and x.shape[-2:] == (64, 64)
    assert round(float(x[0, 0, 0, 0]) * 255) == int(full[224, 224, 0])
    text = MANIFEST.replace("limit: 2}", "limit: 2, crop: 9999}")
    with pytest.raises(LicbenchError, match=r"image astronaut is 512x512, smaller than crop: 9999"):
        run(tmp_path, text, db="r2.db")


KILL_MANIFEST = """\
name: killme
datasets: [{name: samples, limit: 3}]
codecs:
  - {name: bmshj2018-factorized, qualities: [1, 2, 3, 4, 5, 6, 7, 8]}
metrics: [bpp, psnr]
"""


@pytest.mark.slow
def test_kill_9_then_resume_stores_every_cell_exactly_once(tmp_path: Path) -> None:
    manifest = tmp_path / "k.yaml"
    manifest.write_text(KILL_MANIFEST)
    db = tmp_path / "k.db"
    cmd = [
        sys.executable,
        "-m",
        "licbench.cli",
        "run",
        str(manifest),
        "--db",
        str(db),
        "--device",
        "cpu",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = 0
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as con:
                    done = con.execute("SELECT count(*) FROM cells").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if done >= 2:
                break
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as con:
        before = con.execute("SELECT count(*) FROM cells").fetchone()[0]
    assert 2 <= before < 8
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with sqlite3.connect(db) as con:
        keys = [r[0] for r in con.execute("SELECT key FROM cells WHERE status='done'")]
        per_cell = con.execute("SELECT count(*) FROM scores GROUP BY cell_key").fetchall()
    assert len(keys) == len(set(keys)) == 8
    assert [n for (n,) in per_cell] == [3 * 2] * 8


class RandomNoise(Attack):
    """A gray-box test attack: uniform noise from the global RNG; counts its calls."""

    calls = 0

    def perturb(self, codec, x, ctx):
        import torch

        RandomNoise.calls += 1
        return (x + 0.05 * (2 * torch.rand_like(x) - 1)).clamp(0, 1)


class Idle(Attack):
    """An attack that forgot to attack (e.g. its gradient was zero): returns its input."""

    def perturb(self, codec, x, ctx):
        return x


class Slow(Attack):
    """A gray-box attack that takes 0.5 s an image (time a real one spends computing)."""

    def perturb(self, codec, x, ctx):
        time.sleep(0.5)
        return (1 - x).clamp(0, 1)


class NoisePlugin:
    @staticmethod
    @hookimpl
    def register_attacks(register) -> None:
        register("noise-test", RandomNoise)
        register("idle-test", Idle)
        register("slow-test", Slow)


def test_an_attack_that_changes_nothing_is_warned_stored_and_printed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    reg = build_registry(*build_plugin_manager({"noise-plugin": NoisePlugin()}))
    text = MANIFEST + "attacks: [idle-test, noise-test]\nclean: false\n"
    summary, store = run(tmp_path, text, registry=reg)
    assert summary.failed == 0 and summary.done == 4
    cells = store.frame("cells").set_index("attack")
    warned = {a: json.loads(c).get("warnings") for a, c in cells.config.items()}
    expected = "the attack left 2 of 2 images unchanged (its output equals its input"
    assert warned["idle-test"] and warned["idle-test"][0].startswith(expected)
    assert warned["noise-test"] is None
    assert f"idle-test/none: {expected}" in caplog.text


def test_gray_box_input_is_computed_once_per_image_and_met_by_every_defense(
    tmp_path: Path,
) -> None:
    reg = build_registry(*build_plugin_manager({"noise-plugin": NoisePlugin()}))
    text = MANIFEST.replace("bpp, psnr, ms-ssim", "bpp, input-psnr") + (
        "attacks: [noise-test]\ndefenses: [{name: gaussian-blur}, {name: bit-squeeze}]\n"
    )
    RandomNoise.calls = 0
    summary, store = run(tmp_path, text, registry=reg)
    assert summary.failed == 0 and summary.done == 2 * 2 * 3  # qualities × attacks × defenses
    assert RandomNoise.calls == 2 * 2  # per quality and image, not per defense
    s = store.frame("scores").merge(store.frame("cells"), left_on="cell_key", right_on="key")
    attacked = s[(s.attack == "noise-test") & (s.metric == "input-psnr")]
    # the same noise met every defense
    assert (attacked.groupby(["quality", "image"]).value.nunique() == 1).all()
    assert attacked.value.nunique() == 4
    # and it is seeded by the image, not by whichever cell came first
    swapped = text.replace(
        "[{name: gaussian-blur}, {name: bit-squeeze}]",
        "[{name: bit-squeeze}, {name: gaussian-blur}]",
    )
    run(tmp_path, swapped + "clean: false\n", db="swapped.db", registry=reg)
    again = ResultStore(str(tmp_path / "swapped.db")).frame("scores")
    assert set(again[again.metric == "input-psnr"].value) == set(attacked.value)


def test_cells_of_a_gray_box_group_share_its_attack_time(tmp_path: Path) -> None:
    """One attack task makes the inputs of the three cells that meet it (no defense and two
    defenses): each cell's stored seconds hold a third of it, so an estimate made from
    stored timings counts the attack once (0.5 s an image, 2 images: 1 s a group)."""
    reg = build_registry(*build_plugin_manager({"noise-plugin": NoisePlugin()}))
    text = MANIFEST + "attacks: [slow-test]\ndefenses: [gaussian-blur, bit-squeeze]\n"
    summary, store = run(tmp_path, text, registry=reg)
    cells = store.frame("cells")
    attacked = cells[cells.attack == "slow-test"]
    assert summary.failed == 0 and len(attacked) == 2 * 3  # qualities × (none + 2 defenses)
    assert (attacked.seconds >= 1.0 / 3).all()
    assert (cells[cells.attack == "none"].seconds < 1.0 / 3).all()  # the clean cells: no share
    assert (attacked.groupby("quality").seconds.sum() >= 1.0).all()


DRILL_MANIFEST = """\
name: drill
datasets: [{name: samples, limit: 2}]
codecs: [{name: jpeg, qualities: [20, 40, 60, 80]}]
metrics: [bpp, psnr, encode-seconds]
"""


@pytest.mark.slow
def test_kill_9_drill_from_database_creation_on(tmp_path: Path) -> None:
    """kill -9 at random moments from the very start (imports, creating the database,
    writing cells), then a last run: every cell once, the scores of an uninterrupted run,
    and an intact file."""
    import random

    manifest = tmp_path / "d.yaml"
    manifest.write_text(DRILL_MANIFEST)

    def cmd(db: Path) -> list[str]:
        return [sys.executable, "-m", "licbench.cli", "run", str(manifest), "--db", str(db),
                "--device", "cpu", "--no-progress"]  # fmt: skip

    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(cmd(tmp_path / "clean.db"), check=True, **quiet)
    db, rng = tmp_path / "killed.db", random.Random(0)
    for _ in range(4):
        proc = subprocess.Popen(cmd(db), **quiet)
        time.sleep(rng.uniform(1.0, 6.0))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    subprocess.run(cmd(db), check=True, **quiet)

    def scores(path: Path) -> list[tuple]:
        with sqlite3.connect(path) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            keys = [r[0] for r in con.execute("SELECT key FROM cells WHERE status='done'")]
            assert len(keys) == len(set(keys)) == 4
            return con.execute(
                "SELECT cell_key, image, metric, value FROM scores "
                "WHERE metric != 'encode-seconds' ORDER BY 1, 2, 3"
            ).fetchall()

    assert scores(db) == scores(tmp_path / "clean.db")
    with sqlite3.connect(db) as con:  # the killed runs are marked, the last one finished
        states = [r[0] for r in con.execute("SELECT status FROM runs ORDER BY id")]
    assert states[-1] == "finished" and "running" not in states, states


def test_failed_cells_are_shown_apart_and_a_benchmark_of_failures_gets_a_page(
    tmp_path: Path,
) -> None:
    """A failed cell is listed with its error, never ranked; a benchmark whose every cell
    failed still has its index line and page."""
    from licbench.leaderboard.site import Site
    from licbench.leaderboard.view import Results

    reg = build_registry(*build_plugin_manager({"flaky-plugin": FlakyPlugin()}))
    text = MANIFEST.replace("{name: jpeg, qualities: [30, 70]}", "{name: flaky, qualities: [2]}")
    run(tmp_path, text.replace("name: t", "name: broken"), registry=reg)
    run(tmp_path, text.replace("qualities: [2]", "qualities: [1, 2]"), registry=reg)
    results = Results(ResultStore(str(tmp_path / "r.db"), create=False))
    index = results.index().set_index("benchmark")
    assert index.failed.to_dict() == {"broken": 1, "t": 1} and index.rows["broken"] == 0
    (failed,) = [t for name, t in results.tables("broken").items() if "failed" in name]
    assert failed.frame.error.tolist() == ["RuntimeError: boom at quality 2"]
    pages = Site(results, tmp_path / "site").write()
    assert "boom at quality 2" in (tmp_path / "site" / "broken.html").read_text()
    assert len(pages) == 3  # the index, t and broken
