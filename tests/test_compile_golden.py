"""Golden compile tests: ``tests/golden/compile/<feature>.het`` compiled against
``<feature>.toml`` (or the shared ``lab.toml``) must give the assignments (and the
figures) in ``<feature>.expected.json``.  Each file's comment says why that placement
is the right one.  ``HETFLOW_REGEN=1 pytest tests/test_compile_golden.py`` rewrites
the expected files (then read the diff).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hetflow.compiler import compile

HERE = Path(__file__).parent / "golden" / "compile"
FEATURES = sorted(p.stem for p in HERE.glob("*.het"))


def excerpt(plan) -> dict:
    return {
        "objective": plan.objective,
        "assignments": {n.id: n.assignment.offer if n.assignment else None for n in plan.nodes},
        "calls": {n.id: n.estimate.calls for n in plan.nodes if n.assignment},
        "critical_path": plan.estimate.critical_path,
        "exact": plan.optimizer["exact"],
    }


@pytest.mark.parametrize("feature", FEATURES)
def test_golden(feature):
    catalog = HERE / f"{feature}.toml"
    plan = compile(
        HERE / f"{feature}.het", catalog=catalog if catalog.exists() else HERE / "lab.toml"
    )
    got = excerpt(plan)
    expected_file = HERE / f"{feature}.expected.json"
    if os.environ.get("HETFLOW_REGEN"):
        expected_file.write_text(json.dumps(got, indent=2) + "\n")
    assert got == json.loads(expected_file.read_text())
