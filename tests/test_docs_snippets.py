"""Every Python snippet of docs/plugins.md runs as written: complete imports, no names from
elsewhere (each in a fresh namespace; the snippets that define tests are also called)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.parametrize("i", range(len(SNIPPETS)))
def test_plugins_md_snippet_runs(i: int) -> None:
    namespace: dict[str, object] = {"__name__": f"plugins_md_snippet_{i}"}
    exec(compile(SNIPPETS[i], f"{DOC}:snippet{i}", "exec"), namespace)  # noqa: S102
    assert len(SNIPPETS) >= 7
    # names used only inside functions (a missing `import torch`) fail here, not at exec
    lint = [sys.executable, "-m", "ruff", "check", "--select", "F", "--stdin-filename", "s.py", "-"]
    out = subprocess.run(lint, input=SNIPPETS[i], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


@pytest.mark.slow
def test_the_check_snippet_passes_on_the_example_plugin(installed_example: Path) -> None:
    """The section's own tests, run against the example package it describes."""
    snippet = next(s for s in SNIPPETS if "licbench.testing" in s)
    namespace: dict[str, Any] = {"__name__": "plugins_md_check"}
    exec(compile(snippet, f"{DOC}:check", "exec"), namespace)  # noqa: S102
    namespace["test_salt_pepper_raises_the_rate"]()
    namespace["test_median3_keeps_clean_quality"]()
