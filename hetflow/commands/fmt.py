"""`hetflow fmt FILE|-... [--check] [--diff]`: rewrite .het files in the canonical layout.

With ``--check`` nothing is written: the files that would change are named and the
exit code is 1 if there is any.  A file that does not parse is reported and left alone.
``-`` reads standard input and writes the formatted text to standard output (for
editors), or with ``--check``/``--diff`` only says whether it would change.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fmt",
        help="format .het files canonically",
        description="Format .het files: 2-space indent, one step per line, comments kept.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help=".het files to format in place (a directory: the .het files under it); "
        "'-' formats standard input to standard output",
    )
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any file would change"
    )
    p.add_argument("--diff", action="store_true", help="print what would change, write nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import difflib
    import sys
    from pathlib import Path

    from hetflow.commands.check import expand
    from hetflow.commands.output import error, plural, say
    from hetflow.errors import DiagnosticError, HetError
    from hetflow.syntax.fmt import format_source
    from hetflow.syntax.loader import read_source

    files, problems = expand(args.files)  # a directory: the .het files under it
    for file, message in problems:
        error(f"{file}: {message}")
    changed, broken = [], len(problems)
    for file in files:
        stdin = file == "-"
        path = Path.cwd() / "<stdin>" if stdin else Path(file)
        try:
            text = sys.stdin.read() if stdin else read_source(path)
            if stdin and not text.strip():
                raise HetError("<stdin>: is empty; a .het file holds at least one workflow")
            new = format_source(text, "<stdin>" if stdin else file, path.resolve().parent)
        except DiagnosticError as exc:
            say(exc.render())
            broken += 1
            continue
        except HetError as exc:
            error(str(exc))
            broken += 1
            continue
        if stdin and not (args.check or args.diff):
            sys.stdout.write(new)
            continue
        if new == text:
            continue
        changed.append(file)
        if args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    f"{file} (original)",
                    f"{file} (formatted)",
                )
            )
        elif args.check:
            print(f"would reformat {file}")
        else:
            path.write_text(new, encoding="utf-8")
            print(f"reformatted {file}")
    named = [f for f in files if f != "-"]
    if named:
        kept = len(named) - len(changed) - (broken - len(problems))
        done = "would be reformatted" if args.check or args.diff else "reformatted"
        parts = [f"{plural(len(changed), 'file')} {done}"] if changed else []
        parts += [f"{plural(kept, 'file')} already formatted"] if kept else []
        parts += [f"{plural(broken, 'file')} not formatted (errors above)"] if broken else []
        say(", ".join(parts))
    if args.check or args.diff:
        return 1 if changed or broken else 0
    return 1 if broken else 0
