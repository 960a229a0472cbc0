"""The plan's JSON and the optimum by hand (LANGUAGE.md §5.9, §6; DESIGN.md "plan JSON",
"The optimizer").

The catalog `fixtures/two_chips.toml` makes the optimum obvious by hand: model `m` is
on a fast chip at 100x the price of a slow chip; `big` (the strongest, so the
baseline) costs 5x the fast chip and is slower.  One step reading 10k tokens:

  slow: $ (10003*0.1 + out*0.1)/1e6   ~ $0.001,  1 s + 10 s + out/10  ~ 40 s
  fast: $ (10003*10  + out*10)/1e6    ~ $0.10,   0.1 s + 0.01 s + out/100000 ~ 0.11 s
"""

from __future__ import annotations

import json
import math
import re

import pytest
from contract_support import (
    CATALOG,
    FIXTURES,
    ONE,
    _chip,
    _offer,
    compile_json,
    node,
    write,
)

PRICES = {
    "m@fast": (10.0, 10.0),
    "m@slow": (0.1, 0.1),
    "big@bigchip": (50.0, 50.0),
    "eye@fast": (1.0, 1.0),
}
SPEED = {  # ttft_ms, prefill_tps, output_tps
    "m@fast": (100, 1_000_000, 100_000),
    "m@slow": (1000, 1000, 10),
    "big@bigchip": (2000, 5000, 50),
}


def _numbers(message: str) -> list[float]:
    """Every amount in a message, in dollars or seconds (`63ms` is 0.063)."""
    found = []
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\b", message):
        scale = {"ms": 0.001, "m": 60, "h": 3600}.get(unit, 1)
        found.append(float(num) * scale)
    return found


# ---------------------------------------------------------------- the JSON keys


def test_plan_json_has_every_contract_key(tmp_path):
    ran, plan = compile_json(ONE, tmp_path=tmp_path)
    assert ran.code == 0, ran.text
    assert isinstance(plan["plan_version"], int)
    assert plan["workflow"] == "one_step"
    assert plan["objective"] == "cost"
    assert isinstance(plan["nodes"], list) and plan["nodes"]
    for n in plan["nodes"]:
        assert {"id", "op", "assignment", "alternatives", "estimate"} <= set(n), n
        assert set(n["estimate"]) >= {
            "calls",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "latency_s",
        }
        if n["assignment"] is not None:
            assert {"model", "chip", "litellm"} <= set(n["assignment"])
        for alt in n["alternatives"]:
            assert {"model", "chip", "litellm"} <= set(alt)
    assert isinstance(plan["edges"], list)
    assert set(plan["estimate"]) >= {"cost_usd", "latency_s", "critical_path"}
    assert set(plan["baseline"]) >= {"model", "chip", "cost_usd", "latency_s"}


def test_reason_node_id_and_op(tmp_path):
    _, plan = compile_json(ONE, tmp_path=tmp_path)
    answer = node(plan, "answer")
    assert answer["op"] == "reason"
    assert answer["assignment"]["litellm"] in ("openai/m-slow", "openai/m-fast")


def test_alternatives_are_ranked_and_exclude_the_choice(tmp_path):
    _, plan = compile_json(ONE, tmp_path=tmp_path)
    answer = node(plan, "answer")
    chosen = _offer(answer["assignment"])
    alts = [_offer(a) for a in answer["alternatives"]]
    assert chosen not in alts
    # every other offer that meets `reasoning >= 2` is a fallback; eye (reasoning 1) is not
    assert set(alts) == {"m@fast", "big@bigchip"}, alts


def test_node_cost_is_calls_times_tokens_times_price(tmp_path):
    for objective in ("cost", "latency"):
        _, plan = compile_json(ONE, "--objective", objective, tmp_path=tmp_path)
        n = node(plan, "answer")
        est = n["estimate"]
        assert est["calls"] == 1
        assert est["input_tokens"] >= 10_000  # the 10k-token input flows into the prompt
        pin, pout = PRICES[_offer(n["assignment"])]
        expected = (est["input_tokens"] * pin + est["output_tokens"] * pout) / 1e6
        assert est["cost_usd"] == pytest.approx(expected, rel=1e-6)
        assert plan["estimate"]["cost_usd"] == pytest.approx(expected, rel=1e-6)


def test_node_latency_is_ttft_plus_prefill_plus_decode(tmp_path):
    for objective in ("cost", "latency"):
        _, plan = compile_json(ONE, "--objective", objective, tmp_path=tmp_path)
        n = node(plan, "answer")
        est = n["estimate"]
        ttft, prefill, tps = SPEED[_offer(n["assignment"])]
        expected = ttft / 1000 + est["input_tokens"] / prefill + est["output_tokens"] / tps
        assert est["latency_s"] == pytest.approx(expected, rel=1e-3)
        assert plan["estimate"]["latency_s"] == pytest.approx(expected, rel=1e-3)


# ---------------------------------------------------------------- the optimum by hand


def test_objective_cost_picks_the_cheap_chip(tmp_path):
    _, plan = compile_json(ONE, tmp_path=tmp_path)  # the file says `objective cost`
    assert _chip(plan) == "slow"


def test_objective_latency_picks_the_fast_chip(tmp_path):
    _, plan = compile_json(ONE, "--objective", "latency", tmp_path=tmp_path)
    assert plan["objective"] == "latency"
    assert _chip(plan) == "fast"


def test_a_deadline_forces_the_fast_chip_under_objective_cost(tmp_path):
    _, plan = compile_json(ONE, "--deadline", "2s", tmp_path=tmp_path)
    assert plan["objective"] == "cost"
    assert _chip(plan) == "fast"
    assert plan["estimate"]["latency_s"] <= 2.0


def test_a_budget_forces_the_cheap_chip_under_objective_latency(tmp_path):
    _, plan = compile_json(ONE, "--objective", "latency", "--budget", "0.01", tmp_path=tmp_path)
    assert _chip(plan) == "slow"
    assert plan["estimate"]["cost_usd"] <= 0.01


def test_balanced_is_a_valid_objective(tmp_path):
    ran, plan = compile_json(ONE, "--objective", "balanced", tmp_path=tmp_path)
    assert ran.code == 0 and plan["objective"] == "balanced"
    # both m offers beat big on cost and latency: big is never balanced's pick
    assert _offer(node(plan, "answer")["assignment"]) in ("m@fast", "m@slow")


def test_an_impossible_budget_names_the_overage_and_the_bottleneck(tmp_path):
    ran, plan = compile_json(FIXTURES / "budget_too_small.het", tmp_path=tmp_path)
    assert ran.code == 1 and plan is None
    assert re.search(r"budget_too_small\.het:\d+:\d+: error: ", ran.err), ran.err
    assert "answer" in ran.err  # the bottleneck step
    assert "parts" not in ran.err.split("error:", 1)[1].splitlines()[0]  # not a CPU step
    # cheapest is m@slow, ~ $0.00103; the budget is $0.0001: ~ $0.00093 over
    over = (10_003 * 0.1 + 300 * 0.1) / 1e6 - 0.0001
    assert any(math.isclose(x, over, rel_tol=0.15) for x in _numbers(ran.err)), ran.err


def test_an_impossible_budget_from_the_command_line(tmp_path):
    ran, plan = compile_json(ONE, "--budget", "0.0001", tmp_path=tmp_path)
    assert ran.code == 1 and plan is None
    assert "answer" in ran.err and "budget" in ran.err


def test_an_impossible_deadline_names_the_overage_and_the_bottleneck(tmp_path):
    ran, plan = compile_json(FIXTURES / "deadline_too_short.het", tmp_path=tmp_path)
    assert ran.code == 1 and plan is None
    assert re.search(r"deadline_too_short\.het:\d+:\d+: error: ", ran.err), ran.err
    assert "answer" in ran.err
    # fastest is m@fast, ~ 0.113 s; the deadline is 50 ms: ~ 63 ms over
    assert any(math.isclose(x, 0.063, rel_tol=0.15) for x in _numbers(ran.err)), ran.err


# ---------------------------------------------------------------- graph shape


def test_extract_and_reduce_run_on_the_cpu(tmp_path):
    ran, plan = compile_json(FIXTURES / "example_contract_review.het", tmp_path=tmp_path)
    assert ran.code == 0, ran.text
    for step in ("clauses", "hits", "risky"):
        assert node(plan, step)["assignment"] is None, step
        assert node(plan, step)["estimate"]["cost_usd"] == 0
    assert node(plan, "clauses")["op"] == "extract"
    assert node(plan, "risky")["op"] == "reduce"
    for step in ("verdict", "summary"):
        assert node(plan, step)["assignment"]["model"] in ("m", "big")


def test_edges_are_producer_consumer_pairs(tmp_path):
    _, plan = compile_json(FIXTURES / "example_contract_review.het", tmp_path=tmp_path)
    ids = {n["id"] for n in plan["nodes"]}
    edges = [tuple(e) for e in plan["edges"]]
    for e in edges:
        assert len(e) == 2 and set(e) <= ids, e
    for e in [
        ("clauses", "hits"),
        ("hits", "verdict"),
        ("verdict", "risky"),
        ("verdict", "summary"),
    ]:
        assert e in edges, (e, edges)
    assert ("summary", "verdict") not in edges


def test_critical_path_is_a_path_of_the_graph(tmp_path):
    _, plan = compile_json(FIXTURES / "example_contract_review.het", tmp_path=tmp_path)
    path = plan["estimate"]["critical_path"]
    edges = {tuple(e) for e in plan["edges"]}
    assert path and set(path) <= {n["id"] for n in plan["nodes"]}
    for a, b in zip(path, path[1:], strict=False):
        assert (a, b) in edges, (a, b, edges)
    assert path[-1] in ("summary", "risky")


def test_recurse_node_ids(tmp_path):
    ran, plan = compile_json(FIXTURES / "example_oolong.het", tmp_path=tmp_path)
    assert ran.code == 0, ran.text
    ids = [n["id"] for n in plan["nodes"]]
    assert "tallies.root" in ids
    assert any(i.startswith("tallies.sub") for i in ids), ids
    assert "answer" in ids
    root = node(plan, "tallies.root")
    assert root["assignment"]["model"] in ("m", "big")  # root needs coding >= 4
    for n in plan["nodes"]:
        assert n["id"] == "answer" or n["id"].startswith("tallies."), n["id"]
    assert any(
        tuple(e)[1] == "answer" and tuple(e)[0].startswith("tallies.") for e in plan["edges"]
    )


# ---------------------------------------------------------------- handoff and waves


def _chain(tmp_path, chip_b: str, catalog) -> dict:
    text = (FIXTURES / "chain.het").read_text().replace("CHIP_B", chip_b)
    path = write(tmp_path, text, f"chain_{chip_b}.het")
    ran, plan = compile_json(path, "--catalog", catalog, tmp_path=tmp_path)
    assert ran.code == 0, ran.text
    assert (_chip(plan, "a"), _chip(plan, "b")) == ("fast", chip_b)
    return plan


def test_an_edge_across_chips_pays_both_chips_handoff(tmp_path):
    slow_handoff = '[chips.slow]\nvendor = "SlowCo"\nhandoff_ms = 0'
    fast_handoff = '[chips.fast]\nvendor = "FastCo"\nhandoff_ms = 0'
    handoffs = tmp_path / "handoffs.toml"
    handoffs.write_text(
        CATALOG.read_text()
        .replace(fast_handoff, fast_handoff[:-1] + "1000")
        .replace(slow_handoff, slow_handoff[:-1] + "500")
    )
    cross_0 = _chain(tmp_path, "slow", CATALOG)["estimate"]["latency_s"]
    cross_1 = _chain(tmp_path, "slow", handoffs)["estimate"]["latency_s"]
    same_0 = _chain(tmp_path, "fast", CATALOG)["estimate"]["latency_s"]
    same_1 = _chain(tmp_path, "fast", handoffs)["estimate"]["latency_s"]
    # a -> b crosses fast -> slow: 1.0 s + 0.5 s on that edge alone
    assert cross_1 - cross_0 >= 1.5 - 1e-6
    # on one chip that edge pays nothing; only the workflow's own ends may differ
    assert (cross_1 - cross_0) - (same_1 - same_0) >= 1.0 - 1e-6


def test_map_calls_run_in_waves_of_the_offers_concurrency(tmp_path):
    few = tmp_path / "few.toml"
    few.write_text(
        CATALOG.read_text().replace(
            'litellm = "openai/m-fast"\noutput_tps = 100000\nprefill_tps = 1000000\n'
            "ttft_ms = 100\nconcurrency = 1000",
            'litellm = "openai/m-fast"\noutput_tps = 100000\nprefill_tps = 1000000\n'
            "ttft_ms = 100\nconcurrency = 10",
        )
    )
    assert few.read_text() != CATALOG.read_text()
    fan = FIXTURES / "fan_out.het"
    _, wide = compile_json(fan, tmp_path=tmp_path)
    _, narrow = compile_json(fan, "--catalog", few, tmp_path=tmp_path)
    s_wide, s_narrow = node(wide, "s"), node(narrow, "s")
    assert s_wide["estimate"]["calls"] == pytest.approx(40)
    assert s_narrow["estimate"]["calls"] == pytest.approx(40)
    # 40 calls: one wave at concurrency 1000, four waves of 10 at concurrency 10
    assert s_narrow["estimate"]["latency_s"] == pytest.approx(
        4 * s_wide["estimate"]["latency_s"], rel=0.05
    )
    assert narrow["estimate"]["latency_s"] > wide["estimate"]["latency_s"]


# ---------------------------------------------------------------- baseline


def test_baseline_is_everything_on_the_strongest_offer(tmp_path):
    _, plan = compile_json(ONE, "--objective", "latency", tmp_path=tmp_path)
    base = plan["baseline"]
    assert (base["model"], base["chip"]) == ("big", "bigchip")
    est = node(plan, "answer")["estimate"]
    expected = (est["input_tokens"] * 50 + est["output_tokens"] * 50) / 1e6
    assert base["cost_usd"] == pytest.approx(expected, rel=0.02)
    assert base["latency_s"] > plan["estimate"]["latency_s"]


def test_balanced_prefers_the_offer_far_better_on_both_counts(tmp_path):
    # fast costs 100x slow but is 360x quicker; against the baseline (big) fast is
    # 0.2 of its cost and 0.01 of its time, slow 0.002 and 4.1: any normalized
    # combination of the two picks fast.
    text = ONE.read_text().replace("objective cost", "objective balanced")
    ran, plan = compile_json(write(tmp_path, text, "balanced.het"), tmp_path=tmp_path)
    assert ran.code == 0 and plan["objective"] == "balanced"
    assert _offer(node(plan, "answer")["assignment"]) == "m@fast"


SPLIT = """
workflow pieces {
  input doc: text ~ 10k tokens
  objective cost
  extract parts = split(doc, tokens=1000)
  map p in parts {
    reason s = prompt "Summarize: {{ p }}" needs reasoning >= 2
  }
  reduce all = concat(s)
  output all
}
"""


def test_sizes_flow_through_split_into_the_map(tmp_path):
    ran, plan = compile_json(write(tmp_path, SPLIT, "pieces.het"), tmp_path=tmp_path)
    assert ran.code == 0, ran.text
    est = node(plan, "s")["estimate"]
    assert 9 <= est["calls"] <= 11, est  # 10k tokens in pieces of 1000
    per_call = est["input_tokens"] / est["calls"]
    assert 1000 <= per_call <= 1100, est


def _hashes(plan: dict) -> set[str]:
    return set(re.findall(r"\b[0-9a-f]{64}\b", json.dumps(plan)))


def test_the_plan_carries_the_sources_and_the_catalogs_hashes(tmp_path):
    het = write(tmp_path, ONE.read_text(), "h.het")
    _, first = compile_json(het, tmp_path=tmp_path)
    het.write_text(ONE.read_text() + "# a comment changes the source\n")
    _, second = compile_json(het, tmp_path=tmp_path)
    changed = tmp_path / "changed.toml"
    changed.write_text(
        CATALOG.read_text().replace("input_per_mtok = 50.0", "input_per_mtok = 51.0")
    )
    _, third = compile_json(het, "--catalog", changed, tmp_path=tmp_path)
    assert len(_hashes(first)) >= 2, first  # the source's and the catalog's
    assert _hashes(first) != _hashes(second)  # the source's changed
    assert _hashes(second) != _hashes(third)  # the catalog's changed
    assert len(_hashes(first) & _hashes(second)) >= 1  # the catalog's did not


@pytest.mark.parametrize(
    ("objective", "ranked"),
    [
        ("cost", ["m@fast", "big@bigchip"]),  # $0.10 before $0.52
        ("latency", ["big@bigchip", "m@slow"]),  # 10 s before 41 s
    ],
)
def test_alternatives_are_ranked_by_the_objective(objective, ranked, tmp_path):
    _, plan = compile_json(ONE, "--objective", objective, tmp_path=tmp_path)
    assert [_offer(a) for a in node(plan, "answer")["alternatives"]] == ranked


def test_budget_and_deadline_are_hard_under_balanced_too(tmp_path):
    text = ONE.read_text().replace("objective cost", "objective balanced")
    het = write(tmp_path, text, "balanced_capped.het")
    _, capped = compile_json(het, "--budget", "0.01", tmp_path=tmp_path)
    assert _chip(capped) == "slow" and capped["estimate"]["cost_usd"] <= 0.01
    _, rushed = compile_json(het, "--deadline", "2s", tmp_path=tmp_path)
    assert _chip(rushed) == "fast" and rushed["estimate"]["latency_s"] <= 2
