"""`hetflow lsp`: the language server for `.het` files, over stdio (docs/editors.md)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "lsp",
        help="the .het language server, over stdio (for editors)",
        description="Speak the Language Server Protocol on stdin/stdout: diagnostics, hover "
        "with each step's placement, go to definition, completion, outline, formatting. "
        "See docs/editors.md.",
    )
    p.add_argument(
        "--stdio", action="store_true", help="use stdin/stdout (the default; editors pass it)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hetflow.errors import HetError

    try:
        from hetflow.lsp.server import serve
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("pygls", "lsprotocol"):
            raise HetError("the language server needs pygls: pip install 'hetflow[lsp]'") from None
        raise
    serve()
    return 0
