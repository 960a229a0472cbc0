"""`hetflow explain`, `hetflow graph` and `hetflow simulate` as DESIGN.md describes them.

explain: per node, the candidates considered, their cost and latency, why the chosen one
won.  graph: Mermaid and Graphviz DOT.  simulate: a plan against the catalog's
performance model, no model calls, no keys; time line, cost, per-chip use.
"""

from __future__ import annotations

import re

import pytest
from contract_support import CATALOG, FIXTURES, cli

ONE = FIXTURES / "one_step.het"
REVIEW = FIXTURES / "example_contract_review.het"


@pytest.fixture
def plan_path(tmp_path):
    path = tmp_path / "one.plan.json"
    ran = cli("compile", ONE, "-o", path, "--catalog", CATALOG)
    assert ran.code == 0, ran.text
    return path


def test_explain_shows_the_candidates_the_plan_considered(plan_path):
    ran = cli("explain", plan_path)
    assert ran.code == 0, ran.text
    assert "answer" in ran.out
    for offer in ("m@slow", "m@fast", "big@bigchip"):
        assert offer in ran.out.replace(" @ ", "@"), (offer, ran.out)
    # the plan is self-contained: its candidates come from the catalog it was compiled
    # with, not from whichever catalog ships with hetflow
    assert "gpt-oss-120b" not in ran.out and "gpt-5" not in ran.out, ran.out


def test_explain_gives_each_candidates_cost_and_latency_and_why(plan_path):
    ran = cli("explain", plan_path)
    fast = next((x for x in ran.out.splitlines() if re.search(r"m ?@ ?fast", x)), "")
    assert re.search(r"\$0\.10", fast) and re.search(r"113 ?ms|0\.113", fast), ran.out
    assert re.search(r"cheapest|cost", ran.out)


def test_explain_with_the_catalog_it_was_compiled_with(plan_path):
    ran = cli("explain", plan_path, "--catalog", CATALOG)
    assert ran.code == 0, ran.text
    for offer in ("m@slow", "m@fast", "big@bigchip"):
        assert offer in ran.out.replace(" @ ", "@"), (offer, ran.out)


def test_graph_mermaid_by_default():
    ran = cli("graph", REVIEW)
    assert ran.code == 0, ran.text
    assert re.match(r"\s*(flowchart|graph) ", ran.out), ran.out
    for a, b in [
        ("clauses", "hits"),
        ("hits", "verdict"),
        ("verdict", "risky"),
        ("verdict", "summary"),
    ]:
        assert re.search(rf"\b{a}\b\s*-->\s*\b{b}\b", ran.out), (a, b, ran.out)


def test_graph_graphviz_dot():
    ran = cli("graph", "--format", "dot", REVIEW)
    assert ran.code == 0, ran.text
    assert re.match(r"\s*(strict\s+)?digraph\b", ran.out), ran.out
    assert re.search(r'"?hits"?\s*->\s*"?verdict"?', ran.out), ran.out
    assert ran.out.count("{") == ran.out.count("}")


def test_graph_of_a_recurse_shows_its_parts():
    ran = cli("graph", FIXTURES / "example_oolong.het")
    assert ran.code == 0, ran.text
    assert "tallies.root" in ran.out or "tallies_root" in ran.out, ran.out


def test_simulate_needs_no_keys_and_reports_time_cost_and_chips(plan_path, monkeypatch):
    for var in ("CONTRACT_FAST_KEY", "CONTRACT_SLOW_KEY", "CONTRACT_BIG_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    ran = cli("simulate", plan_path)
    assert ran.code == 0, ran.text
    assert "slow" in ran.out  # the chip it ran on
    assert "$" in ran.out and re.search(r"\d+(\.\d+)?\s*s\b", ran.out)


DERIVED = """
workflow derived {
  input doc: text ~ 50k tokens
  input q: text
  objective cost
  reason lookup = prompt "What is the title of this document? {{ doc }}"
  reason counting = prompt "Count how many records in {{ doc }} mention {{ q }}."
  reason pairs = prompt "Compare every pair of records in {{ doc }} and list the contradictions."
  output lookup, counting, pairs
}
"""


def test_explain_says_why_for_derived_needs(tmp_path):
    het = tmp_path / "derived.het"
    het.write_text(DERIVED)
    plan = tmp_path / "derived.plan.json"
    assert cli("compile", het, "-o", plan, "--catalog", CATALOG).code == 0
    ran = cli("explain", plan, "--catalog", CATALOG)
    assert ran.code == 0, ran.text
    levels = {}
    for step in ("lookup", "counting", "pairs"):
        block = ran.out.split(f"\n{step}", 1)[1] if f"\n{step}" in ran.out else ""
        m = re.search(r"reasoning >= (\d)", block)
        assert m, (step, ran.out)
        levels[step] = int(m.group(1))
        assert re.search(r"deriv|because|why|complexity", block.split("\n\n")[0]), block
    # look-up: constant; counting over the context: linear; pairs: quadratic
    assert levels["lookup"] <= levels["counting"] <= levels["pairs"], levels
    assert levels["lookup"] < levels["pairs"], levels
