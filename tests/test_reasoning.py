"""Reasoning tokens: the catalog's figures, the estimates built on them, the runtime
that passes an effort and counts what the provider reports (issue 16)."""

from __future__ import annotations

import math

import pytest
from support.fixtures import *  # noqa: F403  (the server and home fixtures)

from hetflow.catalog import CatalogError, load_catalog, parse_catalog

BASE = """
[chips.c]
vendor = "v"

[models.thinker]
reasoning = 5
context = 100000

[models.thinker.thinking]
default_effort = "medium"
tokens = { low = 100, medium = 1000, high = 4000 }
per_input_ktok = { high = 50 }
source = "test figures"

[models.plain]
reasoning = 2
context = 100000

[[offers]]
model = "thinker"
chip = "c"
litellm = "openai/thinker"
output_tps = 100
prefill_tps = 1000
ttft_ms = 500
input_per_mtok = 1.0
output_per_mtok = 10.0

[[offers]]
model = "plain"
chip = "c"
litellm = "openai/plain"
output_tps = 100
prefill_tps = 1000
ttft_ms = 500
input_per_mtok = 1.0
output_per_mtok = 2.0
"""


def test_an_offer_reasons_as_its_model_unless_it_says_otherwise():
    cat = parse_catalog(BASE)
    thinker, plain = cat.offer("thinker@c"), cat.offer("plain@c")
    assert thinker.thinking is not None and thinker.thinking.hidden
    assert thinker.reasoning_tokens(None, 0) == 1000  # the default effort
    assert thinker.reasoning_tokens("low", 0) == 100
    assert thinker.reasoning_tokens("high", 2000) == 4000 + 50 * 2  # grows with the input
    assert thinker.reasoning_tokens("minimal", 0) == 100  # the nearest effort it takes
    assert plain.thinking is None and plain.reasoning_tokens("high", 5000) == 0
    own = BASE.replace(
        "output_per_mtok = 10.0\n",
        'output_per_mtok = 10.0\nthinking = { default_effort = "low", tokens = { low = 7 } }\n',
    )
    assert parse_catalog(own).offer("thinker@c").reasoning_tokens(None, 0) == 7


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            'default_effort = "medium"',
            'default_effort = "minimal"',
            "'minimal' is not one of tokens",
        ),
        ("low = 100", "lo = 100", "unknown reasoning effort 'lo'; did you mean 'low'?"),
        ('source = "test figures"', "per_cal = 3", "per_cal"),
    ],
)
def test_a_wrong_thinking_table_is_an_error_at_its_line(old, new, message):
    with pytest.raises(CatalogError) as err:
        parse_catalog(BASE.replace(old, new, 1), label="lab.toml")
    rendered = err.value.render()
    assert message in rendered and "lab.toml:" in rendered


def test_the_default_catalog_states_how_its_reasoning_models_reason():
    cat = load_catalog(None)
    for name in ("gpt-5", "gpt-5-mini", "gpt-oss-120b", "claude-sonnet-4-5", "gemini-2.5-pro"):
        thinking = cat.models[name].thinking
        assert thinking is not None and thinking.source, name
        assert thinking.tokens["high"] >= thinking.tokens[thinking.effort("low")], name
    assert cat.models["llama-3.1-8b"].thinking is None
    # Claude thinks only when asked; GPT-5 reasons at medium unless told otherwise.
    assert cat.offer("claude-sonnet-4-5@aws-trainium2").reasoning_tokens(None, 1000) == 0
    gpt5 = cat.offer("gpt-5@nvidia-h100")
    assert gpt5.reasoning_tokens(None, 1000) == cat.models["gpt-5"].thinking.tokens["medium"]
    assert all(o.thinking is not None for o in cat.offers if o.model == "gpt-oss-120b")


FLOW = """
workflow w {
  input doc: text ~ 4k tokens
  reason a = prompt "Summarize {{ doc }}" using "thinker" with max_tokens=200, reasoning_effort=high
  reason b = prompt "Summarize {{ doc }}" using "thinker" with max_tokens=200
  reason c = prompt "Title of {{ a }} and {{ b }}" using "plain" with max_tokens=20, reasoning_effort=high
  output c
}
"""


def test_estimates_count_reasoning_at_the_offer_speed_and_output_price():
    import hetflow

    plan = hetflow.compile(FLOW, catalog=parse_catalog(BASE), objective="cost")
    a, b, c = (plan.node(x) for x in ("a", "b", "c"))
    for node, reasoning in ((a, 4000 + 50 * a.estimate.input_tokens_per_call / 1000), (b, 1000)):
        e = node.estimate
        i, o = e.input_tokens_per_call, e.output_tokens_per_call
        assert o == 200  # the visible answer: max_tokens
        # thinker@c: $1 in, $10 out per million; 100 tok/s out, 1,000 in, 500 ms ttft.
        assert e.cost_usd == pytest.approx(e.calls * (i * 1.0 + (o + reasoning) * 10.0) / 1e6)
        assert e.latency_s == pytest.approx(0.5 + i / 1000 + (o + reasoning) / 100)
        assert e.reasoning_tokens == pytest.approx(e.calls * reasoning)
        assert node.assignment.reasoning_tokens == pytest.approx(reasoning)
    assert a.assignment.reasoning_effort == "high" and b.assignment.reasoning_effort == "medium"
    # A model that does not reason bills none, whatever effort the step asks for.
    assert c.assignment.reasoning_effort is None and c.estimate.reasoning_tokens == 0
    e = c.estimate
    assert e.cost_usd == pytest.approx(
        e.calls * (e.input_tokens_per_call + 2 * e.output_tokens_per_call) / 1e6
    )
    assert plan.estimate.reasoning_tokens == pytest.approx(
        a.estimate.reasoning_tokens + b.estimate.reasoning_tokens
    )


def test_the_baseline_says_which_effort_it_assumes_and_counts_its_reasoning():
    import hetflow

    plan = hetflow.compile(FLOW, catalog=parse_catalog(BASE), objective="cost")
    b = plan.baseline
    assert (b.model, b.reasoning_effort) == ("thinker", "medium")
    assert "than all on thinker @ c at reasoning effort medium (or the step's own)" in (
        plan.comparison()
    )
    # a and c at high (as they ask), b at the default medium, all on the thinker.
    want = sum(
        n.estimate.calls
        * (4000 + 50 * n.estimate.input_tokens_per_call / 1000 if n.id != "b" else 1000)
        for n in plan.nodes
    )
    assert b.reasoning_tokens == pytest.approx(want)


def test_the_default_baseline_on_oolong_pays_for_gpt5_reasoning():
    import hetflow

    cat = load_catalog(None)
    plan = hetflow.compile("examples/oolong.het", catalog=cat)
    gpt5 = cat.offer("gpt-5@nvidia-h100")
    calls = sum(n.estimate.calls for n in plan.nodes if n.assignment is not None)
    per_call = cat.models["gpt-5"].thinking.tokens["medium"]
    assert plan.baseline.reasoning_tokens == pytest.approx(calls * per_call)
    assert plan.baseline.cost_usd >= calls * per_call * gpt5.output_per_mtok / 1e6
    assert "at reasoning effort medium" in plan.comparison()


# ---------------------------------------------------------------- the runtime


def served(url: str) -> str:
    """BASE with both offers answered by the test server."""
    return BASE.replace(
        'litellm = "openai/thinker"', f'litellm = "openai/thinker"\napi_base = "{url}"'
    ).replace('litellm = "openai/plain"', f'litellm = "openai/plain"\napi_base = "{url}"')


ONE = """
workflow w {
  input q: text
  reason a = prompt "Answer {{ q }}" using "thinker" with max_tokens=100, reasoning_effort=high
  output a
}
"""


def test_effort_is_passed_and_reported_reasoning_is_paid_and_traced(server, home):
    import hetflow
    from hetflow.runtime import run_sync

    server.script("thinker", reply="forty-two", reasoning=300)
    plan = hetflow.compile(ONE, catalog=parse_catalog(served(server.url)))
    result = run_sync(plan, {"q": "what?"}, cache=False, journal=False)
    assert result.outputs["a"] == "forty-two"
    [request] = server.seen("thinker")
    assert request.body.get("reasoning_effort") == "high"
    # The visible cap plus room for twice the reasoning the plan expects on this offer.
    expected = plan.node("a").assignment.reasoning_tokens
    assert expected == pytest.approx(
        4000 + 50 * plan.node("a").estimate.input_tokens_per_call / 1000
    )
    sent = request.body.get("max_tokens") or request.body.get("max_completion_tokens")
    assert sent == 100 + math.ceil(2 * expected)
    [record] = result.trace
    assert record["reasoning_tokens"] == 300
    assert record["tokens_out"] == 300 + math.ceil(len("forty-two") / 4)
    assert record["cost_usd"] == pytest.approx(
        (record["tokens_in"] * 1.0 + record["tokens_out"] * 10.0) / 1e6
    )
    assert result.cost_usd == pytest.approx(record["cost_usd"])
    assert result.comparison["actual"]["reasoning_tokens"] == 300
    from hetflow.runtime.trace import summary_text

    summary = summary_text(result.comparison)
    assert f"of which hidden reasoning 300 tokens out (estimated {expected:,.0f})" in summary


def test_reasoning_that_uses_every_token_is_a_clear_paid_failure(server, home):
    import hetflow
    from hetflow.runtime import run_sync

    server.script("thinker", reply="never seen", reasoning=10**6)  # reasons to the cap
    plan = hetflow.compile(ONE, catalog=parse_catalog(served(server.url)))
    result = run_sync(plan, {"q": "what?"}, cache=False, journal=False)
    assert "a" not in result.outputs
    reason = result.failed["a"]
    assert "hidden reasoning used" in reason and "before any visible text" in reason
    assert "raise max_tokens or lower reasoning_effort" in reason
    [record] = result.trace  # not retried on the same offer: it would reason as long again
    sent = server.seen("thinker")[0].body
    cap = sent.get("max_tokens") or sent.get("max_completion_tokens")
    assert record["reasoning_tokens"] == cap and record["tokens_out"] == cap
    assert record["error"] and record["cost_usd"] > 0  # paid for all the same
    assert result.cost_usd == pytest.approx(record["cost_usd"])


MANY = """
workflow w {
  input qs: list[text]
  map q in qs {
    reason a = prompt "Answer {{ q }}" using "thinker"
  }
  output a
}
"""


@pytest.mark.parametrize("thought", [3000, 10**6])
def test_the_budget_holds_when_a_model_reasons_more_than_expected(server, home, thought):
    """The plan expects 1,000 reasoning tokens a call (medium); the model reasons 3x
    that, or without end: the run never spends past its budget."""
    import hetflow
    from hetflow.runtime import Settings, run_sync

    server.script("thinker", reply="yes", reasoning=thought)
    plan = hetflow.compile(MANY, catalog=parse_catalog(served(server.url)))
    assert plan.node("a").assignment.reasoning_tokens == 1000
    budget = 0.15
    result = run_sync(
        plan,
        {"qs": [f"question {i}" for i in range(20)]},
        budget=budget,
        cache=False,
        journal=False,
        settings=Settings(backoff_s=0.01),
    )
    paid = sum(r["cost_usd"] for r in result.trace)
    assert paid <= budget and result.cost_usd == pytest.approx(paid)
    assert 1 <= len(server.seen("thinker")) < 20  # some calls ran, not all
    for request in server.seen("thinker"):  # each asked for room for the reasoning
        cap = request.body.get("max_tokens") or request.body.get("max_completion_tokens")
        assert cap <= 4096 + 2 * 1000 and cap >= 16 + 1000
    assert all(r["reasoning_tokens"] == min(thought, r["tokens_out"]) for r in result.trace)


# ---------------------------------------------------------------- calibration

RFLOW = """
workflow r {
  input doc: text ~ 32k tokens
  recurse t over doc {
    task "Count the records"
    root needs reasoning >= 5
    sub needs reasoning >= 5
  }
  output t
}
"""


def traced(node: str, tokens_out: int, reasoning: int | None, model: str = "thinker") -> dict:
    return {
        "node": node,
        "step": "t",
        "item": "",
        "model": model,
        "chip": "c",
        "litellm": f"openai/{model}",
        "tokens_in": 3000,
        "tokens_out": tokens_out,
        "reasoning_tokens": reasoning,
        "cost_usd": 0.001,
        "latency_s": 1.0,
        "started": 0.0,
        "ended": 1.0,
        "retries": 0,
        "fallback": 0,
        "cached": False,
        "error": None,
        "run": "r1",
    }


def test_calibration_learns_reasoning_per_call_from_traces(tmp_path):
    import json

    import hetflow

    records = [traced("t.root", 700, 600), traced("t.root", 500, 200)]
    records += [traced("t.sub", 100, 50)] * 4 + [traced("t.sub", 90, None)]  # one unreported
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    cat = parse_catalog(BASE)
    before = hetflow.compile(RFLOW, catalog=cat, objective="cost")
    plan = hetflow.compile(RFLOW, catalog=cat, objective="cost", calibrate=[str(path)])
    root, sub = plan.node("t.root"), plan.node("t.sub")
    # Visible output is what was written less the reasoning; reasoning is its own mean.
    assert root.estimate.output_tokens_per_call == pytest.approx((100 + 300) / 2)
    assert root.estimate.reasoning_traced == {"thinker": pytest.approx(400)}
    assert root.assignment.reasoning_tokens == pytest.approx(400)  # not the catalog's 1,000
    assert sub.estimate.reasoning_traced == {"thinker": pytest.approx(50)}
    e = root.estimate
    assert e.cost_usd == pytest.approx(
        e.calls * (e.input_tokens_per_call * 1.0 + (e.output_tokens_per_call + 400) * 10.0) / 1e6
    )
    assert before.node("t.root").assignment.reasoning_tokens == 1000
    from hetflow.optimize.explain import explain

    text = explain(plan)
    assert "reasoning: 400 hidden tokens per call on thinker at effort medium (traced)" in text
