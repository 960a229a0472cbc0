"""The budget: the run never spends past it, even with many calls in flight.

Before each call the worst case is reserved: its input tokens (an upper bound) and the
``max_tokens`` it may write, priced with the assignment's own prices (the plan's, not
litellm's cost table).  When the worst case does not fit what is left, ``max_tokens``
is lowered until it does — down to a floor below which an answer would be useless.
If it still does not fit and other calls are in flight, the call waits for them to
settle (they usually cost less than they reserved); if nothing is in flight, the budget
is exhausted and the run stops cleanly.  A settled call is charged what its usage
costs — the provider's report when it is plausible, else what the text shows (see
:func:`charged_usage`), never less than zero.  A provider that honours ``max_tokens``
never costs more than its reservation; one that does not (or that reports more than it
could have read) can push the spend past the limit: the budget then says by how much
(:attr:`Budget.overrun`) and no new call starts — the run stops and exits non-zero.

>>> b = Budget(0.01)
>>> p = Prices(per_in=1e-6, per_out=2e-6)
>>> r = b.try_reserve(p, input_tokens=1000, want_out=10_000, min_out=16)
>>> r.max_tokens, b.reserved
(4500, 0.01)
>>> _ = b.settle(r, p.cost(900, 100)); b.spent, b.reserved
(0.0011, 0.0)
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass

from hetflow.plan.model import Assignment
from hetflow.runtime import tokens

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Prices:
    """A call's cost as ``fixed + per_in * input + per_out * output`` dollars."""

    per_in: float = 0.0
    per_out: float = 0.0
    fixed: float = 0.0

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        return self.fixed + self.per_in * input_tokens + self.per_out * output_tokens

    @property
    def free(self) -> bool:
        """Nothing to pay whatever the tokens (a local model): no reservation to size."""
        return self.per_in == 0 and self.per_out == 0 and self.fixed == 0

    @classmethod
    def of(cls, offer: Assignment) -> Prices:
        """Per-token prices, or a self-hosted chip's hourly price shared by its requests.

        A per-hour offer is charged for its predicted time (time to first token +
        prefill + output at the offer's speed), as the catalog prices it: the cost
        grows with the tokens, so the same reservation logic bounds it.
        """
        if offer.per_hour:
            k = offer.per_hour / SECONDS_PER_HOUR / max(offer.concurrency, 1)
            return cls(
                per_in=k / offer.prefill_tps if offer.prefill_tps else 0.0,
                per_out=k / offer.output_tps if offer.output_tps else 0.0,
                fixed=k * offer.ttft_ms / 1000.0,
            )
        return cls(offer.input_per_mtok / 1e6, offer.output_per_mtok / 1e6)


PICO = 10**12  # money is counted in whole picodollars: sums are exact, never drift


def _pico_up(dollars: float) -> int:
    return math.ceil(dollars * PICO - 1e-6)


@dataclass
class Reservation:
    amount: int  # picodollars
    max_tokens: int


# What a reply's usage is charged when the provider's report cannot be believed.
CHARS_PER_TOKEN = 4  # a typical token of text (UTF-8 bytes); only an estimate
USAGE_SLACK = 16  # tokens of leeway around max_tokens and the text's estimate
NO_MAX_OUTPUT = 1_000_000  # without max_tokens, no single reply is believed to be longer


def text_tokens(text: str) -> int:
    """A typical token count of a text (four bytes a token), for usage a provider omits.

    >>> text_tokens(""), text_tokens("hello world!")
    (0, 3)
    """
    # a lone surrogate (valid JSON "\ud800") cannot be encoded: count it as a byte
    return -(-len(text.encode("utf-8", "replace")) // CHARS_PER_TOKEN)


def _believable(reported: object, low: int, high: int) -> bool:
    return (
        isinstance(reported, int)
        and not isinstance(reported, bool)
        and reported > 0
        and low <= reported <= high
    )


def charged_usage(
    reported_in: object,
    reported_out: object,
    *,
    prompt_estimate: int,
    prompt_bound: int,
    reply: str,
    max_tokens: int | None,
) -> tuple[int, int]:
    """The input and output tokens a finished call is charged: never below zero, and
    never simply what a provider claims when the text says otherwise.

    A reported count is believed when it is a positive whole number that the text could
    have produced: input at most ``prompt_bound`` (a token is at least a byte, see
    :func:`hetflow.runtime.tokens.byte_bound`) and at least a tenth of the prompt's
    estimate; output at least a tenth of the reply's estimate and not past both
    ``max_tokens`` and ten times the reply's estimate (a reasoning model writes more
    than its reply shows, within ``max_tokens``; a server that ignores ``max_tokens``
    and says so honestly is believed, and its overrun charged).  Otherwise — missing,
    zero, negative, not a number, or implausible — the call is charged what the text
    shows: ``prompt_estimate`` and :func:`text_tokens` of the reply.

    >>> kw = dict(prompt_estimate=100, prompt_bound=420, reply="x" * 400, max_tokens=50)
    >>> charged_usage(90, 100, **kw)  # honest, past max_tokens: the server ignored it
    (90, 100)
    >>> charged_usage(None, 0, **kw), charged_usage(-5, -7, **kw)
    ((100, 100), (100, 100))
    >>> charged_usage(10**9, 10**9, **kw)
    (100, 100)
    """
    text_out = text_tokens(reply)
    tin = reported_in if _believable(reported_in, prompt_estimate // 10, prompt_bound) else None
    high = 10 * text_out + USAGE_SLACK
    high = max(high, (max_tokens + USAGE_SLACK) if max_tokens else NO_MAX_OUTPUT)
    tout = reported_out if _believable(reported_out, text_out // 10, high) else None
    return (
        int(tin) if tin is not None else max(0, prompt_estimate),  # type: ignore[call-overload]
        int(tout) if tout is not None else text_out,  # type: ignore[call-overload]
    )


class BudgetExhausted(Exception):
    """Nothing more fits in the budget (raised to the scheduler, which stops cleanly)."""


class Budget:
    """Spent and reserved money against an optional limit (``None``: no limit).

    Amounts are kept in whole picodollars (costs rounded up, the limit down), so the
    comparison ``spent <= limit`` is exact however many calls add up.
    """

    def __init__(self, limit: float | None, spent: float = 0.0):
        self.limit = limit
        self._limit: int | None = None
        if limit is not None:
            self._limit = math.floor(limit * PICO)
            if self._limit / PICO > limit:
                self._limit -= 1
        self._spent = _pico_up(spent) if spent and spent > 0 else 0  # never in credit
        self._reserved = 0
        self.calls = 0  # settled paid calls
        self.exhausted = False
        self.halted: str | None = None  # why the run stopped other than by money
        self.refused: str | None = None  # why the call that exhausted it could not start
        self.passed: str | None = None  # what the call that took the spend past it did
        self._in_flight = 0
        self._changed: asyncio.Event | None = None

    @property
    def spent(self) -> float:
        return self._spent / PICO

    @property
    def overrun(self) -> float:
        """How far the spend went past the limit (a provider wrote or read more than it
        was allowed); 0.0 while the cap holds."""
        if self._limit is None or self._spent <= self._limit:
            return 0.0
        return (self._spent - self._limit) / PICO

    @property
    def reserved(self) -> float:
        return self._reserved / PICO

    @property
    def left(self) -> float:
        return math.inf if self._limit is None else self._left(self._limit) / PICO

    def _left(self, limit: int) -> int:
        return limit - self._spent - self._reserved

    def try_reserve(
        self, prices: Prices, *, input_tokens: int, want_out: int | None, min_out: int
    ) -> Reservation | None:
        """Reserve the worst case now, lowering ``max_tokens`` to fit; None if it cannot."""
        if self._limit is None:
            return self._take(0, want_out)
        if self.exhausted:
            return None
        want = want_out if want_out is not None else DEFAULT_MAX_TOKENS
        floor = min(min_out, want)
        left = self._left(self._limit)
        base = _pico_up(prices.cost(input_tokens, 0))
        if base > left:
            return None
        if prices.per_out > 0:
            room = (left - base) / (prices.per_out * PICO)
            out = want if room >= want else math.floor(room)
        else:
            out = want if base <= left else 0
        if out < max(floor, 1):
            return None
        amount = _pico_up(prices.cost(input_tokens, out))
        while amount > left and out > floor:  # rounding at the edge
            out -= 1
            amount = _pico_up(prices.cost(input_tokens, out))
        if amount > left:
            return None
        return self._take(amount, out)

    def _take(self, amount: int, max_tokens: int | None) -> Reservation:
        self._reserved += amount
        self._in_flight += 1
        return Reservation(amount, max_tokens if max_tokens is not None else 0)

    async def reserve(
        self,
        prices: Prices,
        *,
        input_tokens: int,
        want_out: int | None,
        min_out: int,
        why: Callable[[float, float], str] | None = None,
    ) -> Reservation:
        """Like :meth:`try_reserve`, waiting for in-flight calls while they may free room.

        When this call is the one that finds the budget exhausted, ``why(worst, left)``
        — its smallest worst case and what was left, in dollars — says why, kept in
        :attr:`refused` for the run's stop message."""
        while True:
            got = self.try_reserve(
                prices, input_tokens=input_tokens, want_out=want_out, min_out=min_out
            )
            if got is not None:
                return got
            if self._in_flight == 0 or self.exhausted:
                if not self.exhausted and why is not None and self.refused is None:
                    want = want_out if want_out is not None else DEFAULT_MAX_TOKENS
                    smallest = max(min(min_out, want), 1)  # as try_reserve's floor
                    worst = _pico_up(prices.cost(input_tokens, smallest)) / PICO
                    self.refused = why(worst, self.left)
                self.exhausted = True
                raise BudgetExhausted()
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    def settle(self, reservation: Reservation, cost: float) -> float:
        """Charge a finished call what its usage costs (never below zero); returns the
        charge.  A charge that takes the spend past the limit exhausts the budget: no new
        call starts (:attr:`overrun` says by how much)."""
        charge = _pico_up(cost) if cost > 0 else 0
        self._reserved -= reservation.amount
        self._spent += charge
        self.calls += 1
        if self._limit is not None and self._spent > self._limit:
            self.exhausted = True
        self._done()
        return charge / PICO

    def halt(self, why: str) -> None:
        """Start no new call (the journal cannot be written, ...); calls in flight finish."""
        if self.halted is None:
            self.halted = why
        self.exhausted = True
        if self._changed is not None:  # waiters re-check, find it exhausted, and stop
            self._changed.set()
            self._changed = None

    def release(self, reservation: Reservation) -> None:
        """A call that failed before any answer costs nothing; free its reservation."""
        self._reserved -= reservation.amount
        self._done()

    def _done(self) -> None:
        self._in_flight -= 1
        if self._changed is not None:  # wake every waiter; they re-check what is left
            self._changed.set()
            self._changed = None


# Without `with max_tokens=`, a call under a budget may write this much at most.
DEFAULT_MAX_TOKENS = 4096


def min_output(output_tokens_per_call: float, reasoning_tokens: float) -> int:
    """The fewest output tokens a call reserves: the node's answer per call (at least 16)
    after its usual hidden reasoning; below that it does not start."""
    return max(16, int(output_tokens_per_call)) + math.ceil(reasoning_tokens)


def likely_reservation(
    offer: Assignment, input_tokens: float, output_tokens: float, mode: str = "strict"
) -> tuple[float, int, int, str]:
    """Before a run: the least one call of a node will reserve, from the plan's estimate
    of its tokens per call (four bytes a token) — dollars, input tokens, output tokens and
    how the input is counted (:func:`hetflow.runtime.tokens.count`'s words)."""
    text_bytes = input_tokens * tokens.TYPICAL_BYTES_PER_TOKEN
    encoding = tokens.encoding_for(offer.litellm)
    if encoding is not None:
        n = math.ceil(input_tokens * (1 + tokens.MARGIN_RATIO)) + tokens.MARGIN_TOKENS
        how = f"counted exactly ({encoding})"
    elif mode == "typical":
        n = math.ceil(input_tokens * tokens.TYPICAL_FACTOR)
        how = f"{tokens.TYPICAL_BYTES_PER_TOKEN} bytes a token x{tokens.TYPICAL_FACTOR:g}"
    else:
        n = math.ceil(text_bytes)
        how = f"one token a byte: the tokenizer of {offer.litellm} is not known"
    out = min_output(output_tokens, float(getattr(offer, "reasoning_tokens", 0.0) or 0.0))
    return Prices.of(offer).cost(n, out), n, out, how
