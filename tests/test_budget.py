"""The budget is never exceeded: a property over random prices, usage and interleavings,
and a real run that stops cleanly when nothing more fits."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.replies import contract, contract_model

import hetflow
from hetflow.runtime import Settings, run_sync
from hetflow.runtime.budget import Budget, BudgetExhausted, Prices

EXAMPLES = Path(__file__).parent.parent / "examples"

prices = st.builds(
    Prices,
    per_in=st.one_of(st.just(0.0), st.floats(1e-12, 1e-4)),
    per_out=st.one_of(st.just(0.0), st.floats(1e-12, 1e-3)),
    fixed=st.one_of(st.just(0.0), st.floats(1e-12, 1e-3)),
)
call = st.tuples(
    prices,
    st.integers(0, 50_000),  # input tokens (the bound)
    st.one_of(st.none(), st.integers(1, 8_000)),  # max_tokens asked for
    st.integers(1, 64),  # the floor
    st.floats(0, 1),  # share of the input bound really used
    st.floats(0, 1),  # share of max_tokens really written
)


@settings(max_examples=300, deadline=None)
@given(
    limit=st.floats(0, 2.0, allow_nan=False),
    calls=st.lists(call, max_size=40),
    order=st.randoms(use_true_random=False),
)
def test_spent_never_exceeds_the_budget(limit, calls, order):
    budget = Budget(limit)
    open_: list = []
    pending = list(calls)
    while pending or open_:
        if pending and (not open_ or order.random() < 0.6):
            p, tokens_in, want, floor, used_in, used_out = pending.pop()
            r = budget.try_reserve(p, input_tokens=tokens_in, want_out=want, min_out=floor)
            if r is not None:
                assert want is None or r.max_tokens <= want
                open_.append((r, p, int(tokens_in * used_in), int(r.max_tokens * used_out)))
        else:
            r, p, tin, tout = open_.pop(order.randrange(len(open_)))
            if order.random() < 0.1:
                budget.release(r)  # a failed call
            else:
                budget.settle(r, p.cost(tin, tout))
        assert budget.spent <= limit
        assert budget.spent + budget.reserved <= limit + 1e-12


@settings(max_examples=60, deadline=None)
@given(
    limit=st.floats(0.0001, 0.05),
    calls=st.lists(call, min_size=1, max_size=30),
    seed=st.integers(0, 1000),
)
def test_concurrent_calls_that_wait_for_room_never_overspend(limit, calls, seed):
    rng = random.Random(seed)

    async def main() -> Budget:
        budget = Budget(limit)

        async def one(c):
            p, tokens_in, want, floor, used_in, used_out = c
            await asyncio.sleep(0)
            try:
                r = await budget.reserve(p, input_tokens=tokens_in, want_out=want, min_out=floor)
            except BudgetExhausted:
                return
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)
            budget.settle(r, p.cost(int(tokens_in * used_in), int(r.max_tokens * used_out)))
            assert budget.spent <= limit

        await asyncio.gather(*(one(c) for c in calls))
        return budget

    budget = asyncio.run(main())
    assert budget.spent <= limit
    assert budget.reserved == 0


@settings(max_examples=300, deadline=None)
@given(
    limit=st.floats(0.0001, 0.05),
    calls=st.lists(call, min_size=1, max_size=30),
    over=st.lists(st.floats(0, 50), min_size=1, max_size=30),
    order=st.randoms(use_true_random=False),
)
def test_usage_past_the_reservation_stops_new_calls_and_says_by_how_much(limit, calls, over, order):
    """Issue 9: a provider that ignores max_tokens (or reports more than reserved, or
    negative usage). The cap then cannot hold for calls already in flight, but the
    overrun is counted exactly, no call is reserved once it happens, and nothing is
    ever charged below zero."""
    budget = Budget(limit)
    open_: list = []
    pending = list(calls)
    settled = 0
    while pending or open_:
        if pending and (not open_ or order.random() < 0.6):
            p, tokens_in, want, floor, _, _ = pending.pop()
            was_over = budget.spent > limit
            r = budget.try_reserve(p, input_tokens=tokens_in, want_out=want, min_out=floor)
            if was_over:
                assert r is None  # nothing starts once the spend passed the cap
            if r is not None:
                open_.append((r, p, tokens_in))
        else:
            r, p, tokens_in = open_.pop(order.randrange(len(open_)))
            factor = over[settled % len(over)]
            sign = -1 if order.random() < 0.1 else 1
            charge = budget.settle(r, sign * p.cost(tokens_in, r.max_tokens * factor))
            settled += 1
            assert charge >= 0
        assert budget.spent >= 0
        assert budget.overrun == pytest.approx(max(0.0, budget.spent - limit), abs=2e-12)
        if budget.overrun:
            assert budget.exhausted


def test_max_tokens_shrinks_to_fit_what_is_left_and_stops_below_the_floor():
    b = Budget(0.001)
    p = Prices(per_in=0.0, per_out=1e-6)
    r = b.try_reserve(p, input_tokens=0, want_out=5000, min_out=100)
    assert r.max_tokens == 1000
    assert b.try_reserve(p, input_tokens=0, want_out=5000, min_out=100) is None
    b.settle(r, p.cost(0, 950))
    assert b.try_reserve(p, input_tokens=0, want_out=5000, min_out=100) is None  # 50 < 100
    assert b.try_reserve(p, input_tokens=0, want_out=5000, min_out=10).max_tokens == 50


def test_a_per_hour_offer_is_charged_for_its_predicted_time():
    from hetflow.plan.model import Assignment

    offer = Assignment(
        model="m",
        chip="h100",
        litellm="x",
        per_hour=3.6,
        concurrency=1,
        output_tps=100,
        prefill_tps=1000,
        ttft_ms=100,
    )
    p = Prices.of(offer)
    # 0.1 s to first token + 1000 / 1000 s prefill + 100 / 100 s output = 2.1 s at $0.001/s
    assert p.cost(1000, 100) == pytest.approx(0.0021)


def test_a_run_stops_cleanly_when_the_budget_is_reached(server, home):
    server.script("coder", reply=contract_model, latency_s=0.01)
    plan = hetflow.compile(
        str(EXAMPLES / "contract_review.het"), catalog=str(local_catalog(home, server.url))
    )

    result = run_sync(
        plan,
        {"contract": contract(40)},
        budget=0.002,
        cache=False,
        settings=Settings(backoff_s=0.01),
    )

    assert result.stopped is not None
    assert result.stopped.startswith("budget $0.002 reached after ")
    assert "not run: " in result.stopped and "summary" in result.stopped
    paid = sum(r["cost_usd"] for r in result.trace)
    assert result.cost_usd == pytest.approx(paid)
    assert paid <= 0.002
    made = len(server.seen())
    assert 3 <= made < 41  # some verdicts ran, not all, and never the summary
    # The charges are the assignment's prices applied to the usage the server reported.
    offer = plan.node("verdict").assignment
    for r in result.trace:
        expected = (
            r["tokens_in"] * offer.input_per_mtok + r["tokens_out"] * offer.output_per_mtok
        ) / 1e6
        assert r["cost_usd"] == pytest.approx(expected, abs=1e-11)
