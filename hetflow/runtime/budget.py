"""The budget: the run never spends past it, even with many calls in flight.

Before each call the worst case is reserved: its input tokens (an upper bound) and the
``max_tokens`` it may write, priced with the assignment's own prices (the plan's, not
litellm's cost table).  When the worst case does not fit what is left, ``max_tokens``
is lowered until it does — down to a floor below which an answer would be useless.
If it still does not fit and other calls are in flight, the call waits for them to
settle (they usually cost less than they reserved); if nothing is in flight, the budget
is exhausted and the run stops cleanly.  A settled call is charged what its reported
usage costs, which never exceeds its reservation because a provider cannot read more
than it was sent nor write more than ``max_tokens``.

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
from dataclasses import dataclass

from hetflow.plan.model import Assignment

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Prices:
    """A call's cost as ``fixed + per_in * input + per_out * output`` dollars."""

    per_in: float = 0.0
    per_out: float = 0.0
    fixed: float = 0.0

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        return self.fixed + self.per_in * input_tokens + self.per_out * output_tokens

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
        self._spent = _pico_up(spent) if spent else 0
        self._reserved = 0
        self.calls = 0  # settled paid calls
        self.exhausted = False
        self._in_flight = 0
        self._changed: asyncio.Event | None = None

    @property
    def spent(self) -> float:
        return self._spent / PICO

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
        self, prices: Prices, *, input_tokens: int, want_out: int | None, min_out: int
    ) -> Reservation:
        """Like :meth:`try_reserve`, waiting for in-flight calls while they may free room."""
        while True:
            got = self.try_reserve(
                prices, input_tokens=input_tokens, want_out=want_out, min_out=min_out
            )
            if got is not None:
                return got
            if self._in_flight == 0 or self.exhausted:
                self.exhausted = True
                raise BudgetExhausted()
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    def settle(self, reservation: Reservation, cost: float) -> float:
        """Charge a finished call what its reported usage costs; returns the charge."""
        charge = _pico_up(cost)
        self._reserved -= reservation.amount
        self._spent += charge
        self.calls += 1
        self._done()
        return charge / PICO

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
