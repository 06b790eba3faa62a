"""A hostile-input corpus, built at test time: each case goes through the command that reads
it and must fail with one `licbench: error:` line that names the file, with no traceback,
leaving an existing results database byte-identical."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from licbench.cli import main


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width``×``height`` (a decompression bomb's start)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def corpus(tmp_path: Path, image_dir: Path) -> dict[str, Path]:
    good = sorted(image_dir.glob("*.png"))[0]
    c = tmp_path / "corpus"
    c.mkdir()
    files = {
        "text-as-png": b"hello, I am not an image\n",
        "empty-png": b"",
        "truncated-png": good.read_bytes()[:200],
        "garbage-png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    }
    out = {}
    for name, data in files.items():
        out[name] = c / f"{name}.png"
        out[name].write_bytes(data)
    out["bomb-png"] = png_header_only(c / "bomb.png", 100_000, 100_000)
    for name in ("text-as-png", "bomb-png", "truncated-png"):  # each alone in a folder
        folder = c / f"dir-{name}"
        folder.mkdir()
        (folder / out[name].name).write_bytes(out[name].read_bytes())
        out[f"dir-{name}"] = folder
    out["yaml-bad"] = c / "bad.yaml"
    out["yaml-bad"].write_text("name: x\ndatasets: [samples\n")
    out["yaml-cycle"] = c / "cycle.yaml"
    out["yaml-cycle"].write_text("include: cycle.yaml\nname: x\n")
    out["foreign-db"] = c / "foreign.db"
    import sqlite3

    with sqlite3.connect(out["foreign-db"]) as con:
        con.execute("CREATE TABLE mine (x INTEGER)")
    out["text-db"] = c / "text.db"
    out["text-db"].write_text("not a database\n" * 100)
    out["artifact-text"] = c / "artifact.pt"
    out["artifact-text"].write_text("not an artifact")
    out["good"] = good
    return out


def cases(c: dict[str, Path], tmp: Path) -> dict[str, tuple[list[str], Path]]:
    """(argv, the file the error must name) per case."""
    out = tmp / "out.png"
    jpeg = ["--codec", "jpeg", "--quality", "50"]
    rows: dict[str, tuple[list[str], Path]] = {}
    for name in ("text-as-png", "empty-png", "truncated-png", "garbage-png", "bomb-png"):
        rows[f"compress {name}"] = (["compress", str(c[name]), str(tmp / "o.licb"), *jpeg], c[name])
    rows["poison text artifact"] = (
        ["poison", "--artifact", str(c["artifact-text"]), str(c["good"]), str(out)],
        c["artifact-text"],
    )
    for name in ("dir-text-as-png", "dir-bomb-png", "dir-truncated-png"):
        image = next(c[name].iterdir())
        rows[f"eval {name}"] = (["eval", *jpeg, "--data", str(c[name])], image)
        manifest = tmp / f"{name}.yaml"
        manifest.write_text(
            f"name: m\ndatasets: [{{name: folder, params: {{path: {c[name]}}}}}]\n"
            "codecs: [{name: jpeg, qualities: [50]}]\nmetrics: [bpp]\n"
        )
        rows[f"run {name}"] = (["run", str(manifest), "--no-progress"], image)
    rows["validate bad yaml"] = (["validate", str(c["yaml-bad"])], c["yaml-bad"])
    rows["validate include cycle"] = (["validate", str(c["yaml-cycle"])], c["yaml-cycle"])
    rows["decompress text"] = (["decompress", str(c["text-as-png"]), str(out)], c["text-as-png"])
    for name in ("foreign-db", "text-db"):
        rows[f"leaderboard {name}"] = (["leaderboard", "--db", str(c[name])], c[name])
    return rows


def test_hostile_inputs_are_one_line_errors_and_the_database_is_untouched(
    corpus: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "results.db"
    ok = tmp_path / "ok.yaml"
    ok.write_text("name: ok\ndatasets: [{name: samples, limit: 1}]\n"
                  "codecs: [{name: jpeg, qualities: [50]}]\nmetrics: [bpp, psnr]\n")  # fmt: skip
    assert main(["run", str(ok), "--db", str(db), "--no-progress"]) == 0
    before = db.read_bytes()
    monkeypatch.setenv("LICBENCH_MAX_PIXELS", "20000000")
    for name, (argv, culprit) in cases(corpus, tmp_path).items():
        if argv[0] == "run":
            argv = [*argv, "--db", str(db)]
        capsys.readouterr()
        rc = main(argv)
        err = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("WARNING")]
        assert rc == 2, (name, rc, err)
        assert len(err) == 1 and err[0].startswith("licbench: error:"), (name, err)
        assert str(culprit) in err[0] or culprit.name in err[0], (name, err)
        assert "Traceback" not in err[0]
        assert db.read_bytes() == before, f"{name} changed the results database"
