"""The ``licbench`` command line: core commands, plus those plugins add through the
``register_commands`` hook (``poison`` and ``backdoor train`` come from the built-in
backdoor plugin that way)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from typing import NoReturn

from licbench.errors import LicbenchError
from licbench.settings import Settings


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one ``licbench: error:`` line naming the fix."""

    def error(self, message: str) -> NoReturn:
        print(f"licbench: error: {message}; see `{self.prog} --help`", file=sys.stderr)
        raise SystemExit(2)


def build_parser(
    command: str | None = None, settings: Settings | None = None
) -> argparse.ArgumentParser:
    """Every core command, then every plugin's (a plugin failing to load is an error);
    for a core ``command``, the plugins are not loaded to parse it. Every command finds the
    ``settings`` (default: the environment's) in ``args.settings``; a plugin's command
    finds the registry in ``args.registry``."""
    from licbench.cli import audit, codec, results, run, train
    from licbench.plugin.manager import build_plugin_manager, build_registry

    settings = settings or Settings.from_env()  # the one read of the environment
    p = Parser(prog="licbench", description=__doc__)
    p.set_defaults(settings=settings)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (run, results, codec, train, audit):
        module.add_commands(sub)
    if command in sub.choices:
        return p
    pm, provenance = build_plugin_manager()
    p.set_defaults(registry=build_registry(pm, provenance, settings))
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(subparsers=sub)
        except argparse.ArgumentError as exc:
            dist = provenance.get(impl.plugin_name, (impl.plugin_name, ""))[0]
            raise LicbenchError(
                f"package {dist} adds a command that exists already ({exc}); rename it"
            ) from exc
    return p


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = build_parser(argv[0] if argv else None).parse_args(argv)
        return int(args.func(args))
    except LicbenchError as exc:
        print(f"licbench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `licbench leaderboard | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a path the user gave that cannot be read or written
        if not exc.filename:
            raise
        print(
            f"licbench: error: {exc.filename}: {exc.strerror or exc}; check the path "
            "(its folder must exist and be writable)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            "licbench: interrupted; finished cells are stored, run again to resume", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
