"""The ``licbench`` command line."""

from licbench.cli.main import main

__all__ = ["main"]
