"""`hetflow compile` and the plan's JSON (LANGUAGE.md §5.8–§5.9, §6; DESIGN.md "plan JSON").

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
import shutil

import pytest
from contract_support import CATALOG, EXAMPLES, FIXTURES, cli, compile_json, node, write

import hetflow

ONE = FIXTURES / "one_step.het"
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


def _offer(assignment: dict) -> str:
    return f"{assignment['model']}@{assignment['chip']}"


def _chip(plan: dict, node_id: str = "answer") -> str:
    return node(plan, node_id)["assignment"]["chip"]


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


# ---------------------------------------------------------------- options override the file


def test_command_line_budget_overrides_the_file(tmp_path):
    ran, plan = compile_json(
        FIXTURES / "budget_too_small.het", "--budget", "1.00", tmp_path=tmp_path
    )
    assert ran.code == 0, ran.text
    assert _chip(plan) == "fast"  # the file's objective is latency


def test_command_line_deadline_overrides_the_file(tmp_path):
    ran, plan = compile_json(
        FIXTURES / "deadline_too_short.het", "--deadline", "5m", tmp_path=tmp_path
    )
    assert ran.code == 0, ran.text
    assert _chip(plan) == "slow"  # the file's objective is cost


def test_command_line_input_size_overrides_the_hint(tmp_path):
    _, small = compile_json(ONE, tmp_path=tmp_path)
    assert node(small, "answer")["estimate"]["input_tokens"] < 20_000
    _, large = compile_json(ONE, "--input-size", "doc=128k", tmp_path=tmp_path)
    assert node(large, "answer")["estimate"]["input_tokens"] >= 128_000


def test_input_sizes_flow_to_token_estimates(tmp_path):
    text = (FIXTURES / "one_step.het").read_text().replace("10k tokens", "500k tokens")
    _, plan = compile_json(write(tmp_path, text, "big_input.het"), tmp_path=tmp_path)
    assert node(plan, "answer")["estimate"]["input_tokens"] >= 500_000


def test_workflow_option_picks_the_workflow(tmp_path):
    ran, plan = compile_json(
        FIXTURES / "two_workflows.het", "--workflow", "second", tmp_path=tmp_path
    )
    assert ran.code == 0, ran.text
    assert plan["workflow"] == "second"
    assert [n["id"] for n in plan["nodes"]] == ["b"]


def test_unknown_workflow_is_a_one_line_error(tmp_path):
    ran, _ = compile_json(FIXTURES / "two_workflows.het", "--workflow", "secnod", tmp_path=tmp_path)
    assert ran.code == 1
    assert "secnod" in ran.err and "second" in ran.err  # did you mean


def test_every_spelling_at_once(tmp_path):
    plan_path = tmp_path / "PLAN.json"
    ran = cli(
        "compile",
        ONE,
        "-o",
        plan_path,
        "--catalog",
        CATALOG,
        "--objective",
        "cost",
        "--budget",
        "0.50",
        "--deadline",
        "30s",
        "--input-size",
        "doc=20k",
        "--workflow",
        "one_step",
    )
    assert ran.code == 0, ran.text
    plan = json.loads(plan_path.read_text())
    assert plan["workflow"] == "one_step" and plan["objective"] == "cost"
    assert plan["estimate"]["cost_usd"] <= 0.50 and plan["estimate"]["latency_s"] <= 30
    # slow takes 1 + 20 + 30 s > 30 s; fast costs ~ $0.20 <= $0.50
    assert _chip(plan) == "fast"
    assert node(plan, "answer")["estimate"]["input_tokens"] >= 20_000


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--objective", "fastest"], 2),
        (["--budget", "lots"], (1, 2)),
        (["--deadline", "soon"], (1, 2)),
        (["--input-size", "doc"], (1, 2)),
        (["--input-size", "nope=10k"], 1),
        (["--catalog", "/no/such/catalog.toml"], 1),
    ],
)
def test_bad_option_values_are_user_errors_not_tracebacks(args, code, tmp_path):
    ran = cli("compile", ONE, "-o", tmp_path / "p.json", *args)
    assert ran.code in (code if isinstance(code, tuple) else (code,)), ran.text
    assert "Traceback" not in ran.text and ran.err.strip(), ran.text


# ---------------------------------------------------------------- pins and needs (§5.8)


@pytest.mark.parametrize(
    ("pin", "objective", "offer"),
    [
        ('using "openai/m-fast"', "cost", "m@fast"),
        ('using "big"', "cost", "big@bigchip"),
        ('using "m" on fast', "cost", "m@fast"),
        ('using "m" on "fast"', "cost", "m@fast"),
        ("on fast", "cost", "m@fast"),
        ('on "slow"', "latency", "m@slow"),
    ],
)
def test_pins_take_the_choice_away(pin, objective, offer, tmp_path):
    text = ONE.read_text().replace("needs reasoning >= 2", f"needs reasoning >= 2 {pin}")
    ran, plan = compile_json(
        write(tmp_path, text, "pinned.het"), "--objective", objective, tmp_path=tmp_path
    )
    assert ran.code == 0, ran.text
    assert _offer(node(plan, "answer")["assignment"]) == offer


@pytest.mark.parametrize(
    ("pin", "word"),
    [
        ('using "openai/m-fsat"', "m-fsat"),
        ('using "m" on quick', "quick"),
        ("on flast", "flast"),
    ],
)
def test_a_pin_naming_an_unknown_model_or_chip(pin, word, tmp_path):
    text = ONE.read_text().replace("needs reasoning >= 2", f"needs reasoning >= 2 {pin}")
    path = write(tmp_path, text, "badpin.het")
    ran, plan = compile_json(path, tmp_path=tmp_path)
    assert ran.code == 1 and plan is None, ran.text
    line = text.splitlines().index(next(x for x in text.splitlines() if word in x)) + 1
    assert re.search(rf"badpin\.het:{line}:\d+: error: .*{word}", ran.err), ran.err


@pytest.mark.parametrize("needs", ["vision >= 5", "reasoning >= 5, vision >= 1", "context >= 2M"])
def test_needs_no_offer_can_meet(needs, tmp_path):
    text = ONE.read_text().replace("needs reasoning >= 2", f"needs {needs}")
    path = write(tmp_path, text, "needy.het")
    ran, plan = compile_json(path, tmp_path=tmp_path)
    assert ran.code == 1 and plan is None, ran.text
    assert re.search(r"needy\.het:6:\d+: error: ", ran.err), ran.err


def test_a_step_whose_input_fits_no_context_window(tmp_path):
    text = ONE.read_text().replace("10k tokens", "3M tokens")  # every window is 1M or less
    ran, plan = compile_json(write(tmp_path, text, "huge.het"), tmp_path=tmp_path)
    assert ran.code == 1 and plan is None, ran.text
    assert "answer" in ran.err


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


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_compiles_with_the_default_catalog(name, tmp_path):
    plan_path = tmp_path / "p.json"
    ran = cli("compile", FIXTURES / name, "-o", plan_path)
    assert ran.code == 0, ran.text
    plan = json.loads(plan_path.read_text())
    assert plan["baseline"]["model"] and plan["baseline"]["chip"]
    assert plan["estimate"]["cost_usd"] > 0


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


def test_compile_prints_the_comparison_line(tmp_path):
    ran, plan = compile_json(ONE, "--objective", "latency", tmp_path=tmp_path)
    m = re.search(r"(\d+\.\d)x cheaper, (\d+\.\d)x faster than all on big @ bigchip", ran.out)
    assert m, ran.out
    assert m.group(1) == "5.0"  # the same tokens at 50 instead of 10 dollars per million
    faster = plan["baseline"]["latency_s"] / plan["estimate"]["latency_s"]
    assert float(m.group(2)) == pytest.approx(faster, abs=0.051)


def test_compile_prints_a_table_with_each_step(tmp_path):
    ran, _ = compile_json(FIXTURES / "example_contract_review.het", tmp_path=tmp_path)
    for word in ("verdict", "summary", "clauses", "risky"):
        assert word in ran.out, ran.out


# ---------------------------------------------------------------- secrets


def test_no_key_value_in_the_plan_or_the_output(tmp_path, monkeypatch):
    secret = "sk-contract-0123456789-SECRET"
    for var in ("CONTRACT_FAST_KEY", "CONTRACT_SLOW_KEY", "CONTRACT_BIG_KEY"):
        monkeypatch.setenv(var, secret)
    ran, plan = compile_json(ONE, tmp_path=tmp_path)
    assert ran.code == 0
    assert secret not in json.dumps(plan) and secret not in ran.text


# ---------------------------------------------------------------- the Python API


def test_python_compile_save_load_round_trip(tmp_path):
    plan = hetflow.compile(str(ONE), catalog=str(CATALOG), objective="latency")
    assert plan.workflow == "one_step"
    first = tmp_path / "plan.json"
    plan.save(str(first))
    again = hetflow.Plan.load(str(first))
    second = tmp_path / "again.json"
    again.save(str(second))
    assert json.loads(first.read_text()) == json.loads(second.read_text())
    data = json.loads(first.read_text())
    assert node(data, "answer")["assignment"]["chip"] == "fast"


def test_python_compile_objective_cost(tmp_path):
    plan = hetflow.compile(ONE, catalog=CATALOG, objective="cost")
    data = json.loads(plan.model_dump_json()) if hasattr(plan, "model_dump_json") else None
    if data is None:
        plan.save(tmp_path / "p.json")
        data = json.loads((tmp_path / "p.json").read_text())
    assert node(data, "answer")["assignment"]["chip"] == "slow"


def test_python_compile_raises_diagnostics_not_tracebacks(tmp_path):
    bad = write(tmp_path, ONE.read_text().replace("{{ doc }}", "{{ dco }}"), "bad.het")
    with pytest.raises(hetflow.HetError) as info:
        hetflow.compile(bad, catalog=CATALOG)
    assert "dco" in str(info.value)


def test_a_plan_is_self_contained(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    het = shutil.copy(ONE, work / "flow.het")
    plan_path = tmp_path / "plan.json"
    assert cli("compile", het, "-o", plan_path, "--catalog", CATALOG).code == 0
    shutil.rmtree(work)
    plan = hetflow.Plan.load(plan_path)
    assert plan.workflow == "one_step"


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


# ---------------------------------------------------------------- the default catalog

EXAMPLE_NEEDS = {
    "example_oolong.het": {
        "tallies.root": {"coding": 4, "reasoning": 4},
        "tallies.sub": {"reasoning": 2},
        "answer": {"reasoning": 3},
    },
    "example_web_step.het": {"focus": {"vision": 2}, "action": {"reasoning": 4, "vision": 3}},
    "example_contract_review.het": {"verdict": {"reasoning": 2}, "summary": {"reasoning": 4}},
}


@pytest.fixture(scope="module")
def default_listing():
    ran = cli("catalog", "list", "--format", "json")
    assert ran.code == 0, ran.text
    return json.loads(ran.out)


@pytest.mark.parametrize("name", sorted(EXAMPLE_NEEDS))
def test_every_offer_in_a_plan_meets_the_steps_needs(name, default_listing, tmp_path):
    plan_path = tmp_path / "p.json"
    ran = cli("compile", FIXTURES / name, "-o", plan_path)
    assert ran.code == 0, ran.text
    plan = json.loads(plan_path.read_text())
    models = default_listing["models"]
    for node_id, needs in EXAMPLE_NEEDS[name].items():
        n = node(plan, node_id)
        assert n["assignment"] is not None, node_id
        for offer in [n["assignment"], *n["alternatives"]]:
            model = models[offer["model"]]
            for skill, level in needs.items():
                assert model[skill] >= level, (node_id, offer["model"], skill)
            per_call = n["estimate"]["input_tokens"] / max(n["estimate"]["calls"], 1)
            assert model["context"] >= per_call, (node_id, offer["model"])


def test_the_baseline_model_is_the_catalogs_strongest(default_listing, tmp_path):
    plan_path = tmp_path / "p.json"
    assert cli("compile", FIXTURES / "example_contract_review.het", "-o", plan_path).code == 0
    base = json.loads(plan_path.read_text())["baseline"]
    skills = ("reasoning", "coding", "extraction", "vision")
    models = default_listing["models"]
    mine = models[base["model"]]
    assert any(
        o["model"] == base["model"] and o["chip"] == base["chip"] for o in default_listing["offers"]
    )
    for name, other in models.items():
        stronger = all(other[s] >= mine[s] for s in skills) and any(
            other[s] > mine[s] for s in skills
        )
        assert not stronger, f"{name} is stronger than the baseline {base['model']}"


def test_the_summary_table_has_each_steps_model_chip_cost_latency(tmp_path):
    ran, plan = compile_json(ONE, "--objective", "latency", tmp_path=tmp_path)
    row = next(x for x in ran.out.splitlines() if x.split()[:1] == ["answer"])
    cells = row.split()
    assert "m" in cells and "fast" in cells, row
    assert re.search(r"\$0\.10\b", row), row  # $0.103 rounded
    assert re.search(r"113 ?ms|0\.11\d? ?s", row), row


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
