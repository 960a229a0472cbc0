"""Every `hetflow ...` command shown in README.md and docs/ parses with today's CLI.

A renamed flag or command would otherwise leave the docs teaching something that no
longer works.  Lines in code blocks that start with `hetflow` (or `$ hetflow`) are read
as a shell would (continuations joined, comments dropped, pipes cut) and handed to the
real argument parser; synopsis lines (`[--catalog FILE]`, `A|B`) are skipped.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from hetflow.commands.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = ("|", ">", "2>&1", "&&", ";")


def commands(path: Path):
    block, pending, start = False, "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            block = not block
            continue
        if not block:
            continue
        text = line.strip()
        if pending:
            text, pending = pending + " " + text, ""
        elif text.startswith("$ "):
            text = text[2:]
        if not text.startswith("hetflow ") and not text.startswith("hetflow\t"):
            continue
        if text.endswith("\\"):
            pending, start = text[:-1], number
            continue
        yield (start or number), text
        start = 0


CASES = [(f"{p.name}:{n}", text) for p in DOCS for n, text in commands(p)]


def test_the_docs_show_commands():
    assert len(CASES) >= 20


@pytest.mark.parametrize("where, text", CASES, ids=[c[0] for c in CASES])
def test_a_documented_command_parses(where, text):
    args = shlex.split(text, comments=True)[1:]
    cut = [i for i, a in enumerate(args) if a in SHELL]
    args = args[: cut[0]] if cut else args
    if any(a.startswith("[") or ("|" in a and not a.startswith("-")) for a in args):
        pytest.skip("a synopsis line, with placeholders")
    try:
        build_parser().parse_args(args)
    except SystemExit as exc:
        assert exc.code == 0, f"{where}: `{text}` does not parse"


def test_the_docs_stand_alone():
    """docs/ and README cite no file the repository does not hold (issue 14, item 11):
    the design briefs the project was written from are not shipped."""
    import re

    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for name in ("LANGUAGE.md", "DESIGN.md", "STYLE.md"):
            assert name not in text, f"{path.name} cites {name}, which is not in the repository"
        for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (path.parent / link).exists(), f"{path.name} links to missing {link}"
