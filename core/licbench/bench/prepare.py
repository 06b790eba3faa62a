"""The prepare stage: every trained artifact the cells to run need, each trained once.

An artifact the driver's cache holds, or one shipped with the checkout under its key
(:func:`licbench.train.cache.adopt_shipped`), is used as it is; every other one is trained
as its own task on the executor (:func:`licbench.bench.work.train_task`) before any cell
that needs it runs. What the cells receive is a :class:`~licbench.bench.work.Shipped` per
artifact key: its bytes, or the error that failed its training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from licbench.api.artifact import Recipe
from licbench.api.executor import Executor, Resources
from licbench.bench.plan import Planned, as_error
from licbench.bench.work import Job, Shipped, train_task
from licbench.paths import write_atomic
from licbench.train.cache import adopt_shipped


def prepare(
    planned: list[Planned], executor: Executor, job: Job, resources: Resources, cache: Path
) -> dict[str, Shipped]:
    """The artifacts of ``planned`` by key, each found in ``cache`` (or shipped) or trained
    once on ``executor``; a failed training is its artifact's error. An artifact that
    starts from another one to train here (``Recipe.after``) is trained once that one is
    done, with its file, never beside it."""
    out: dict[str, Shipped] = {}
    todo: dict[str, tuple[Planned, str, Recipe]] = {}
    for p in planned:
        for role, recipe in p.recipes.items() if p.error is None else ():
            if recipe.key in out or recipe.key in todo:
                continue
            path = recipe.location(cache)
            if path.is_file() or (recipe.path is None and adopt_shipped(recipe.family, path)):
                out[recipe.key] = Shipped(recipe, executor.share(path))
            else:
                todo[recipe.key] = (p, role, recipe)
    pending: dict[Any, Recipe] = {}
    while todo or pending:
        busy = set(todo) | {r.key for r in pending.values()}
        for key in [k for k, (_, _, r) in todo.items() if not set(r.after) & busy]:
            p, role, recipe = todo.pop(key)
            needs = {k: out[k] for k in recipe.after if k in out}
            pending[executor.submit(train_task, job, p, role, needs, resources=resources)] = recipe
        if not pending:  # nothing can start (keys hash their init: no cycle); never spin
            break
        task, value = next(executor.wait(list(pending)))
        recipe = pending.pop(task)
        out[recipe.key] = _trained(recipe, value, executor, cache)
    return out


def _trained(recipe: Recipe, value: Any, executor: Executor, cache: Path) -> Shipped:
    """A training's result as cells receive it; the driver's cache keeps a copy."""
    if isinstance(value, BaseException):  # a training error, or the task was lost
        return Shipped(recipe, error=as_error(value))
    path = recipe.location(cache)
    if not path.is_file():  # trained on a worker that does not share this cache
        write_atomic(path, value)
    return Shipped(recipe, executor.share(path))
