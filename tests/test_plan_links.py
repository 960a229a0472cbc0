"""A plan file that refers to what it does not hold is refused when read, saying what."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hetflow
from hetflow.errors import HetError
from hetflow.plan.model import Plan

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plan() -> dict:
    return json.loads(hetflow.compile(ROOT / "examples" / "contract_review.het").to_json())


def broken(data: dict, change) -> str:
    data = json.loads(json.dumps(data))
    change(data)
    with pytest.raises(HetError) as info:
        Plan.from_dict(data, "p.json")
    return str(info.value)


def test_every_example_plan_holds_together():
    for path in sorted((ROOT / "examples").glob("*.het")):
        assert hetflow.compile(path).broken_link() is None, path


def test_broken_links_are_named(plan):
    def rename_item(d):
        d["maps"][0]["item"] = "claus"

    def cycle(d):
        d["nodes"][0]["reads"] = ["summary"]

    def output(d):
        d["outputs"] = ["sumary"]

    def twice(d):
        d["nodes"].append(d["nodes"][0])

    def edge(d):
        d["edges"].append(["clauses", "ghost"])

    def builtin_ref(d):
        d["nodes"][0]["builtin"]["args"][0] = {"ref": "contrakt"}

    assert broken(plan, rename_item) == (
        "p.json: invalid plan: node 'hits' reads 'clause', which nothing defines"
    )
    assert broken(plan, cycle).startswith(
        "p.json: invalid plan: its steps depend on each other in a cycle: "
    )
    assert (
        broken(plan, output) == "p.json: invalid plan: output 'sumary' is nothing the plan defines"
    )
    assert broken(plan, twice) == "p.json: invalid plan: node 'clauses' appears twice"
    assert "edge clauses -> ghost" in broken(plan, edge)
    assert "reads 'contrakt'" in broken(plan, builtin_ref)
