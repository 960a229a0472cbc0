"""The call path every model call takes: journal, cache, concurrency, budget, retries,
fallback, trace and hooks — in that order, in one place.

A call is asked of a node's first usable offer.  A transient failure (429, 5xx, a
timeout, a dropped connection) is retried on the same offer with exponential backoff
and full jitter, up to ``with retries=`` times (default 4); a typed reply that fails
validation is retried with the validation error told to the model; when an offer is
used up (or fails for good: a bad request, a missing model), the next alternative of
the plan is tried.  Each attempt first looks in the journal (this run's finished
calls), then the cache (any run's identical call); only then does it take a slot of
the offer's concurrency, reserve its worst case in the budget, and call litellm.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hetflow import perf
from hetflow.estimate.sizes import request_tokens
from hetflow.plan.model import Assignment, Plan, PlanNode
from hetflow.runtime import llm, tokens
from hetflow.runtime.backends import LocalBackend
from hetflow.runtime.budget import (
    DEFAULT_MAX_TOKENS,
    PICO,
    Budget,
    BudgetExhausted,
    Prices,
    charged_usage,
    min_output,
)
from hetflow.runtime.cache import Cache, call_hash
from hetflow.runtime.hooks import Hooks
from hetflow.runtime.journal import Journal, JournalWriteError
from hetflow.runtime.keys import redact
from hetflow.runtime.structured import (
    InvalidOutput,
    feedback,
    instruction,
    response_format,
    wire_schema,
)
from hetflow.runtime.trace import Trace
from hetflow.units import money, money_up

# A reasoning model's output cap leaves room for twice its typical hidden reasoning (the
# plan's figure for its offer), so reasoning cannot starve the answer; the budget
# reserves that room too.
REASONING_HEADROOM = 2.0
PASS_THROUGH = (
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "reasoning_effort",
)


@dataclass
class Settings:
    """How calls are made, beyond what the plan says (tests and benches tune these)."""

    retries: int = 4
    backoff_s: float = 0.5
    backoff_max_s: float = 20.0
    timeout_s: float | None = None  # per call; None: derived from the plan's estimate
    # Without `with timeout=`, a call gives up after its estimated time times this factor,
    # within [timeout_min_s, timeout_max_s] (litellm's own default is 6,000 s).
    timeout_factor: float = 10.0
    timeout_min_s: float = 60.0
    timeout_max_s: float = 600.0
    # A call still waiting after max(slow_after_s, 3x its estimate) is said to be slow.
    slow_after_s: float = 15.0

    def default_timeout(self, expected_s: float, longest_s: float = 0.0) -> float:
        """``factor`` times the expected time, and never less than twice the time to
        write the whole ``max_tokens`` (``longest_s``): a long answer is not cut off and
        paid for again; within [timeout_min_s, timeout_max_s]."""
        want = max(self.timeout_factor * expected_s, 2.0 * longest_s)
        return min(self.timeout_max_s, max(self.timeout_min_s, want))

    llm_extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"mock_response": "hi"}
    # recurse steps: "strict" refuses to run model code where a confinement layer is
    # missing; "weak" runs it anyway, warning per missing layer (docs/recursion.md).
    sandbox: str = "strict"


class NodeFailed(Exception):
    """Every offer of a node failed; the message says how, one line, keys redacted."""


class ReasoningExhausted(Exception):
    """A reply with no visible text because hidden reasoning used up ``max_tokens``.

    Paid for, never retried on the same offer (it would reason as long again): the
    node's next alternative is tried.
    """

    transient = False

    def __init__(self, reasoning: int, cap: int | None):
        limit = f"max_tokens {cap:,}" if cap else "its output limit"
        self.description = (
            f"no answer: hidden reasoning used {reasoning:,} tokens and reached {limit} "
            "before any visible text (raise max_tokens or lower reasoning_effort)"
        )
        super().__init__(self.description)


# A recursion's turn (its root's, an inner level's) without `with max_tokens=` writes at
# most this many tokens.
ROOT_TURN_MAX_TOKENS = 2_048


def writes_turns(node: PlanNode) -> bool:
    """A node whose calls are turns of a REPL conversation: a recursion's root, or an
    inner level (one with a REPL of its own: above the deepest)."""
    if node.op == "recurse.root":
        return True
    return node.op == "recurse.sub" and bool(node.depth) and (node.level or 0) < (node.depth or 0)


def output_cap(requested: int | None, reasoning: float, budgeted: bool) -> int | None:
    """The ``max_tokens`` to ask for: the visible answer's cap plus room for reasoning.

    >>> output_cap(200, 5000, False), output_cap(None, 5000, True), output_cap(None, 0, False)
    (10200, 14096, None)
    """
    room = math.ceil(reasoning * REASONING_HEADROOM)
    if requested is None and not budgeted:
        return None  # no cap: the provider's own
    return (requested if requested is not None else DEFAULT_MAX_TOKENS) + room


def seconds(value: Any) -> float | None:
    """A ``with timeout=`` value: a number of seconds or a duration like ``"30s"``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    for unit, k in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * k
            except ValueError:
                return None
    try:
        return float(text)
    except ValueError:
        return None


def call_seconds(offer: Assignment, node: PlanNode) -> float:
    """How long one call of a node on an offer is expected to take: the plan's model
    (:mod:`hetflow.perf`), with as many in flight as the offer serves at once."""
    e = node.estimate
    read = e.input_tokens_per_call
    if offer.prefix_cache and e.prefill_tokens_per_call is not None:
        read = e.prefill_tokens_per_call
    in_flight = min(max(1.0, e.parallel), float(max(1, offer.concurrency)))
    return perf.call_seconds(
        offer.ttft_ms,
        offer.prefill_tps,
        offer.output_tps,
        read,
        e.output_tokens_per_call,
        in_flight,
        offer.throughput,
    )


def input_bound(messages: list[dict], response_format: dict | None = None) -> int:
    """An upper bound on a request's input tokens: a token is at least one byte."""
    return tokens.byte_bound(messages, response_format)


def _text_tokens(messages: list[dict]) -> int:
    """A typical count (four characters a token) when a provider reports no usage."""
    return max(1, (input_bound(messages) - tokens.REQUEST_OVERHEAD) // 4)


class Caller:
    """Makes a run's model calls; one per run, shared by every node."""

    def __init__(
        self,
        plan: Plan,
        offers: dict[str, list[Assignment]],
        *,
        budget: Budget,
        journal: Journal | None,
        cache: Cache | None,
        trace: Trace,
        hooks: Hooks,
        settings: Settings,
        secrets: list[str],
        t0: float,
        backend: Any = None,
        input_bound: str = "strict",
    ):
        self.plan, self.offers, self.budget = plan, offers, budget
        # How an offer whose tokenizer is unknown reserves its input: "strict" one token
        # a byte (a bound), "typical" four bytes a token x1.5 (the user's accepted risk).
        self.input_bound = input_bound
        self.journal, self.cache, self.trace, self.hooks = journal, cache, trace, hooks
        self.settings, self.secrets, self.t0 = settings, secrets, t0
        self.backend = backend or LocalBackend()  # where the call itself runs
        self._slots: dict[str, asyncio.Semaphore] = {}
        # What does not change from one call of a node (or offer) to the next, worked
        # out on its first call: a 1,000-node run asks the same questions 1,000 times.
        self._nodes: dict[str, _NodeCall] = {}
        self._offers: dict[int, tuple[Assignment, asyncio.Semaphore, Prices]] = {}
        self._keyed = journal is not None or cache is not None  # who reads a call's hash
        # Identical calls of one run share an answer only at temperature 0; sampled ones
        # (self-consistency, votes) are told apart by their place among the identical.
        self._repeats: dict[str, int] = {}  # a sampled call's key -> answers given so far
        self._inflight: dict[str, asyncio.Future] = {}  # a temperature-0 call being made
        self.say: Callable[[str], None] | None = None  # where "a call is slow" is told
        self._call_start = hooks.has("on_call_start")
        self._call_end = hooks.has("on_call_end")

    def slot(self, offer: Assignment) -> asyncio.Semaphore:
        key = offer.offer or f"{offer.model}@{offer.chip}|{offer.litellm}"
        if key not in self._slots:
            self._slots[key] = asyncio.Semaphore(max(1, int(offer.concurrency or 1)))
        return self._slots[key]

    def _offer(self, offer: Assignment) -> tuple[Assignment, asyncio.Semaphore, Prices]:
        """An offer's slot and prices (kept with the offer, so its id is never reused)."""
        got = self._offers.get(id(offer))
        if got is None or got[0] is not offer:
            got = self._offers[id(offer)] = (offer, self.slot(offer), Prices.of(offer))
        return got

    def _node(self, node: PlanNode) -> _NodeCall:
        if not node.options and not writes_turns(node):
            return _NO_OPTIONS  # most nodes: nothing to work out
        prep = self._nodes.get(node.id)
        if prep is None or prep.node is not node:
            prep = self._nodes[node.id] = _NodeCall(node)
        return prep

    async def ask(
        self,
        node: PlanNode,
        item: str,
        messages: list[dict],
        *,
        schema: dict | None = None,
        parse: Callable[[str, dict, bool], Any] | None = None,
    ) -> Any:
        """Ask a node's model; returns the text, or ``parse(text, schema, wrapped)``."""
        offers = self.offers.get(node.id) or []
        if not offers:
            raise NodeFailed("no usable offer")
        opts = node.options or {}
        retries = int(opts.get("retries", self.settings.retries))
        # `with escalate=true`: an answer that fails the schema, or says UNSURE, moves on
        # to the next (stronger) offer at once instead of asking the same model again
        escalate = bool(opts.get("escalate"))
        # `with max_calls=N`: the calls one instance of a step may make, retries and
        # fallbacks included (a recurse counts its sub-calls instead: ops.recurse).
        cap = opts.get("max_calls") if not node.op.startswith("recurse") else None
        made = 0
        failures: list[str] = []
        for offer in offers:
            if offer is node.assignment:
                rank = 0
            else:
                planned = [node.assignment, *node.alternatives]
                rank = next((i for i, o in enumerate(planned) if o is offer), 0)
            msgs, rf, wrapped = list(messages), None, False
            if schema is not None:
                wire, wrapped = wire_schema(schema)
                rf = response_format(llm.structured_mode(offer), wire, node.step)
                msgs = _with_instruction(msgs, instruction(wire))
            attempt, why = 0, None  # why: the reason the attempt before was retried
            while True:
                if cap is not None and made >= int(cap):
                    failures.append(f"max_calls={int(cap)} reached")
                    raise NodeFailed(join_failures(failures))
                made += 1
                try:
                    text = await self._once(node, item, offer, msgs, rf, attempt, rank, why)
                except BudgetExhausted:
                    raise
                except Exception as exc:
                    if _transient(exc) and attempt < retries:
                        attempt += 1
                        wait = self._delay(attempt, exc)
                        why = f"{self._describe(exc)}; waited {wait:.2f}s"
                        await asyncio.sleep(wait)
                        continue
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    failures.append(f"{_name(offer)}: {self._describe(exc)}{tries}")
                    break
                try:
                    if escalate and is_unsure(text):
                        raise InvalidOutput("the model said it is unsure")
                    return text if parse is None or schema is None else parse(text, schema, wrapped)
                except InvalidOutput as bad:
                    if isinstance(text, Cut):  # the JSON was cut off, not malformed
                        bad = InvalidOutput(f"{bad}; {CUT_OFF}")
                    if escalate:
                        failures.append(f"{_name(offer)}: escalated ({self._redact(str(bad))})")
                        break
                    if attempt < retries:
                        attempt += 1
                        why = f"invalid output ({self._redact(str(bad))})"
                        msgs = msgs + [
                            {"role": "assistant", "content": text},
                            {"role": "user", "content": feedback(bad, isinstance(text, Cut))},
                        ]
                        continue
                    failures.append(
                        f"{_name(offer)}: invalid output after {attempt + 1} "
                        f"attempts ({self._redact(str(bad))})"
                    )
                    break
        raise NodeFailed(join_failures(failures))

    def _delay(self, attempt: int, exc: BaseException) -> float:
        """The backoff, or the provider's ``Retry-After`` if it asks for longer (capped)."""
        delay = self._backoff(attempt)
        asked = llm.retry_after(exc) or 0.0
        return min(max(delay, asked), self.settings.backoff_max_s)

    def _backoff(self, attempt: int) -> float:
        cap = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** (attempt - 1))
        return random.uniform(cap / 2, cap)  # "equal jitter": never hammer right back

    def _redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def _describe(self, exc: BaseException) -> str:
        remote = getattr(exc, "description", None)  # a backend's error, already worded
        return self._redact(remote if isinstance(remote, str) else llm.describe(exc))

    async def _once(
        self,
        node: PlanNode,
        item: str,
        offer: Assignment,
        msgs: list[dict],
        rf: dict | None,
        attempt: int,
        rank: int,
        why: str | None = None,
    ) -> str:
        prep = self._node(node)
        key, leader = None, None
        if self._keyed:  # the hash is the journal's and the cache's key, no one else's
            key = call_hash(
                offer.litellm, offer.api_base, msgs, {**prep.params, "response_format": rf}
            )
            sampled = prep.temperature != 0
            if sampled and item:  # each map item samples its own answers: a resumed
                key = f"{key}@{item}"  # item never takes a finished item's
            base_key, key = key, self._nth(key, sampled)
            found = self.journal.call(key) if self.journal else None
            source = "journal"
            if found is None and self.cache is not None:
                hit = self.cache.get(key)
                if hit is not None:
                    found, source = (*hit, 0.0), "cache"
                    if self.journal:
                        self._journal_call(key, hit[0], hit[1], hit[2], 0.0)
            if found is not None:
                if sampled:
                    self._repeats[base_key] = self._repeats.get(base_key, 0) + 1
                return self._served(node, item, offer, (attempt, why), rank, found, source, msgs)
            if not sampled:  # the same call already in flight: wait for its answer
                pending = self._inflight.get(key)
                if pending is not None:
                    shared = await asyncio.shield(pending)
                    if shared is not None:  # (None: it failed; this one tries for itself)
                        return self._served(
                            node, item, offer, (attempt, why), rank, shared, "shared", msgs
                        )
                else:
                    leader = self._inflight[key] = asyncio.get_running_loop().create_future()
        try:
            return await self._paid(
                node, item, offer, msgs, rf, (attempt, why), rank, prep, key, leader
            )
        finally:
            if leader is not None and key is not None:
                del self._inflight[key]
                if not leader.done():
                    leader.set_result(None)

    async def _paid(
        self,
        node: PlanNode,
        item: str,
        offer: Assignment,
        msgs: list[dict],
        rf: dict | None,
        attempt: tuple[int, str | None],
        rank: int,
        prep: _NodeCall,
        key: str | None,
        leader: asyncio.Future | None,
    ) -> str:
        """A call made and paid for: slot, reservation, the backend, settlement, records."""
        thinks = float(getattr(offer, "reasoning_tokens", 0.0) or 0.0)  # typical, per call
        requested = output_cap(prep.requested, thinks, self.budget.limit is not None)
        _, slot, prices = self._offer(offer)
        async with slot:
            bound = input_bound(msgs, rf)  # true for any tokenizer: a report past it is not
            need = self._input(offer, prices, msgs, rf, bound)
            reserve_in = need.tokens if need is not None else bound
            if need is not None and need.exact:  # (a gpt-oss template may pass the bytes)
                bound = max(bound, need.tokens)
            want = requested
            # an answer after the usual reasoning, or no call
            floor = min_output(node.estimate.output_tokens / max(node.estimate.calls, 1), thinks)
            # The reservation as reserve() makes it, without a coroutine when it fits.
            reservation = self.budget.try_reserve(
                prices, input_tokens=reserve_in, want_out=want, min_out=floor
            ) or await self.budget.reserve(
                prices,
                input_tokens=reserve_in,
                want_out=want,
                min_out=floor,
                why=lambda worst, left: self._refusal(node, offer, need, bound, floor, worst, left),
            )
            if self._call_start:
                self.hooks(
                    "on_call_start",
                    node=node.id,
                    step=node.step,
                    item=item,
                    model=offer.model,
                    chip=offer.chip,
                    litellm=offer.litellm,
                )
            timeout = prep.timeout(self.settings.timeout_s)
            expected = call_seconds(offer, node)
            if timeout is None:
                most = reservation.max_tokens or requested
                longest = most / offer.output_tps if most and offer.output_tps else 0.0
                timeout = self.settings.default_timeout(expected, longest)
            watch = self._watch(node, item, offer, expected, timeout)
            started = time.monotonic()
            try:
                reply = await self.backend.complete(
                    offer,
                    msgs,
                    max_tokens=reservation.max_tokens or requested,
                    temperature=prep.temperature,
                    timeout=timeout,
                    response_format=rf,
                    extra={**prep.passthrough, **self.settings.llm_extra},
                )
            except BaseException as exc:
                if watch is not None:
                    watch.cancel()
                self.budget.release(reservation)
                ended = time.monotonic()
                base = self._base(node, item, offer, attempt, rank)
                base["tokens_in"] = None
                base["tokens_out"] = None
                base["reasoning_tokens"] = None
                base["cost_usd"] = 0.0
                base["latency_s"] = ended - started
                base["started"] = started - self.t0
                base["ended"] = ended - self.t0
                base["cached"] = False
                base["error"] = self._describe(exc)
                self._record(base)
                raise
            ended = time.monotonic()
            if watch is not None:
                watch.cancel()
            try:
                tin, tout = charged_usage(
                    reply.input_tokens,
                    reply.output_tokens,
                    prompt_estimate=_text_tokens(msgs),
                    prompt_bound=bound,
                    reply=reply.text,
                    max_tokens=reservation.max_tokens or requested,
                )
            except Exception:
                # a reply nothing can count is charged all it reserved, never left
                # holding the reservation (the run would wait on it for good)
                self.budget.settle(reservation, reservation.amount / PICO)
                raise
            if reply.reasoning_tokens is not None and reply.reasoning_tokens > tout:
                reply.reasoning_tokens = tout  # no more hidden than all it was charged
            cost = self.budget.settle(reservation, prices.cost(tin, tout))
            cap = reservation.max_tokens or requested
            if self.budget.overrun > 0 and self.budget.passed is None:
                self.budget.passed = _passed(node, offer, tin, reserve_in, tout, cap, need)
        if reply.reasoning_tokens and not reply.text.strip():
            if reply.finish_reason == "length" or (cap and tout >= cap):
                exhausted = ReasoningExhausted(reply.reasoning_tokens, cap)
                record = self._paid_record(node, item, offer, attempt, rank, reply, tin, tout, msgs)
                record.update(cost_usd=cost, latency_s=ended - started)
                record.update(started=started - self.t0, ended=ended - self.t0, cached=False)
                record["error"] = self._describe(exhausted)
                self._record(record)
                raise exhausted
        # An endpoint that echoes the request's key must not get it stored or shown.
        text = self._redact(reply.text) if self.secrets else reply.text
        if key is not None:
            if prep.temperature != 0:  # the answer takes the next place among its identical
                base_key = key.partition("#")[0]
                key = self._nth(base_key, True)
                self._repeats[base_key] = self._repeats.get(base_key, 0) + 1
            elif leader is not None:
                leader.set_result((text, tin, tout, 0.0))
            if self.journal:
                self._journal_call(key, text, tin, tout, cost)
            if self.cache is not None:
                self.cache.put(key, text, tin, tout)
        record = self._paid_record(node, item, offer, attempt, rank, reply, tin, tout, msgs)
        record.update(cost_usd=cost, latency_s=ended - started)
        record.update(started=started - self.t0, ended=ended - self.t0, cached=False)
        if hasattr(reply, "ray_node"):
            record["ray_node"] = reply.ray_node
        record["error"] = None
        self._record(record)
        return Cut(text) if cap and (reply.finish_reason == "length" or tout >= cap) else text

    def _input(
        self, offer: Assignment, prices: Prices, msgs: list[dict], rf: dict | None, bound: int
    ) -> tokens.Count | None:
        """The input the budget reserves for a call; None when the byte bound serves (no
        limit to hold, or a free offer: nothing to count)."""
        if self.budget.limit is None or prices.free:
            return None
        return tokens.count(offer.litellm, msgs, rf, mode=self.input_bound, bound=bound)

    def _refusal(
        self,
        node: PlanNode,
        offer: Assignment,
        need: tokens.Count | None,
        bound: int,
        floor: int,
        worst: float,
        left: float,
    ) -> str:
        """Why a call's worst case did not fit, and the fix (one line, no ``; ``)."""
        n = need.tokens if need is not None else bound
        how = need.why if need is not None else "one token a byte"
        said = (
            f"step '{node.step}' on {_name(offer)} needs {money_up(worst)} reserved to start "
            f"(its worst case: up to {n:,} input tokens, {how}, and at least {floor:,} "
            f"output tokens), more than the {money(left)} left"
        )
        if self.budget.calls:
            return said
        said += (
            f" (the plan estimates {money(self.plan.estimate.cost_usd)} for the run):"
            f" give a budget of at least {money_up((self.budget.limit or 0.0) - left + worst)}"
        )
        if need is not None and not need.exact and self.input_bound == "strict":
            said += (
                ", or accept that a call may cost more than it reserved with --input-bound "
                'typical (input_bound="typical"), which reserves such input at '
                f"{tokens.TYPICAL_BYTES_PER_TOKEN} bytes a token x{tokens.TYPICAL_FACTOR:g}"
            )
        return said

    def _paid_record(
        self,
        node: PlanNode,
        item: str,
        offer: Assignment,
        attempt: tuple[int, str | None],
        rank: int,
        reply: Any,
        tin: int,
        tout: int,
        msgs: list[dict],
    ) -> dict:
        """A paid call's trace record up to its tokens (the caller adds cost and times,
        in the documented field order)."""
        record = self._base(node, item, offer, attempt, rank)
        record["tokens_in"] = tin
        record["tokens_in_estimate"] = request_tokens(msgs)
        record["tokens_out"] = tout
        record["reasoning_tokens"] = reply.reasoning_tokens
        return record

    def _journal_call(
        self, key: str, text: str, tin: int | None, tout: int | None, cost: float
    ) -> None:
        """Journal a call's answer; a journal that cannot be written stops new calls (the
        answer, paid for, is still used: it is not the model's failure)."""
        assert self.journal is not None
        try:
            self.journal.call_done(key, text, tin, tout, cost)
        except JournalWriteError as exc:
            self.budget.halt(str(exc))

    def _watch(
        self, node: PlanNode, item: str, offer: Assignment, expected: float, timeout: float
    ) -> asyncio.TimerHandle | None:
        """Say once that a call is slow, if it still runs well past its estimate."""
        say = self.say
        if say is None:
            return None
        after = max(self.settings.slow_after_s, 3.0 * expected)
        if after >= timeout:
            return None
        where = node.id + (f" (item {item})" if item else "")

        def slow() -> None:
            say(
                f"hetflow: {where} on {_name(offer)} has waited {after:g}s for its reply "
                f"(estimated {expected:.1f}s; gives up at {timeout:.0f}s)"
            )

        return asyncio.get_running_loop().call_later(after, slow)

    def _served(
        self,
        node,
        item,
        offer,
        attempt: tuple[int, str | None],
        rank,
        found,
        source: str,
        msgs: list[dict],
    ) -> str:
        """An answer given without a call of its own (journal, cache, or a twin in flight)."""
        if self.secrets:  # stored by an older hetflow, or under a key set since
            found = (self._redact(found[0]), *found[1:])
        now = time.monotonic() - self.t0
        record = self._base(node, item, offer, attempt, rank)
        record["tokens_in"] = found[1]
        record["tokens_in_estimate"] = request_tokens(msgs)
        record["tokens_out"] = found[2]
        record["reasoning_tokens"] = None  # not kept with the answer
        record["cost_usd"] = 0.0
        record["latency_s"] = 0.0
        record["started"] = now
        record["ended"] = now
        record["cached"] = True
        record["source"] = source
        record["error"] = None
        self._record(record)
        return found[0]

    def _nth(self, key: str, sampled: bool) -> str:
        """The journal/cache key of the next answer to a call: at temperature 0 every
        identical call shares one; sampled ones get one each (``KEY``, ``KEY#1``, ...),
        numbered as answers arrive, so a failed attempt takes no number and a resumed run
        finds the answers it already paid for.  A sampled call in a map item is keyed by
        the item too, so the numbering restarts per item, not per run."""
        seen = self._repeats.get(key, 0) if sampled else 0
        return f"{key}#{seen}" if seen else key

    @staticmethod
    def _base(
        node: PlanNode, item: str, offer: Assignment, attempt: tuple[int, str | None], rank: int
    ) -> dict:
        """A trace record's first fields; the caller adds the rest in the documented order.
        ``attempt`` is the retry's number and why the attempt before it was retried."""
        return {
            "node": node.id,
            "step": node.step,
            "item": item,
            "model": offer.model,
            "chip": offer.chip,
            "litellm": offer.litellm,
            "retries": attempt[0],
            "retry_reason": attempt[1],
            "fallback": rank,
        }

    def _record(self, record: dict) -> None:
        self.trace.add(record)
        if self._call_end:
            self.hooks("on_call_end", **record)


class _NodeCall:
    """A node's call settings as its options give them, the same for each of its calls."""

    __slots__ = ("node", "requested", "passthrough", "params", "temperature", "_t")

    def __init__(self, node: PlanNode | None):
        opts = (node.options if node is not None else None) or {}
        requested = opts.get("max_tokens")
        if requested is None and node is not None and writes_turns(node):
            # A root turn writes a code cell; one that rambles on for thousands of tokens
            # would fill the window its next turns re-send (seen: a 6,144-token reply).
            requested = ROOT_TURN_MAX_TOKENS
        self.node = node
        self.requested = int(requested) if requested is not None else None
        self.passthrough = {k: opts[k] for k in PASS_THROUGH if k in opts}
        params: dict[str, Any] = dict(self.passthrough)
        if "temperature" in opts:
            params["temperature"] = opts["temperature"]
        params["max_tokens"] = self.requested
        self.params = params  # what the call's hash covers, but its response format
        self.temperature = params.get("temperature")
        self._t: tuple[float | None] | None = None if opts else (None,)

    def timeout(self, default: float | None) -> float | None:
        if self._t is None:  # worked out where the call needs it, as it always was
            opts = self.node.options if self.node is not None else None
            self._t = (seconds((opts or {}).get("timeout")),)
        return self._t[0] or default


_NO_OPTIONS = _NodeCall(None)  # the settings of every node without options


def _transient(exc: BaseException) -> bool:
    """Worth retrying: a backend's error says so itself; litellm's are classified."""
    said = getattr(exc, "transient", None)
    return said if isinstance(said, bool) else llm.is_transient(exc)


class Cut(str):
    """A reply the model stopped writing because it reached ``max_tokens``."""


CUT_OFF = "the reply reached max_tokens and was cut off: give the step more room (with max_tokens=N) or ask for a shorter answer"


def join_failures(failures: list[str]) -> str:
    """Each offer's failure, in order, one line; offers that failed the same way are
    named together rather than the reason repeated.

    >>> join_failures(["a@x: 400 too long", "b@y: 400 too long", "c@z: timeout"])
    'a@x, b@y: 400 too long; c@z: timeout'
    """
    groups: dict[str, list[str]] = {}
    for f in failures:
        name, sep, why = f.partition(": ")
        if not sep or " " in name:  # not "OFFER: reason" (e.g. "max_calls=3 reached")
            name, why = "", f
        groups.setdefault(why, []).append(name)
    return "; ".join(
        (", ".join(n for n in names if n) + ": " if any(names) else "") + why
        for why, names in groups.items()
    )


def is_unsure(text: str) -> bool:
    """The reply a cascading step's model gives when it cannot answer reliably."""
    return text.strip().strip('."').upper() == "UNSURE"


def _passed(
    node: PlanNode,
    offer: Assignment,
    tin: int,
    reserved_in: int,
    tout: int,
    cap: int | None,
    need: tokens.Count | None,
) -> str:
    """What the call that took the spend past the budget did beyond its reservation."""
    said = []
    if tin > reserved_in:
        how = f" ({need.why})" if need is not None else ""
        said.append(f"read {tin:,} input tokens where {reserved_in:,} were reserved{how}")
    if cap and tout > cap:
        said.append(f"wrote {tout:,} output tokens, past the max_tokens {cap:,} it was sent")
    what = " and ".join(said) or "cost more than it reserved"
    return f"step '{node.step}' on {_name(offer)} {what}"


def _name(offer: Assignment) -> str:
    return offer.offer or f"{offer.model}@{offer.chip}"


def _with_instruction(messages: list[dict], text: str) -> list[dict]:
    """The messages with the output instruction added to the last user message."""
    out = [dict(m) for m in messages]
    for m in reversed(out):
        if m.get("role") == "user":
            content = m["content"]
            if isinstance(content, str):
                m["content"] = content + "\n\n" + text
            else:
                m["content"] = list(content) + [{"type": "text", "text": text}]
            return out
    return out + [{"role": "user", "content": text}]
