"""Golden diagnostics: each tests/golden/check/<feature>.het and its rendered .expected.

Regenerate after an intended wording change with ``HETFLOW_REGEN=1 pytest
tests/test_check_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hetflow.checks.checker import check_source

GOLDEN = Path(__file__).resolve().parent / "golden" / "check"
CASES = sorted(GOLDEN.glob("*.het"))


def render(path: Path) -> str:
    cwd = Path.cwd()
    os.chdir(GOLDEN)  # so the rendered file names are short and stable
    try:
        diagnostics, sources = check_source(Path(path.name))
    finally:
        os.chdir(cwd)
    return "".join(d.render(sources.get(d.pos.file)) + "\n" for d in diagnostics)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path):
    got = render(case)
    expected = case.with_suffix(".expected")
    if os.environ.get("HETFLOW_REGEN"):
        expected.write_text(got)
    assert got == expected.read_text()
    assert got, "a golden case must produce at least one diagnostic"
