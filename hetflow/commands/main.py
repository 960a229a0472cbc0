"""The `hetflow` command: argument parsing and error reporting, no logic.

Each subcommand is a module of :mod:`hetflow.commands` with ``register(subparsers)``;
a user's mistake prints one line (or positioned diagnostics) and exits 1, never a
traceback; a usage mistake exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from hetflow import __version__
from hetflow.errors import DiagnosticError, HetError

COMMANDS = (
    "check",
    "compile",
    "explain",
    "graph",
    "run",
    "simulate",
    "tune",
    "catalog",
    "fmt",
    "lsp",
    "report",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hetflow",
        description="Compile .het workflows onto the right model and the right chip, and run them.",
    )
    parser.add_argument("--version", action="version", version=f"hetflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"hetflow.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"hetflow.commands.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except DiagnosticError as exc:
        if exc.diagnostics:
            print(exc.render(), file=sys.stderr)
        else:
            print(f"hetflow: error: {exc}", file=sys.stderr)
        return 1
    except HetError as exc:
        print(f"hetflow: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hetflow: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except RecursionError:
        print("hetflow: error: the input nests too deeply to read", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug of ours: say so in one line, keep the trace for debugging
        if os.environ.get("HETFLOW_DEBUG"):
            raise
        print(
            f"hetflow: internal error: {type(exc).__name__}: {exc} "
            "(set HETFLOW_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
