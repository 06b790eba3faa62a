"""One exception type for every user-facing failure: its message is a single line that
names the offending file or name and says how to fix it. The CLI prints it without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def nearest(word: str, names: Iterable[str]) -> str | None:
    """The closest of ``names`` to a misspelt ``word`` (case-insensitive), if one is close:
    every did-you-mean of licbench."""
    lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.5)
    return lower[close[0]] if close else None


class LicbenchError(Exception):
    """A user-facing error with a one-line, actionable message; ``detail``: the traceback
    of the exception it stands for, where it wraps one (kept with a failed cell)."""

    detail: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class UnknownPluginError(LicbenchError, KeyError):
    """A plugin name that no installed package registers."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class DuplicatePluginError(LicbenchError):
    """Two packages register the same plugin name."""


class ParamsError(LicbenchError):
    """A plugin's params that fail its ``Params`` model: ``loc`` inside the params, ``msg``."""

    def __init__(self, message: str, loc: tuple[str | int, ...], msg: str) -> None:
        super().__init__(message)
        self.loc, self.msg = loc, msg
