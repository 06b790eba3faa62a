"""The prepared GPU check runs end to end on CPU (`--quick`), as CI runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_quick_runs_on_cpu() -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--quick"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    text = out.stdout
    tests_line = next(line for line in text.splitlines() if line.startswith("1. device tests"))
    assert re.search(r"\d+ passed", tests_line) and "failed" not in tests_line
    assert "largest PSNR difference to the CPU: 0.0000 dB" in text
    assert "every cross-device decode exact: True" in text
    assert "4. adv-fig6 row: 4 cells on cpu: 4 run, 0 failed" in text
    for work in ("eval", "pgd", "apgd"):
        assert f"| cpu      | {work}" in text
    assert len(re.findall(r"\| cpu +\| a?pgd .*\| 2/2 +\|", text)) == 2  # batched: same bpp
