"""The optimizer's passes: the latency and cost model, handoffs, alternatives,
baseline, derived needs, and the time-limited fallback."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from hetflow.catalog import Offer, load_catalog
from hetflow.compiler import compile
from hetflow.estimate.sizes import Work
from hetflow.optimize import PASSES
from hetflow.optimize.model import Option, Problem, evaluate, node_cost, node_latency
from hetflow.optimize.solve import Goal, prune, solve

GOLDEN = Path(__file__).parent / "golden" / "compile"
LAB = GOLDEN / "lab.toml"


def offer(**kw):
    base = dict(
        model="m",
        chip="c",
        litellm="x/m",
        output_tps=100.0,
        prefill_tps=1000.0,
        ttft_ms=500.0,
        concurrency=4,
        input_per_mtok=1.0,
        output_per_mtok=2.0,
    )
    return Offer(**{**base, **kw})


def test_passes_run_in_order():
    assert [p.__name__ for p in PASSES] == [
        "candidates",
        "baseline",
        "assign",
        "alternatives",
        "critical_path",
        "cascade",
        "why",
    ]


def test_node_time_is_waves_of_calls():
    o = offer(concurrency=4)
    w = Work(rounds=2, parallel=10, input_tokens=1000, output_tokens=100)
    one = 0.5 + 1.0 + 1.0
    assert node_latency(o, w) == pytest.approx(2 * math.ceil(10 / 4) * one)
    assert node_cost(o, w) == pytest.approx(20 * (1000 * 1.0 + 100 * 2.0) / 1e6)


def test_per_hour_offers_pay_their_share_of_the_machine():
    o = offer(per_hour=3.6, input_per_mtok=None, output_per_mtok=None, concurrency=2)
    w = Work(rounds=1, parallel=5, input_tokens=1000, output_tokens=100)
    assert node_cost(o, w) == pytest.approx(5 * 2.5 / 3600 * 3.6 / 2)


def test_handoffs_keep_neighbours_on_one_chip(tmp_path):
    plan = compile(GOLDEN / "handoff_neighbours.het", catalog=LAB)
    assert plan.node("b").assignment.chip == "midchip"
    # Without handoffs the middle step moves to the faster chip.
    free = tmp_path / "free.toml"
    free.write_text(
        LAB.read_text()
        .replace("handoff_ms = 40", "handoff_ms = 0")
        .replace("handoff_ms = 50", "handoff_ms = 0")
    )
    plan = compile(GOLDEN / "handoff_neighbours.het", catalog=free)
    assert plan.node("b").assignment.chip == "fastchip"


def test_handoff_counts_both_chips_on_an_edge():
    p = Problem([[Option(0, 1.0, "a")], [Option(0, 1.0, "b")]], [(0, 1)], {"a": 0.25, "b": 0.5})
    assert evaluate(p, [0, 0]) == (0, 2.75)


def test_balanced_lies_between_cost_and_latency():
    text = (GOLDEN / "chip_choice.het").read_text().replace('using "mid"', "")
    cost = compile(text, catalog=LAB, objective="cost")
    latency = compile(text, catalog=LAB, objective="latency")
    balanced = compile(text, catalog=LAB, objective="balanced")
    assert cost.estimate.cost_usd <= balanced.estimate.cost_usd <= latency.estimate.cost_usd
    assert latency.estimate.latency_s <= balanced.estimate.latency_s <= cost.estimate.latency_s


def test_alternatives_prefer_another_chip_and_exclude_the_winner():
    plan = compile(GOLDEN / "chip_choice.het", catalog=LAB)
    node = plan.node("summary")
    alts = node.alternatives
    assert alts and node.assignment.offer not in {a.offer for a in alts}
    assert alts[0].chip != node.assignment.chip
    assert all(a.model == "mid" for a in alts)  # the pin holds for fallbacks too
    assert all(a.latency_s >= node.estimate.latency_s for a in alts)


def test_baseline_warns_when_the_strongest_offer_falls_short():
    plan = compile(
        'workflow w {\n input i: image\n zoom z = i at "the logo" needs vision >= 5\n output z\n}'
    )
    assert plan.node("z").assignment.model == "gemini-2.5-pro"
    assert plan.baseline.model == "gpt-5"
    assert any("does not meet the needs of 'z'" in w for w in plan.warnings)


def test_derived_needs_with_why_and_lowered_when_the_catalog_is_weak(tmp_path):
    text = (
        "workflow w {\n input doc: text ~ 50k tokens\n"
        ' reason a = prompt "Compare every pair of clauses in {{ doc }}"\n output a\n}'
    )
    plan = compile(text, catalog=LAB)
    a = plan.node("a")
    assert a.needs_source == "derived" and a.needs["reasoning"] == 5
    assert "pairwise (quadratic)" in a.needs_why
    assert a.needs["context"] >= 50_000
    weak = tmp_path / "weak.toml"
    weak.write_text(
        LAB.read_text()
        .replace("reasoning = 5", "reasoning = 3")
        .replace("reasoning = 4", "reasoning = 3")
    )
    plan = compile(text, catalog=weak)
    assert plan.node("a").needs["reasoning"] == 3
    assert any("derived needs lowered" in w for w in plan.warnings)


def test_prune_drops_options_beaten_in_every_plan():
    h = {"a": 0.1, "b": 0.1}
    same = Problem(
        [
            [Option(1, 1, "a"), Option(2, 2, "a"), Option(3, 0.5, "a"), Option(9, 9, "b")],
            [Option(0, 1, "a")],
        ],
        [(0, 1)],
        h,
    )
    assert prune(same) == [[0, 2], [0]]
    # Cheaper and a little faster on another chip — but not by more than the handoff
    # it would add toward its neighbour: both stay.
    near = [[Option(1.0, 1.0, "a"), Option(0.5, 0.95, "b")], [Option(0, 1, "a")]]
    assert prune(Problem(near, [(0, 1)], h)) == [[0, 1], [0]]
    assert prune(Problem(near, [], h)) == [[1], [0]]


def _big_problem(n: int, seed: int = 7) -> Problem:
    rng = random.Random(seed)
    chips = ["a", "b", "c"]
    options = [
        [Option(rng.uniform(0.1, 1), rng.uniform(0.1, 5), rng.choice(chips)) for _ in range(4)]
        for _ in range(n)
    ]
    edges = [(rng.randrange(v), v) for v in range(1, n) for _ in range(2)]
    return Problem(options, sorted(set(edges)), {"a": 0.05, "b": 0.1, "c": 0.02})


def test_a_time_limit_gives_a_feasible_plan_with_a_true_gap():
    p = _big_problem(150)
    fastest = [min(range(4), key=lambda j, o=o: o[j].latency) for o in p.options]
    deadline = evaluate(p, fastest)[1] * 1.3
    sol = solve(p, Goal("cost", deadline=deadline), time_limit=0.01)
    assert sol.choice is not None and sol.method in ("milp", "greedy")
    assert evaluate(p, sol.choice)[1] <= deadline * (1 + 1e-6)
    full = solve(p, Goal("cost", deadline=deadline))
    assert full.exact and full.gap == 0.0
    if not sol.exact:  # the gap is a guarantee: the optimum is no better than plan x (1 - gap)
        assert sol.gap is not None
        assert sol.cost * (1 - sol.gap) <= full.cost * (1 + 1e-6) <= sol.cost * (1 + 1e-6)


def test_greedy_fallback_past_the_size_limit(monkeypatch):
    import hetflow.optimize.solve as S

    monkeypatch.setattr(S, "LARGE_NODES", 100)
    p = _big_problem(300, seed=3)
    fastest = [min(range(4), key=lambda j, o=o: o[j].latency) for o in p.options]
    cheapest = [min(range(4), key=lambda j, o=o: o[j].cost) for o in p.options]
    budget = (evaluate(p, fastest)[0] + evaluate(p, cheapest)[0]) / 2
    for goal in (Goal("latency", budget=budget), Goal("balanced", budget=budget)):
        sol = solve(p, goal)
        assert sol.method == "greedy" and sol.choice is not None and 0 <= sol.gap < 1
        assert evaluate(p, sol.choice)[0] <= budget * (1 + 1e-9)


def test_solution_reports_method_and_exactness():
    plan = compile(GOLDEN / "map_waves.het", catalog=LAB)
    assert plan.optimizer["method"] == "enumerate" and plan.optimizer["exact"] is True
    wide = compile(GOLDEN / "recurse_placement.het", catalog=LAB)
    assert wide.optimizer["exact"] is True and wide.optimizer["method"] in ("enumerate", "milp")
    cheap = compile(GOLDEN / "chip_choice_cost.het", catalog=LAB)
    assert cheap.optimizer["method"] == "separable" and cheap.optimizer["exact"] is True


def test_default_catalog_places_same_model_on_several_chips():
    cat = load_catalog(None)
    chips = {o.chip for o in cat.offers if o.model == "gpt-oss-120b"}
    assert len(chips) >= 3
    text = (
        "workflow w {\n input doc: text ~ 30k tokens\n objective latency\n"
        ' reason a = prompt "{{ doc }}" needs reasoning >= 2 using "gpt-oss-120b"\n'
        " output a\n}"
    )
    fast = compile(text)
    cheap = compile(text.replace("objective latency", "objective cost"))
    assert fast.node("a").assignment.model == cheap.node("a").assignment.model
    assert fast.node("a").assignment.chip != cheap.node("a").assignment.chip


def test_downgrades_within_free_float_never_delay_the_plan():
    from hetflow.optimize.greedy import downgrade_within_float

    for seed in range(5):
        p = _big_problem(120, seed=seed)
        fastest = [min(range(4), key=lambda j, o=o: o[j].latency) for o in p.options]
        cost, latency = evaluate(p, fastest)
        for target in (latency, latency * 1.2):
            cheaper = downgrade_within_float(p, fastest, target)
            c2, l2 = evaluate(p, cheaper)
            assert l2 <= target * (1 + 1e-9) and c2 <= cost
        assert c2 < cost  # with room to spare, something got cheaper


def test_repair_meets_the_deadline_from_the_cheapest_plan():
    from hetflow.optimize.greedy import _repair

    p = _big_problem(120, seed=11)
    fastest = [min(range(4), key=lambda j, o=o: o[j].latency) for o in p.options]
    cheapest = [min(range(4), key=lambda j, o=o: o[j].cost) for o in p.options]
    lo, hi = evaluate(p, fastest)[1], evaluate(p, cheapest)[1]
    goal = Goal("cost", deadline=(lo + hi) / 2)
    plan = _repair(p, goal)
    assert plan is not None
    cost, latency = evaluate(p, plan)
    assert latency <= goal.deadline * (1 + 1e-9)
    assert cost >= solve(p, goal).cost * (1 - 1e-9)  # never better than the optimum


def test_a_budget_below_the_cheapest_plan_is_infeasible_for_every_objective():
    """Never a plan over budget: the cheapest plan costs 1.0, the budget is 0.9."""
    p = Problem([[Option(1.0, 5.0, "a"), Option(2.0, 1.0, "b")]], [], {})
    for objective in ("cost", "latency", "balanced"):
        sol = solve(p, Goal(objective, budget=0.9))
        assert sol.status == "infeasible" and sol.choice is None, (objective, sol)
    assert solve(p, Goal("cost", budget=1.0)).choice == [0]  # exactly the budget fits
