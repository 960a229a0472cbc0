"""Concurrency, injected failures, fallbacks and timeouts, with real timings and counts."""

from __future__ import annotations

from pathlib import Path

from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.replies import contract, contract_model, last_user

import hetflow
from hetflow.runtime import Settings, run_sync

EXAMPLES = Path(__file__).parent.parent / "examples"
FAST = Settings(backoff_s=0.01, backoff_max_s=0.05)

TWO = """
workflow two {
  input q: text
  reason a = prompt "A {{ q }}" using "small"%s
  reason b = prompt "B {{ q }}" using "big"
  output a, b
}
"""


def contract_plan(home, server, **kw):
    catalog = local_catalog(home, server.url, **kw)
    return hetflow.compile(str(EXAMPLES / "contract_review.het"), catalog=str(catalog))


def test_a_wide_map_fills_the_offer_concurrency_and_never_exceeds_it(server, home):
    server.script("coder", reply=contract_model, latency_s=0.08)
    plan = contract_plan(home, server)
    limit = plan.node("verdict").assignment.concurrency
    assert plan.node("verdict").assignment.model == "coder" and limit == 8

    result = run_sync(plan, {"contract": contract(40)}, settings=FAST, cache=False)

    assert result.ok, result.reason
    assert server.high_water["coder"] == limit
    # 40 verdicts, at most 8 at a time: the requests cannot all have overlapped.
    verdicts = [r for r in server.seen("coder") if last_user(r.body).startswith("Clause:")]
    assert len(verdicts) == 40
    span = max(r.ended for r in verdicts) - min(r.started for r in verdicts)
    assert span >= 5 * 0.08 * 0.9  # at least ceil(40 / 8) waves of 80 ms


def test_independent_steps_run_at_the_same_time(server, home, tmp_path):
    server.script("small", reply="a", latency_s=0.3)
    server.script("big", reply="b", latency_s=0.3)
    src = tmp_path / "two.het"
    src.write_text(TWO % "")
    plan = hetflow.compile(str(src), catalog=str(local_catalog(home, server.url)))

    result = run_sync(plan, {"q": "?"}, settings=FAST, cache=False)

    assert result.outputs == {"a": "a", "b": "b"}
    a, b = server.seen("small")[0], server.seen("big")[0]
    assert a.started < b.ended and b.started < a.ended  # the two requests overlapped


def test_thirty_percent_injected_429_and_500_are_survived(server, home):
    server.script("coder", reply=contract_model, fail_rate=0.3)
    server._rng.seed(7)
    plan = contract_plan(home, server)

    result = run_sync(plan, {"contract": contract(30)}, settings=FAST, cache=False)

    assert result.ok, result.reason
    assert result.outputs["risky"] == 10
    failed = [r for r in server.requests if r.status in (429, 500)]
    assert len(failed) >= 5  # ~30% of the 31+ requests
    assert {r.status for r in failed} == {429, 500}
    assert any(r["retries"] > 0 for r in result.trace if not r["error"])
    assert sum(1 for r in result.trace if r["error"]) == len(failed)


def test_a_down_model_falls_back_to_the_next_alternative(server, home):
    server.script("coder", down=503)
    server.script("small", reply=contract_model)
    server.script("big", reply=contract_model)
    plan = contract_plan(home, server)
    assert [a.model for a in plan.node("verdict").alternatives][0] == "small"

    result = run_sync(plan, {"contract": contract(6)}, settings=FAST, cache=False)

    assert result.ok, result.reason
    assert result.outputs["risky"] == 2
    ok = [r for r in result.trace if not r["error"]]
    assert {r["model"] for r in ok if r["node"] == "verdict"} == {"small"}
    assert all(r["fallback"] >= 1 for r in ok)
    # 503 is transient: each of the 7 calls tried coder 1 + 4 retries times first.
    assert len(server.seen("coder", ok_only=False)) == 7 * 5


def test_a_missing_model_falls_back_at_once(server, home):
    server.script("coder", down=404)
    server.script("small", reply=contract_model)
    server.script("big", reply=contract_model)
    plan = contract_plan(home, server)

    result = run_sync(plan, {"contract": contract(3)}, settings=FAST, cache=False)

    assert result.ok, result.reason
    assert len(server.seen("coder", ok_only=False)) == 4  # no retry of a 404


def test_a_failed_step_is_named_and_what_finished_is_kept(server, home):
    server.script("coder", down=404)
    server.script("big", down=404)
    server.script("small", reply=contract_model)
    plan = contract_plan(home, server)

    result = run_sync(plan, {"contract": contract(6)}, settings=FAST, cache=False)

    assert not result.ok
    assert result.outputs == {"risky": 2}  # verdicts fell back to small; the count finished
    assert set(result.failed) == {"summary"}
    why = result.failed["summary"]
    assert "coder@cerebras-wse3" in why and "big@nvidia-h100" in why and "\n" not in why
    assert result.reason.startswith("step 'summary' failed:")


def test_with_timeout_and_retries_bound_a_slow_call(server, home, tmp_path):
    server.script("small", reply="late", latency_s=1.5)
    server.script("big", reply="b")
    src = tmp_path / "two.het"
    src.write_text(TWO % " with timeout=200ms, retries=1")
    plan = hetflow.compile(str(src), catalog=str(local_catalog(home, server.url)))

    result = run_sync(plan, {"q": "?"}, settings=FAST, cache=False)

    assert result.outputs == {"b": "b"}
    assert "a" in result.failed and "after 2 attempts" in result.failed["a"]
    errors = [r for r in result.trace if r["node"] == "a"]
    assert len(errors) == 2 and all(r["latency_s"] < 1.4 for r in errors)


def test_an_endpoint_nobody_listens_on_is_named_as_such(home):
    """litellm reports a refused connection as a 500; the run says what happened."""
    import socket

    with socket.socket() as s:  # a loopback port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    catalog = local_catalog(home, f"http://127.0.0.1:{port}/v1")
    plan = hetflow.compile(TWO % "", catalog=str(catalog))

    result = run_sync(plan, {"q": "x"}, settings=Settings(backoff_s=0.01, retries=1), cache=False)

    assert not result.ok
    assert "cannot reach the endpoint (connection refused)" in result.failed["a"]
    assert "InternalServerError" not in result.failed["a"]
