"""`hetflow check FILE|DIR|-... [--format text|json]`: every static diagnostic, like a compiler.

Text output is ``file:line:col: severity: message`` with the source line and a caret
(in colour on a terminal), then a summary; JSON output is a list of objects for
editors, holding every error: a file that cannot be read (missing, empty, binary) is
one object at line 1, column 1 of that file.  A directory means the ``.het`` files
under it; ``-`` reads standard input.  Exit 1 when any file has an error, 0 when there
are only warnings.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "check",
        help="report every error and warning in .het files",
        description="Check .het files: syntax, names, types, cycles, outputs, needs; "
        "every problem at once.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help=".het files to check; a directory means every .het file under it, '-' standard input",
    )
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people (default), json for editors (a list of diagnostics)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from hetflow.commands.output import plural, say
    from hetflow.errors import Diagnostic, HetError, SourcePosition

    found: list[Diagnostic] = []
    sources: dict[str, str] = {}
    files, problems = expand(args.files)
    for file in files:
        try:
            diagnostics, read = check_one(file)
        except HetError as exc:  # unreadable: one error at the top of the file, go on
            message = str(exc)
            if message.startswith(f"{file}: "):
                message = message[len(file) + 2 :]
            problems.append((file, message))
            continue
        found.extend(diagnostics)
        sources.update(read)
    unreadable = [
        Diagnostic("error", message, SourcePosition(file, 1, 1, 1, 1)) for file, message in problems
    ]
    errors = sum(d.is_error for d in found) + len(unreadable)
    warnings = sum(d.severity == "warning" for d in found)
    if args.format == "json":
        print(json.dumps([_json(d) for d in unreadable + found], indent=2))
    else:
        for file, message in problems:
            say(f"hetflow: error: {file}: {message}")
        for d in found:
            say(d.render(sources.get(d.pos.file)), sys.stdout)
        if errors or warnings:
            print(
                f"{plural(errors, 'error')}, {plural(warnings, 'warning')} in "
                f"{plural(len(files) or len(problems), 'file')}"
            )
        else:
            print(f"ok: {plural(len(files), 'file')} checked, no problems")
    return 1 if errors else 0


def expand(given: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The files to check: a directory's ``.het`` files (sorted), in the order given.

    Returns the files and the problems found on the way (a directory with none).
    """
    files: list[str] = []
    problems: list[tuple[str, str]] = []
    for name in given:
        path = Path(name)
        if name != "-" and path.is_dir():
            inside = sorted(
                str(p) for p in path.rglob("*.het") if p.is_file() and not _hidden(p, path)
            )
            if not inside:
                problems.append((name, "is a directory with no .het file under it"))
            files.extend(f for f in inside if f not in files)
        elif name not in files:
            files.append(name)
    return files, problems


def _hidden(p: Path, top: Path) -> bool:
    """Under a hidden directory (``.git``, ``.venv``): not the user's workflows."""
    return any(part.startswith(".") for part in p.relative_to(top).parts[:-1])


def check_one(file: str):
    """Diagnostics and sources of one file, or of standard input for ``-``."""
    from hetflow.checks.checker import check_source

    if file == "-":
        return check_stdin()
    return check_source(Path(file))  # a path stays a path, even when it looks like text


def check_stdin():
    import sys

    from hetflow.checks.checker import _ordered, check_program
    from hetflow.errors import DiagnosticError, HetError
    from hetflow.syntax.loader import load_text

    text = sys.stdin.read()
    if not text.strip():
        raise HetError("<stdin>: is empty; a .het file holds at least one workflow")
    try:
        program, diags = load_text(text, "<stdin>")
    except DiagnosticError as exc:
        return exc.diagnostics, {"<stdin>": text, **exc.sources}
    return _ordered(diags + check_program(program)), {"<stdin>": text}


def _json(d) -> dict:
    out = d.to_json()
    return {
        k: out[k]
        for k in ("file", "line", "column", "end_line", "end_column", "severity", "message")
    } | ({"notes": out["notes"]} if out.get("notes") else {})
