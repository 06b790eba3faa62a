"""One cache helper for every trained artifact and for ``train-codec``: look up, train with
resume, write atomically, and record the training log and validation beside the artifact."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from licbench.errors import LicbenchError
from licbench.hashing import package_versions
from licbench.paths import shipped_artifact, write_atomic
from licbench.threads import TRAINING_THREADS, torch_threads
from licbench.train.trainer import Trainer, save_atomic

log = logging.getLogger("licbench")


def record_path(path: Path) -> Path:
    """The JSON training record written beside an artifact."""
    return path.with_name(path.name + ".json")


def adopt_shipped(family: str, path: Path) -> bool:
    """Copy the artifact ``path`` of ``family`` (and its record) from the ones shipped with
    the checkout into the cache, where it is missing; whether it now is there."""
    if path.is_file():
        return True
    shipped = shipped_artifact(family, path.name)
    if shipped is None:
        return False
    record = record_path(shipped)
    if record.is_file():
        write_atomic(record_path(path), record.read_bytes())
    write_atomic(path, shipped.read_bytes())
    log.info("using the shipped artifact %s", shipped)
    return True


def require(path: Path, what: str, fix: str) -> Path:
    """An artifact that must already exist (scoring and decoding never train)."""
    if not path.is_file():
        raise LicbenchError(f"{what} {path} is not trained yet; {fix}")
    return path


def build(
    path: Path,
    trainer: Callable[[], Trainer],
    artifact: Callable[[dict[str, float]], Any],
    info: dict[str, Any],
    *,
    progress: bool = True,
    resume: bool = True,
    reuse: bool = True,
    keep_state: bool = False,
    threads: int | None = TRAINING_THREADS,
) -> Path:
    """Train ``trainer()`` into ``path`` unless it exists there: a killed run resumes from
    its state file, the artifact ``artifact(final scalars)`` is written atomically, and the
    record (``info``, final and validation scalars, versions) goes beside it as JSON.
    ``reuse`` False always trains; ``keep_state`` keeps the state file, so a later run can
    continue to more steps (``train-codec --resume``). It trains at ``threads`` torch
    threads (None: this process's), by default the fixed count that makes an artifact's bytes
    the same on every CPU, as its key promises."""
    if reuse and path.is_file():
        log.info("reusing %s", path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch_threads(threads):
        t = trainer()
        if resume and t.state_path.is_file():
            t.resume()
        t0, cpu0, first = time.perf_counter(), time.process_time(), t.step_no
        final = t.fit(progress=progress)
        save_atomic(artifact(final), path)
        used = torch.get_num_threads()
    record = {
        **info,
        "final": final,
        "validation": t.val_log,
        "steps": t.step_no,
        "steps_this_session": t.step_no - first,  # fewer than steps: resumed from a state
        "seconds_this_session": round(time.perf_counter() - t0, 1),
        # CPU seconds of this process's threads: unlike the wall time, not stretched by
        # other work sharing the machine (with one thread, the wall time it would take alone)
        "cpu_seconds_this_session": round(time.process_time() - cpu0, 1),
        "threads": used,
        "versions": package_versions(),
    }
    write_atomic(record_path(path), json.dumps(record, indent=2, default=str).encode())
    if not keep_state:
        t.state_path.unlink(missing_ok=True)
    return path
