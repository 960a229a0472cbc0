"""The `hetflow` command: argument parsing and error reporting, no logic.

Each subcommand is a module of :mod:`hetflow.commands` with ``register(subparsers)``;
a user's mistake prints one line (or positioned diagnostics) and exits 1, never a
traceback; a usage mistake exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from typing import NoReturn

from hetflow import __version__
from hetflow.commands.output import error, say
from hetflow.errors import DiagnosticError, HetError
from hetflow.units import printable

COMMANDS = (
    "check",
    "compile",
    "explain",
    "graph",
    "run",
    "simulate",
    "tune",
    "catalog",
    "models",
    "fmt",
    "lsp",
    "report",
    "completion",
)


class HetParser(argparse.ArgumentParser):
    """argparse as hetflow wants it: no silent abbreviations (``--input`` must not
    quietly mean ``--input-size``), and a misspelt command or choice gets a
    did-you-mean."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        bad = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if bad:
            from hetflow.errors import closest

            choices = re.findall(r"'([^']*)'", bad.group(2))
            hint = closest(bad.group(1), choices)
            if hint:
                message = message[: bad.end()] + f"; did you mean '{hint}'?"
        self.print_usage(sys.stderr)
        say(f"{self.prog}: error: {message}")
        sys.exit(2)


def unknown_options(parser: argparse.ArgumentParser, extra: list[str]) -> str:
    """``unrecognized arguments: --budjet 0.1; did you mean '--budget'?``"""
    from hetflow.errors import closest

    known = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
    hints = {}
    for arg in extra:
        flag = arg.split("=", 1)[0]
        if flag.startswith("--") and closest(flag, known):
            hints[flag] = closest(flag, known)
    text = "unrecognized arguments: " + " ".join(extra)
    if len(hints) == 1:
        return text + f"; did you mean '{next(iter(hints.values()))}'?"
    return text + "".join(f"; '{k}': did you mean '{v}'?" for k, v in hints.items())


def chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser of the command that was given: ``hetflow catalog show`` -> show's."""
    while True:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                name = getattr(args, action.dest, None)
                if name in action.choices:
                    parser = action.choices[name]
                    break
        else:
            return parser


def build_parser() -> argparse.ArgumentParser:
    parser = HetParser(
        prog="hetflow",
        description="Compile .het workflows onto the right model and the right chip, and run them.",
    )
    parser.add_argument("--version", action="version", version=f"hetflow {__version__}")
    subparsers = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=HetParser,
        title="commands",
        help="'hetflow COMMAND --help' for its options",
    )
    for name in COMMANDS:  # a command that fails to import is a broken hetflow: say so
        importlib.import_module(f"hetflow.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the command's own parser: its usage, and a did-you-mean
        chosen(parser, args).error(unknown_options(chosen(parser, args), extra))
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except DiagnosticError as exc:
        if exc.diagnostics:
            say(exc.render())
        else:
            error(str(exc))
        return 1
    except HetError as exc:
        error(str(exc))
        return 1
    except KeyboardInterrupt:
        print("hetflow: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except RecursionError:
        error("the input nests too deeply to read")
        return 1
    except Exception as exc:  # a bug of ours: say so in one line, keep the trace for debugging
        if os.environ.get("HETFLOW_DEBUG"):
            raise
        print(
            f"hetflow: internal error: {type(exc).__name__}: {printable(str(exc))} "
            "(set HETFLOW_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
