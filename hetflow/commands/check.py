"""`hetflow check FILE... [--format text|json]`: every static diagnostic, like a compiler.

Text output is ``file:line:col: severity: message`` with the source line and a caret,
then a summary; JSON output is a list of objects for editors.  Exit 1 when any file has
an error, 0 when there are only warnings.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "check",
        help="report every error and warning in .het files",
        description="Check .het files: syntax, names, types, cycles, outputs, needs.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help=".het files to check")
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people (default), json for editors",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from hetflow.checks.checker import check_source
    from hetflow.errors import HetError

    found = []
    sources: dict[str, str] = {}
    failed = 0
    for file in args.files:
        try:
            diagnostics, read = check_source(_as_path(file))
        except HetError as exc:  # unreadable: one line, and go on with the other files
            print(f"hetflow: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        found.extend(diagnostics)
        sources.update(read)
    errors = sum(d.is_error for d in found)
    warnings = sum(d.severity == "warning" for d in found)
    if args.format == "json":
        print(json.dumps([_json(d) for d in found], indent=2))
    else:
        for d in found:
            print(d.render(sources.get(d.pos.file)))
        checked = len(args.files) - failed
        summary = (
            f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')} in "
            f"{_plural(checked, 'file')}"
        )
        if found:
            print(summary)
        elif checked:
            print(f"ok: {_plural(checked, 'file')} checked, no problems")
    return 1 if errors or failed else 0


def _as_path(file: str):
    """A path stays a path, even when its name looks like text to the loader."""
    from pathlib import Path

    return Path(file)


def _json(d) -> dict:
    out = d.to_json()
    return {
        k: out[k]
        for k in ("file", "line", "column", "end_line", "end_column", "severity", "message")
    } | ({"notes": out["notes"]} if out.get("notes") else {})


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"
