"""licbench: a benchmark platform for attacks on and defenses of learned image compression.

Plugin authors need ``from licbench import hookimpl`` and the contracts in ``licbench.api``.
"""

from importlib.metadata import PackageNotFoundError, version

from licbench.plugin.hookspecs import hookimpl

try:
    __version__ = version("licbench")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "hookimpl"]
