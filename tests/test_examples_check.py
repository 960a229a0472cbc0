"""Every shipped example checks clean, and the docs' ```het blocks all build."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hetflow.checks.checker import check
from hetflow.syntax.builder import build

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.het"))
LANGUAGE_EXAMPLES = ("oolong", "web_step", "contract_review")


def test_there_are_examples_beyond_the_language_contract():
    names = {p.stem for p in EXAMPLES}
    assert set(LANGUAGE_EXAMPLES) <= names and len(names) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_checks_clean(path):
    assert [d.render() for d in check(path)] == []


def doc_blocks() -> list[tuple[int, str]]:
    text = (ROOT / "docs" / "language.md").read_text()
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(1))
        for m in re.finditer(r"```het\n(.*?)```", text, re.S)
    ]


def test_docs_have_examples():
    assert len(doc_blocks()) >= 15


@pytest.mark.parametrize("line,block", doc_blocks(), ids=lambda x: str(x)[:12])
def test_docs_example_builds(line, block):
    """A doc block builds without errors; a block marked `# error:` must give that error."""
    wanted = re.findall(r"# error: (.+)", block)
    if wanted:
        messages = [d.message for d in check(block + "\n") if d.is_error]
        for w in wanted:
            assert any(w.strip() in m for m in messages), (line, messages)
        return
    program, diagnostics = build(block, f"docs/language.md:{line}", ROOT / "examples")
    assert not [d for d in diagnostics if d.is_error], (line, diagnostics)
