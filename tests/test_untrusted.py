"""Bundles, bitstreams and manifests from strangers, built at test time: each case exits 2
with one `licbench: error:` line (or, where the input is legal, gives a safe result that is
labelled as such), prints no traceback, ends on no signal, stays under 1 GB and 10 s, and
leaves every existing database byte-identical."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from licbench.bench.store import ResultStore
from licbench.cli import main
from licbench.leaderboard.bundle import digest

MANIFEST = """\
name: sub
datasets: [{name: samples, limit: 2, crop: 96}]
codecs: [{name: jpeg, qualities: [30, 70]}, {name: webp, qualities: [30, 70]}]
metrics: [bpp, psnr]
"""
LIMIT_S, LIMIT_KB = 10.0, 1 << 20  # per case: 10 s, 1 GB


def cli(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, float, int]:
    """``licbench ARGV`` in a child process: exit status (negative: a signal), stderr,
    seconds, peak resident kB (VmHWM of the exec'd process, polled while it runs)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "licbench.cli", *argv],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **(env or {})},
        )
        peak = 0
        while proc.poll() is None:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                peak = max(peak, int(status.split("VmHWM:")[1].split()[0]))
            except (OSError, IndexError, ValueError):
                pass
            time.sleep(0.005)
        err.seek(0)
        text = err.read().decode()
    return proc.returncode, text, time.perf_counter() - t0, peak


def refused(result: tuple[int, str, float, int], culprit: str, what: str) -> None:
    rc, err, seconds, kb = result
    lines = [ln for ln in err.splitlines() if not ln.startswith(("WARNING", "INFO"))]
    assert rc == 2, (what, rc, err[-500:])
    assert len(lines) == 1 and lines[0].startswith("licbench: error:"), (what, lines)
    assert culprit in lines[0] and "Traceback" not in err, (what, lines)
    assert seconds < LIMIT_S and kb < LIMIT_KB, (what, seconds, kb)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("untrusted")
    (tmp / "m.yaml").write_text(MANIFEST)
    db = tmp / "a.db"
    assert main(["run", str(tmp / "m.yaml"), "--db", str(db), "--no-progress"]) == 0
    assert main(["export", "--benchmark", "sub", "-o", str(tmp / "sub.zip"), "--db", str(db)]) == 0
    return {"dir": tmp, "manifest": tmp / "m.yaml", "bundle": tmp / "sub.zip", "db": db}


def forge(
    src: Path, dst: Path, edit: Callable[[dict[str, Any]], None], redigest: bool = True
) -> Path:
    """A bundle edited as any sender can: its digests recomputed after the edit."""
    doc = json.loads(zipfile.ZipFile(src).read("bundle.json"))
    edit(doc)
    for row in doc.get("cells", []) if redigest and isinstance(doc, dict) else []:
        try:
            row["digest"] = digest(row["cell"], row["scores"])
        except (KeyError, TypeError, AttributeError):
            pass
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bundle.json", json.dumps(doc))
    return dst


def plant(doc: dict[str, Any]) -> None:
    """JPEG at 99 dB and 0.01 bpp."""
    for row in doc["cells"]:
        row["scores"] = [[i, m, 99.0 if m == "psnr" else 0.01] for i, m, _ in row["scores"]]


def test_a_planted_bundle_never_stands_in_for_a_local_run(
    exported: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = forge(exported["bundle"], tmp_path / "planted.zip", plant)
    db = str(tmp_path / "b.db")
    assert main(["import", str(planted), "--db", db]) == 0
    assert main(["run", str(exported["manifest"]), "--db", db, "--no-progress"]) == 0
    assert "4 cells: 4 run, 0 already stored" in capsys.readouterr().out  # all computed here
    assert main(["leaderboard", "--db", db, "--benchmark", "sub", "--format", "json"]) == 0
    mine = json.loads(capsys.readouterr().out)["sub / samples / jpeg"]["rows"]
    assert all(r["psnr"] < 60 and r["bpp"] > 0.05 for r in mine)  # the local figures
    assert main(["leaderboard", "--db", db]) == 0
    index = capsys.readouterr().out
    assert "sub [imported: planted.zip]" in index  # the planted ones, under their submission
    bench = "sub [imported: planted.zip]"
    assert main(["leaderboard", "--db", db, "--benchmark", bench, "--format", "json"]) == 0
    theirs = json.loads(capsys.readouterr().out)[f"{bench} / samples / jpeg"]["rows"]
    assert {r["psnr"] for r in theirs} == {99.0}


def test_an_import_changes_no_local_metric_and_is_all_or_nothing(
    exported: dict[str, Path], tmp_path: Path
) -> None:
    flip = forge(exported["bundle"], tmp_path / "flip.zip", lambda d: [
        m.update(higher_is_better=not m["higher_is_better"]) for m in d["metrics"]])  # fmt: skip
    db = tmp_path / "b.db"
    assert main(["run", str(exported["manifest"]), "--db", str(db), "--no-progress"]) == 0
    before = ResultStore(str(db)).frame("metrics")
    assert main(["import", str(flip), "--db", str(db)]) == 0
    assert ResultStore(str(db)).frame("metrics").equals(before)
    # one bad cell among good ones: nothing is written, no run is left behind
    late = forge(exported["bundle"], tmp_path / "late.zip",
                 lambda d: d["cells"][-1]["cell"].update(n_images="abc"))  # fmt: skip
    image = db.read_bytes()
    assert main(["import", str(late), "--db", str(db)]) == 2
    assert db.read_bytes() == image


def _bundles(src: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    """Malformed and oversized bundles: (file, what the error must name)."""
    out: dict[str, tuple[Path, str]] = {}

    def add(name: str, edit: Callable[[dict[str, Any]], None]) -> None:
        out[name] = (forge(src, tmp / f"{name}.zip", edit), f"{name}.zip")

    add("manifest-a-list", lambda d: d.update(manifest=[1, 2]))
    add("n-images-a-string", lambda d: d["cells"][0]["cell"].update(n_images="abc"))
    add("unknown-field", lambda d: d["cells"][0]["cell"].update(evil=1))
    add("cells-a-dict", lambda d: d.update(cells={"a": 1}))
    add("score-a-string", lambda d: d["cells"][0]["scores"][0].__setitem__(2, "x"))
    add("key-not-hex", lambda d: d["cells"][0]["cell"].update(key="../../etc"))
    add("control-char-label", lambda d: d["cells"][0]["cell"].update(label="a\x1b[31m"))
    add("no-format", lambda d: d.pop("format"))
    add("format-1", lambda d: d.update(format="licbench-bundle/1"))
    add("quality-inf", lambda d: d["cells"][0]["cell"].update(quality=float("inf")))
    add("config-not-json", lambda d: d["cells"][0]["cell"].update(config="{"))
    add("status-failed", lambda d: d["cells"][0]["cell"].update(status="failed"))
    add("benchmark-path", lambda d: d.update(benchmark="../x"))
    add("too-many-cells", lambda d: d.update(cells=d["cells"] * 1300))
    bomb = tmp / "zip-bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bundle.json", b"{" + b" " * (100 << 20) + b"}")  # 100 MB in ~100 kB
    out["zip-bomb"] = (bomb, "zip-bomb.zip")
    two = tmp / "two-members.zip"
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("bundle.json", zipfile.ZipFile(src).read("bundle.json"))
        z.writestr("../evil", b"x")
    out["two-members"] = (two, "two-members.zip")
    (tmp / "not-a-zip.zip").write_bytes(b"PK\x03\x04garbage")
    out["not-a-zip"] = (tmp / "not-a-zip.zip", "not-a-zip.zip")
    (tmp / "json-list.zip").unlink(missing_ok=True)
    with zipfile.ZipFile(tmp / "json-list.zip", "w") as z:
        z.writestr("bundle.json", b"[1, 2, 3]")
    out["json-list"] = (tmp / "json-list.zip", "json-list.zip")
    return out


@pytest.mark.slow
def test_malformed_and_oversized_bundles_are_refused_and_store_nothing(
    exported: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "b.db"
    assert main(["run", str(exported["manifest"]), "--db", str(db), "--no-progress"]) == 0
    image = db.read_bytes()
    cases = _bundles(exported["bundle"], tmp_path)
    assert len(cases) >= 18
    for name, (path, culprit) in cases.items():
        refused(cli("import", str(path), "--db", str(db)), culprit, name)
        assert db.read_bytes() == image, name


@pytest.mark.slow
def test_verify_draws_a_fresh_sample_a_seed_repeats_and_nothing_local_is_read(
    exported: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "b.db")
    bundle = str(exported["bundle"])
    assert main(["import", bundle, "--db", db]) == 0
    seeds = []
    for _ in range(2):
        assert main(["verify", bundle, "--sample", "2", "--db", db]) == 0
        seeds.append(capsys.readouterr().out.split("--seed ")[1].split()[0])
    assert seeds[0] != seeds[1]  # a sender cannot know the sample
    for _ in range(2):
        assert main(["verify", bundle, "--sample", "2", "--seed", seeds[0], "--db", db]) == 0
    checks = ResultStore(db).frame("verifications")
    assert list(checks.seed) == [*seeds, seeds[0], seeds[0]]
    assert checks.cells.iloc[2] == checks.cells.iloc[3] == checks.cells.iloc[0]  # repeated
    assert set(checks.n_cells) == {4} and set(checks.agree_cells) == {2}
    local = forge(exported["bundle"], tmp_path / "local.zip", lambda d: d["manifest"].update(
        datasets=[{"name": "folder", "params": {"path": "/etc"}}]))  # fmt: skip
    refused(cli("verify", str(local), "--db", db), "local.zip", "verify local path")
    for bad in ("0", "-1"):
        refused(cli("verify", bundle, "--sample", bad), "--sample", f"--sample {bad}")


def _stream(tmp: Path) -> tuple[dict[str, Any], bytes]:
    from PIL import Image

    Image.new("RGB", (96, 64), (120, 60, 30)).save(tmp / "a.png")
    assert main(["compress", str(tmp / "a.png"), str(tmp / "a.bin"),
                 "--codec", "bmshj2018-hyperprior-lite", "--quality", "2"]) == 0  # fmt: skip
    data = (tmp / "a.bin").read_bytes()
    (n,) = struct.unpack_from("<I", data, 5)
    return json.loads(data[9 : 9 + n]), data[17 + n :]


def _write(path: Path, head: bytes, payload: bytes) -> Path:
    crc = zlib.crc32(head + payload)
    path.write_bytes(b"LICB" + struct.pack("<BI", 2, len(head)) + head
                     + struct.pack("<II", len(payload), crc) + payload)  # fmt: skip
    return path


@pytest.mark.slow
def test_crafted_headers_are_refused_without_crash_read_or_download(tmp_path: Path) -> None:
    head, payload = _stream(tmp_path)
    secret = tmp_path / "secret.pth.tar"
    secret.write_bytes(b"not yours")
    edits: dict[str, dict[str, Any]] = {
        "pretrained": {"params": {"pretrained": True}},
        "checkpoint": {"params": {"checkpoint": str(secret)}},
        "huge": {"height": 50, "width": 1_000_000, "meta": {"shape": [1, 15625]}},
        "no-fingerprint": {"fingerprint": "", "decoder_fingerprint": ""},
        "defense-artifact-path": {"defense": {"name": "adversarial-finetune",
                                              "artifact": {"family": "/etc", "key": "passwd"}}},
        "unknown-param": {"params": {"N": 10**9}},
    }  # fmt: skip
    for name, edit in edits.items():
        path = _write(tmp_path / f"{name}.bin", json.dumps({**head, **edit}).encode(), payload)
        refused(cli("decompress", str(path), str(tmp_path / "o.png")), f"{name}.bin", name)
    deep = json.dumps(head)[:-1] + ', "meta": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    path = _write(tmp_path / "deep.bin", deep.encode(), payload)
    refused(cli("decompress", str(path), str(tmp_path / "o.png")), "deep.bin", "deep")
    good = tmp_path / "a.bin"
    refused(cli("decompress", str(good), str(tmp_path / "no" / "o.png")), "no", "missing folder")
    refused(cli("decompress", str(good), str(tmp_path / "o.xyz")), "o.xyz", "extension")
    nowhere = str(tmp_path / "no" / "o.bin")
    refused(cli("compress", str(tmp_path / "a.png"), nowhere, "--codec", "jpeg", "--quality",
                "50"), nowhere, "compress to a missing folder")  # fmt: skip
    env = {"LICBENCH_MAX_PIXELS": "99999999999999999999999"}
    refused(cli("decompress", str(good), str(tmp_path / "o.png"), env=env), "LICBENCH_MAX_PIXELS",
            "pixel limit")  # fmt: skip
    rc, err, *_ = cli("decompress", str(good), str(tmp_path / "o.png"))
    assert rc == 0 and (tmp_path / "o.png").is_file(), err  # the real stream still decodes


@pytest.mark.slow
def test_hostile_manifests_are_refused_fast_and_small(tmp_path: Path) -> None:
    t = tmp_path
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 6):
        lines.append(
            f"b{i}: &b{i} [" + ", ".join([f"*{'a' if i == 1 else f'b{i - 1}'}"] * 10) + "]"
        )
    files = {
        "dev-zero": "include: [/dev/zero]\nname: x\n",
        "absolute-include": f"include: [{t / 'abs.yaml'}]\nname: x\n",
        "missing-include": "include: [nowhere.yaml]\nname: x\n",
        "alias-bomb": "\n".join(lines) + "\nname: bomb\n",
        "big-int": "name: x\nseed: " + "9" * 5000 + "\n",
        "deep": "name: x\nk: " + "[" * 3000 + "]" * 3000 + "\n",
        "giant": "name: g\ndatasets: [samples]\ncodecs: [{name: jpeg, qualities: ["
        + ", ".join(str(q) for q in range(1, 96))
        + "]}]\nattacks: ["
        + ", ".join(["fgsm"] * 110)
        + "]\ndefenses: ["
        + ", ".join(["gaussian-blur"] * 110)
        + "]\nmetrics: [bpp]\n",
    }
    (t / "abs.yaml").write_text("name: y\n")
    for name, text in files.items():
        (t / f"{name}.yaml").write_text(text)
    (t / "unreadable.yaml").write_text("include: [secret.yaml]\nname: x\n")
    (t / "secret.yaml").write_text("name: s\n")
    (t / "secret.yaml").chmod(0)
    os.mkfifo(t / "fifo.yaml")
    names = [*files, "fifo"] + (["unreadable"] if os.geteuid() != 0 else [])
    for name in names:
        for cmd in (["validate"], ["run", "--dry-run"], ["run"]):
            db = t / f"{name}.db"
            given = ["--db", str(db)] if cmd[0] == "run" else []
            result = cli(cmd[0], str(t / f"{name}.yaml"), *cmd[1:], *given)
            culprit = f"{name}.yaml"
            refused(result, culprit, f"{cmd} {name}")
            assert not db.exists(), f"a failed {cmd} created {db}"
    rc, err, seconds, kb = cli("validate", str(t / "dev-zero.yaml"))
    assert seconds < 2 and kb < 200_000, (seconds, kb)  # refused before torch is imported
    rc, err, seconds, kb = cli("validate", str(t / "alias-bomb.yaml"))
    assert "alias" in err and seconds < 2 and kb < 200_000, (seconds, kb)
