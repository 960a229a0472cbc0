"""The discrete-event simulator on hand-built plans: every expected time is computed
here from the offer figures, never written as a literal."""

import math

import pytest

from hetflow.plan.model import Plan
from hetflow.simulate.engine import CPU_STEP_S, simulate

FAST = dict(
    model="small",
    chip="cerebras-wse3",
    litellm="cerebras/small",
    offer="small@cerebras-wse3",
    output_tps=2000.0,
    prefill_tps=30000.0,
    ttft_ms=300.0,
    concurrency=16,
    handoff_ms=40.0,
    input_per_mtok=0.35,
    output_per_mtok=0.75,
)
GPU = dict(
    model="big",
    chip="nvidia-h100",
    litellm="openai/big",
    offer="big@nvidia-h100",
    output_tps=80.0,
    prefill_tps=8000.0,
    ttft_ms=900.0,
    concurrency=4,
    handoff_ms=50.0,
    input_per_mtok=1.25,
    output_per_mtok=10.0,
)


def call_s(offer, tokens_in, tokens_out):
    return (
        offer["ttft_ms"] / 1000
        + tokens_in / offer["prefill_tps"]
        + tokens_out / offer["output_tps"]
    )


def handoff_s(a, b):
    return (a["handoff_ms"] + b["handoff_ms"]) / 1000


def model_node(node_id, offer, calls=1, tokens_in=1000, tokens_out=100, op="reason", maps=()):
    """A node whose estimate totals are `calls` calls of (tokens_in, tokens_out) each."""
    return dict(
        id=node_id,
        op=op,
        step=node_id.split(".")[0],
        maps=list(maps),
        assignment=offer,
        estimate=dict(
            calls=calls, input_tokens=tokens_in * calls, output_tokens=tokens_out * calls
        ),
    )


def cpu_node(node_id, op="extract", maps=()):
    return dict(id=node_id, op=op, step=node_id, maps=list(maps))


def plan(nodes, edges, maps=(), **extra):
    return Plan(workflow="t", nodes=nodes, edges=edges, maps=list(maps), **extra)


def test_chain_makespan_is_the_sum_of_calls_and_handoffs():
    p = plan(
        [
            model_node("a", FAST, tokens_in=4000, tokens_out=200),
            model_node("b", GPU, tokens_in=1500, tokens_out=300),
            model_node("c", FAST, tokens_in=800, tokens_out=50),
        ],
        [("doc", "a"), ("a", "b"), ("b", "c")],
    )
    sim = simulate(p)
    expected = (
        call_s(FAST, 4000, 200)
        + handoff_s(FAST, GPU)
        + call_s(GPU, 1500, 300)
        + handoff_s(GPU, FAST)
        + call_s(FAST, 800, 50)
    )
    assert sim.makespan_s == pytest.approx(expected)
    assert sim.critical_path == ["a", "b", "c"]
    assert sim.nodes["b"].start == pytest.approx(call_s(FAST, 4000, 200) + handoff_s(FAST, GPU))


def test_same_chip_edge_has_no_handoff():
    p = plan([model_node("a", FAST), model_node("b", FAST)], [("a", "b")])
    assert simulate(p).makespan_s == pytest.approx(2 * call_s(FAST, 1000, 100))


def test_map_of_40_items_on_concurrency_16_takes_three_waves():
    p = plan(
        [cpu_node("split"), model_node("v", FAST, calls=40, maps=["it"])],
        [("split", "v")],
        maps=[dict(item="it", over="split", body=["v"], cardinality=40)],
    )
    sim = simulate(p)
    one = call_s(FAST, 1000, 100)
    delay = handoff_s(FAST, {"handoff_ms": 0.0})  # cpu → cerebras: the cpu hands off in 0 ms
    assert math.ceil(40 / FAST["concurrency"]) == 3
    assert sim.nodes["v"].end - sim.nodes["v"].start == pytest.approx(3 * one)
    assert sim.makespan_s == pytest.approx(CPU_STEP_S + delay + 3 * one)
    assert sim.nodes["v"].calls == 40
    chip = sim.chips["cerebras-wse3"]
    assert chip.calls == 40 and chip.peak_in_flight == FAST["concurrency"]
    starts = sorted({round(c.start, 9) for c in sim.calls if c.node == "v"})
    assert len(starts) == 3  # three waves, each starting as the last one ends


def test_independent_nodes_overlap():
    p = plan(
        [
            model_node("left", FAST, tokens_out=2000),
            model_node("right", GPU),
            model_node("join", FAST),
        ],
        [("doc", "left"), ("doc", "right"), ("left", "join"), ("right", "join")],
    )
    sim = simulate(p)
    left, right = sim.nodes["left"], sim.nodes["right"]
    assert left.start == right.start == 0.0
    assert min(left.end, right.end) > max(left.start, right.start)  # they ran at once
    # join waits for the slower branch plus its handoff
    slow = max(call_s(FAST, 1000, 2000), call_s(GPU, 1000, 100) + handoff_s(GPU, FAST))
    assert sim.nodes["join"].start == pytest.approx(slow)
    assert sim.critical_path[-1] == "join"


def test_nodes_on_one_offer_share_its_concurrency():
    solo = dict(FAST, concurrency=1)
    p = plan([model_node("x", solo), model_node("y", solo)], [])
    sim = simulate(p)
    one = call_s(solo, 1000, 100)
    assert sim.makespan_s == pytest.approx(2 * one)  # one slot: one after the other
    assert sorted([sim.nodes["x"].start, sim.nodes["y"].start]) == pytest.approx([0, one])
    assert sim.chips["cerebras-wse3"].peak_in_flight == 1


def test_per_chip_use_and_utilization():
    p = plan([model_node("a", FAST, calls=8), model_node("b", GPU, calls=2)], [("a", "b")])
    sim = simulate(p)
    fast, gpu = sim.chips["cerebras-wse3"], sim.chips["nvidia-h100"]
    assert fast.calls == 8 and gpu.calls == 2
    assert fast.busy_s == pytest.approx(8 * call_s(FAST, 1000, 100))
    assert fast.peak_in_flight == 8 and gpu.peak_in_flight == 2
    assert fast.slots == 16 and gpu.slots == 4
    assert fast.utilization == pytest.approx(fast.busy_s / (16 * sim.makespan_s))
    assert gpu.utilization == pytest.approx(gpu.busy_s / (4 * sim.makespan_s))
    assert 0 < fast.utilization < 1


def test_cost_is_tokens_times_prices():
    p = plan(
        [
            model_node("a", FAST, calls=3, tokens_in=2000, tokens_out=500),
            model_node("b", GPU, tokens_in=10_000, tokens_out=1000),
        ],
        [("a", "b")],
    )
    sim = simulate(p)
    expected = (
        3 * (2000 * FAST["input_per_mtok"] + 500 * FAST["output_per_mtok"])
        + 10_000 * GPU["input_per_mtok"]
        + 1000 * GPU["output_per_mtok"]
    ) / 1e6
    assert sim.cost_usd == pytest.approx(expected)
    assert sim.chips["nvidia-h100"].cost_usd == pytest.approx(
        (10_000 * GPU["input_per_mtok"] + 1000 * GPU["output_per_mtok"]) / 1e6
    )


def test_per_hour_offer_pays_for_the_time_a_slot_is_held():
    hosted = dict(GPU, input_per_mtok=0.0, output_per_mtok=0.0, per_hour=36.0)
    sim = simulate(plan([model_node("a", hosted, calls=2)], []))
    expected = 2 * call_s(hosted, 1000, 100) / 3600 * 36.0 / hosted["concurrency"]
    assert sim.cost_usd == pytest.approx(expected)


def test_map_items_flow_one_by_one():
    """Item i of the second body node starts when item i of the first is done,
    before the first node's last wave: finer than whole waves."""
    narrow = dict(FAST, concurrency=2)
    p = plan(
        [model_node("a", narrow, calls=4, maps=["it"]), model_node("b", GPU, calls=4, maps=["it"])],
        [("a", "b")],
        maps=[dict(item="it", over="doc", body=["a", "b"], cardinality=4)],
    )
    sim = simulate(p)
    one_a = call_s(narrow, 1000, 100)
    assert sim.nodes["b"].start == pytest.approx(one_a + handoff_s(narrow, GPU))
    assert sim.nodes["b"].start < sim.nodes["a"].end
    items = {c.item: c for c in sim.calls if c.node == "b"}
    assert set(items) == {0, 1, 2, 3}
    # items 2 and 3 of b wait for the second wave of a
    assert items[2].start == pytest.approx(2 * one_a + handoff_s(narrow, GPU))


def test_a_step_after_a_map_waits_for_every_item():
    p = plan(
        [
            model_node("v", FAST, calls=20, maps=["it"]),
            cpu_node("count", op="reduce"),
            model_node("summary", GPU),
        ],
        [("v", "count"), ("v", "summary")],
        maps=[dict(item="it", over="doc", body=["v"], cardinality=20)],
    )
    sim = simulate(p)
    assert sim.nodes["count"].start == pytest.approx(
        sim.nodes["v"].end + handoff_s(FAST, {"handoff_ms": 0})
    )
    assert sim.nodes["summary"].start == pytest.approx(sim.nodes["v"].end + handoff_s(FAST, GPU))


def test_nested_maps_release_inner_items_per_outer_item():
    slow_outer = dict(FAST, concurrency=1)
    p = plan(
        [
            model_node("outer", slow_outer, calls=2, maps=["d"]),
            model_node("inner", GPU, calls=6, maps=["d", "p"]),
        ],
        [("outer", "inner")],
        maps=[
            dict(item="d", over="docs", body=["outer", "inner"], cardinality=2),
            dict(item="p", over="outer", parent="d", body=["inner"], cardinality=3),
        ],
    )
    sim = simulate(p)
    one = call_s(slow_outer, 1000, 100)
    first = sorted(c.start for c in sim.calls if c.node == "inner" and c.item < 3)
    second = sorted(c.start for c in sim.calls if c.node == "inner" and c.item >= 3)
    assert first[0] == pytest.approx(one + handoff_s(FAST, GPU))
    assert second[0] >= 2 * one + handoff_s(FAST, GPU) - 1e-9
    assert sim.nodes["inner"].calls == 6


def test_recurse_root_iterations_run_one_after_another():
    p = plan(
        [
            model_node("t.root", GPU, calls=3, op="recurse.root"),
            cpu_node("t.repl", op="recurse.repl"),
            model_node("t.sub", FAST, calls=32, op="recurse.sub"),
        ],
        [("t.root", "t.repl"), ("t.repl", "t.sub")],
    )
    sim = simulate(p)
    assert sim.nodes["t.root"].end == pytest.approx(3 * call_s(GPU, 1000, 100))
    sub = sim.nodes["t.sub"]
    assert sub.end - sub.start == pytest.approx(2 * call_s(FAST, 1000, 100))  # 32 / 16
    assert sim.critical_path == ["t.root", "t.repl", "t.sub"]


def test_jitter_is_reproducible_with_a_seed():
    p = plan(
        [model_node("v", FAST, calls=64, maps=["it"])],
        [],
        maps=[dict(item="it", over="doc", body=["v"], cardinality=64)],
    )
    a = simulate(p, seed=7, jitter=0.4)
    b = simulate(p, seed=7, jitter=0.4)
    c = simulate(p, seed=8, jitter=0.4)
    assert a.makespan_s == b.makespan_s
    assert a.makespan_s != c.makespan_s
    plain = simulate(p)
    durations = [s.end - s.start for s in a.calls]
    assert len(set(durations)) > 1
    # the noise has mean 1: the average call stays near the model's figure
    assert sum(durations) / len(durations) == pytest.approx(call_s(FAST, 1000, 100), rel=0.25)
    assert plain.makespan_s == simulate(p, seed=99).makespan_s


def test_plan_estimate_is_reported_beside_the_simulation():
    p = plan(
        [model_node("a", FAST)], [], estimate=dict(cost_usd=0.5, latency_s=3.0, critical_path=["a"])
    )
    sim = simulate(p)
    assert sim.estimate_cost_usd == 0.5 and sim.estimate_latency_s == 3.0
    assert sim.plan_critical_path == ["a"]
    d = sim.to_dict()
    assert d["nodes"]["a"]["offer"] == "small@cerebras-wse3"
    assert set(d) >= {"makespan_s", "cost_usd", "nodes", "chips", "critical_path", "estimate"}


def test_a_catalog_replaces_the_plans_figures():
    from hetflow.catalog import load_catalog

    cat = load_catalog(None)
    offer = cat.offer("gpt-oss-120b@cerebras-wse3")
    stale = dict(
        model="gpt-oss-120b",
        chip="cerebras-wse3",
        litellm=offer.litellm,
        offer=offer.id,
        output_tps=1.0,
        prefill_tps=1.0,
        ttft_ms=0.0,
        concurrency=1,
    )
    p = plan([model_node("a", stale, tokens_in=3000, tokens_out=400)], [])
    fresh = simulate(p, catalog=cat)
    assert fresh.makespan_s == pytest.approx(offer.call_latency_s(3000, 400))
    assert fresh.cost_usd == pytest.approx(offer.call_cost_usd(3000, 400))
    assert simulate(p).makespan_s == pytest.approx(3400.0)  # the plan's own (stale) figures


def test_a_model_node_without_an_estimate_makes_one_call_per_item():
    node = dict(id="a", op="reason", step="a", maps=["it"], assignment=FAST)
    p = plan([node], [], maps=[dict(item="it", over="doc", body=["a"], cardinality=5)])
    sim = simulate(p)
    assert sim.nodes["a"].calls == 5
    assert sim.makespan_s == pytest.approx(FAST["ttft_ms"] / 1000)


def test_empty_plan():
    sim = simulate(plan([], []))
    assert sim.makespan_s == 0 and sim.critical_path == [] and sim.chips == {}


def test_negative_jitter_is_refused():
    with pytest.raises(ValueError):
        simulate(plan([], []), jitter=-1)


def test_rounds_from_the_optimizer_run_one_after_another():
    node = model_node("t.sub", FAST, calls=12, op="recurse.sub")
    node["estimate"].update(rounds=3, parallel=4)
    sim = simulate(plan([node], []))
    assert sim.nodes["t.sub"].calls == 12
    assert sim.makespan_s == pytest.approx(3 * call_s(FAST, 1000, 100))
    assert sim.chips["cerebras-wse3"].peak_in_flight == 4


def test_cpu_time_from_the_estimate_is_shared_among_items():
    node = dict(cpu_node("hits", maps=["it"]), estimate=dict(cpu_s=1.2))
    p = plan([node], [], maps=[dict(item="it", over="doc", body=["hits"], cardinality=4)])
    sim = simulate(p)
    assert sim.makespan_s == pytest.approx(1.2 / 4)  # CPU items never queue
    assert sim.chips["cpu"].busy_s == pytest.approx(1.2)
    assert sim.chips["cpu"].utilization is None


def test_a_plan_with_a_cycle_is_a_one_line_error():
    from hetflow.errors import HetError

    p = plan([model_node("a", FAST), model_node("b", FAST)], [("a", "b"), ("b", "a")])
    with pytest.raises(HetError, match="a, b never become ready"):
        simulate(p)


def test_ties_on_the_critical_path_go_to_the_first_producer_in_plan_order():
    p = plan(
        [
            model_node("v", FAST),
            cpu_node("r1", op="reduce"),
            cpu_node("r2", op="reduce"),
            model_node("last", FAST),
        ],
        [("v", "r1"), ("v", "r2"), ("r1", "last"), ("r2", "last")],
    )
    assert simulate(p).critical_path == ["v", "r1", "last"]
