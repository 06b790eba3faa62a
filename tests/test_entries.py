"""What a leaderboard entry is: complete runs only, the user's results beside the shipped
reference results, failures that explain themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import licbench
from licbench.bench.store import ResultStore
from licbench.cli import main
from licbench.errors import LicbenchError

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = """\
name: entries
datasets: [{name: samples, limit: 3}]
codecs: [{name: jpeg, qualities: [30, 70]}, {name: webp, qualities: [30, 70]}]
metrics: [bpp, psnr]
"""


def _tables(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert main(["leaderboard", "--benchmark", "entries", "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_narrowed_run_is_partial_and_never_replaces_the_complete_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    db = str(tmp_path / "r.db")
    run = ["run", str(tmp_path / "m.yaml"), "--db", db, "--no-progress"]
    assert main(run) == 0
    full = _tables(capsys, "--db", db)["entries / samples / jpeg"]["rows"]
    assert main([*run, "--limit-images", "1"]) == 0  # a smoke test, stored as partial
    store = ResultStore(db, create=False)
    runs, cells = store.frame("runs"), store.frame("cells")
    assert list(runs.partial) == [False, True] and cells.partial.sum() == 4
    assert _tables(capsys, "--db", db)["entries / samples / jpeg"]["rows"] == full
    assert {r["images"] for r in full} == {3}
    both = _tables(capsys, "--db", db, "--partial")["entries / samples / jpeg"]["rows"]
    labels = {(r["label"], r["images"]) for r in both}
    assert labels == {("jpeg", 3), ("jpeg (partial)", 1)}
    assert (
        main(["export", "--benchmark", "entries", "-o", str(tmp_path / "b.zip"), "--db", db]) == 0
    )
    assert "4 cells of entries" in capsys.readouterr().out  # the complete ones only


@pytest.mark.slow
def test_runs_go_to_the_users_database_and_the_leaderboard_shows_both_sources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "home" / "results.db"
    monkeypatch.setenv("LICBENCH_RESULTS", str(mine))
    reference = ROOT / "results.db"
    before = reference.read_bytes()
    (tmp_path / "m.yaml").write_text(MANIFEST)
    summary = licbench.run(tmp_path / "m.yaml")  # the public API, default database
    assert (summary.done, summary.failed) == (4, 0) and mine.is_file()
    assert reference.read_bytes() == before  # the shipped results are never written
    assert main(["leaderboard"]) == 0
    index = capsys.readouterr().out
    assert "| entries " in index and "| yours " in index and "| reference " in index
    assert "| adv-fig6 " in index  # the reference results, marked as such
    tables = licbench.results().tables("entries")
    assert "entries / samples / BD vs jpeg" in tables
    assert "not a ranking" in tables["entries / samples / jpeg"].caption
    assert main(["leaderboard", "--benchmark", "entries"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("entries: from your results")
    assert max(len(line) for line in out.splitlines()) <= 120


@pytest.mark.slow
def test_the_readme_quickstart_leaves_git_status_clean(tmp_path: Path) -> None:
    """The README's commands write nothing into the checkout (run on a 1-image copy of
    the quickstart, so that the test stays fast)."""
    text = (ROOT / "benchmarks" / "quickstart.yaml").read_text()
    assert (
        "licbench run benchmarks/quickstart.yaml && licbench leaderboard"
        in (ROOT / "README.md").read_text()
    )
    quick = tmp_path / "quick.yaml"
    quick.write_text(MANIFEST)
    status = ["git", "-C", str(ROOT), "status", "--porcelain"]
    before = subprocess.run(status, capture_output=True, text=True, check=True).stdout
    for cmd in (["run", str(quick), "--no-progress"], ["leaderboard"]):
        subprocess.run([sys.executable, "-m", "licbench.cli", *cmd], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
    after = subprocess.run(status, capture_output=True, text=True, check=True).stdout
    assert after == before and "name: quickstart" in text


def test_a_failed_cell_shows_in_the_dry_run_and_licbench_show_prints_its_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST.replace("limit: 3", "limit: 1"))
    db = str(tmp_path / "r.db")
    assert main(["run", str(tmp_path / "m.yaml"), "--db", db, "--no-progress"]) == 0
    capsys.readouterr()
    store = ResultStore(db)
    key = str(store.frame("cells").key.iloc[0])
    with store.engine.begin() as conn:  # as a crashed plugin leaves it
        conn.exec_driver_sql(
            "UPDATE cells SET status = 'failed', error = 'RuntimeError: boom',"
            " traceback = 'Traceback ...\n  File \"plugin.py\", line 7, in perturb' WHERE key = ?",
            (key,),
        )
    assert main(["run", str(tmp_path / "m.yaml"), "--db", db, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "failed" in out and "RuntimeError: boom" in out and "licbench show" in out
    assert main(["show", key[:12], "--db", db]) == 0
    out = capsys.readouterr().out
    assert "status: failed" in out and 'File "plugin.py", line 7, in perturb' in out
    assert main(["show", "zzzzzzzz", "--db", db]) == 2
    assert "no single stored cell" in capsys.readouterr().err


def test_site_for_one_benchmark_writes_its_page_and_the_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST.replace("limit: 3", "limit: 1"))
    db = str(tmp_path / "r.db")
    assert main(["run", str(tmp_path / "m.yaml"), "--db", db, "--no-progress"]) == 0
    (tmp_path / "m2.yaml").write_text(MANIFEST.replace("name: entries", "name: other"))
    assert (
        main(["run", str(tmp_path / "m2.yaml"), "--db", db, "--no-progress", "--limit-images", "1"])
        == 0
    )
    site = tmp_path / "site"
    assert main(["leaderboard", "--db", db, "--site", str(site), "--benchmark", "entries"]) == 0
    assert sorted(p.name for p in site.glob("*.html")) == ["entries.html", "index.html"]
    page = (site / "entries.html").read_text()
    assert page.index("BD vs jpeg") < page.index("Per-cell details")  # ranking first
    assert "<details>" in page and "not a ranking" in page


def test_a_partial_run_of_yours_sits_beside_the_complete_reference_never_in_its_place(
    tmp_path: Path,
) -> None:
    from licbench.leaderboard.view import open_results

    (tmp_path / "m.yaml").write_text(MANIFEST)
    ref, mine = str(tmp_path / "ref.db"), str(tmp_path / "mine.db")
    assert main(["run", str(tmp_path / "m.yaml"), "--db", ref, "--no-progress"]) == 0
    run = ["run", str(tmp_path / "m.yaml"), "--db", mine, "--no-progress", "--limit-images", "1"]
    assert main(run) == 0
    shown = open_results(user=mine, reference=ref)
    assert shown.origin["entries"] == "reference" and set(shown.means.images) == {3}
    both = open_results(user=mine, reference=ref, partial=True)
    assert both.origin["entries"] == "reference"
    rows = both.tables("entries")["entries / samples / jpeg"].frame
    assert {(r.label, r.images) for r in rows.itertuples()} == {("jpeg", 3), ("jpeg (partial)", 1)}


def test_the_read_side_never_imports_the_run_side() -> None:
    """Every module of licbench.leaderboard (results view, tables, site, bundles) imports
    no stage of the run side (plan, prepare, run, work, evaluate) and no plugin."""
    import subprocess
    import sys

    code = (
        "import pkgutil, importlib, sys, licbench.leaderboard as lb\n"
        "for m in pkgutil.iter_modules(lb.__path__):\n"
        "    importlib.import_module(f'{lb.__name__}.{m.name}')\n"
        "print(' '.join(n for n in sys.modules if n.startswith(('licbench.', 'licbench_'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    run_side = {f"licbench.bench.{s}" for s in ("plan", "prepare", "run", "work", "evaluate")}
    assert not loaded & run_side and not any(n.startswith("licbench_builtin") for n in loaded)


def test_core_looks_up_no_built_in_plugin_by_name() -> None:
    """Core asks the registry for roles: no `create`/`get`/`role_ref` call in core names a
    built-in plugin with a literal."""
    import re

    from licbench.plugin.manager import load_registry

    builtins = {e.name for e in load_registry().entries() if e.dist == "licbench"}
    call = re.compile(r"""\.(?:create|get)\(\s*["'](\w+)["'],\s*["']([\w.-]+)["']""")
    found = [
        f"{path}: {kind} {name}"
        for path in sorted((ROOT / "core" / "licbench").rglob("*.py"))
        for kind, name in call.findall(path.read_text())
        if name in builtins
    ]
    assert not found


def test_only_the_settings_module_reads_the_environment() -> None:
    """licbench.settings is the one module that reads environment variables: no other module
    of core or of the built-in plugins calls os.environ or os.getenv."""
    import re

    reads = re.compile(r"os\.environ|os\.getenv|getenv\(")
    found = [
        str(path.relative_to(ROOT))
        for folder in (ROOT / "core", ROOT / "plugins")
        for path in sorted(folder.rglob("*.py"))
        if path.name != "settings.py" and reads.search(path.read_text())
    ]
    assert not found


def test_settings_are_passed_in_from_the_edge_not_read_by_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry built with explicit settings hands them to the plugins it builds: a
    dataset finds its images under the settings' data folder and refuses images over their
    pixel limit, whatever the environment says once the registry is built; and the settings
    a local Ray worker is given read back as the same settings."""
    from licbench.plugin.manager import load_registry
    from licbench.settings import Settings

    image_dir = tmp_path / "data" / "bsds500" / "test"
    image_dir.mkdir(parents=True)
    Image.new("RGB", (40, 30)).save(image_dir / "a.png")
    settings = Settings(cache=tmp_path / "cache", data=tmp_path / "data", max_pixels=1000)
    monkeypatch.setenv("LICBENCH_DATA", str(tmp_path / "elsewhere"))
    reg = load_registry(settings)
    (item,) = reg.create("dataset", "bsds500").items()
    assert item.path == image_dir / "a.png"
    with pytest.raises(LicbenchError, match="over the 1000-pixel limit"):
        item.loader()
    assert Settings.from_env(settings.environment()) == settings
    monkeypatch.setenv("LICBENCH_MAX_PIXELS", "lots")
    with pytest.raises(LicbenchError, match="LICBENCH_MAX_PIXELS='lots'"):
        Settings.from_env()


def test_core_and_the_builtins_import_each_other_in_no_loop() -> None:
    """The module-level imports of licbench and licbench_builtin (TYPE_CHECKING blocks and
    imports inside functions aside) form no cycle: each module can be read above the ones
    it imports."""
    import ast

    repo = Path(__file__).resolve().parents[1]
    files = {
        ".".join(p.relative_to(repo / root).with_suffix("").parts).removesuffix(".__init__"): p
        for root, pkg in (("core", "licbench"), ("plugins", "licbench_builtin"))
        for p in (repo / root / pkg).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        found: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        graph[name] = {m for m in found if m in files and m != name}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def loop_from(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*path, m, n]
            if n not in state and (found := loop_from(n, [*path, m])):
                return found
        state[m] = 2
        return None

    loops = [loop for m in sorted(graph) if m not in state and (loop := loop_from(m, []))]
    assert len(graph) > 100 and not loops, loops
