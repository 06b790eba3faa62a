"""licbench: a benchmark platform for attacks on and defenses of learned image compression."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("licbench")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
