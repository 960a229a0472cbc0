"""Run a plan against the catalog's performance model: a discrete-event simulation.

No model is called and no key is needed.  Every node's calls (``estimate.calls``, each
with ``1/calls`` of the node's estimated tokens) are tasks on the node's offer; an
offer runs at most ``concurrency`` calls at once, shared by every node placed on it;
a call takes the plan's latency law (:mod:`hetflow.perf`: ``ttft + (input / prefill_tps
+ output / output_tps) × s(k)``, with a node's calls slowed as the offer's
``throughput`` table says for its slots filled, and a recursion's turns reading only
their new tokens on a ``prefix_cache`` offer), times a lognormal factor with mean 1
when ``jitter`` is set.  A node may start when its
producers are done, plus both chips' ``handoff_ms`` on an edge that crosses chips.

It is finer than the optimizer's estimate in two ways, so the two may differ:

* ``map`` items flow one by one: a body node's item *i* starts as soon as its
  producer's item *i* is done, where the optimizer counts whole waves of
  ``ceil(calls / concurrency)``;
* offers are shared: two nodes on one offer queue for the same slots.

A node's calls form chains: ``estimate.rounds`` calls one after another (each reads
the last one's answer, like a ``recurse`` root's turns), ``calls / rounds`` chains side
by side.  Without ``rounds`` a ``recurse`` root's calls form one chain per item and any
other node's calls run side by side.  CPU steps (``extract``, ``reduce``, the REPL)
take their estimated ``cpu_s`` (:data:`CPU_STEP_S` per item when the plan has none),
shared evenly among their items, and never queue.

>>> from hetflow.plan.model import Plan
>>> p = Plan(workflow="w", nodes=[{"id": "a", "op": "extract", "step": "a"}], edges=[])
>>> simulate(p).makespan_s == CPU_STEP_S
True
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

from hetflow.errors import HetError
from hetflow.plan.model import Plan
from hetflow.simulate.perfmodel import CPU_CHIP, CPU_STEP_S, SimNode, call_cost, prepare

__all__ = ["CPU_STEP_S", "CallSpan", "ChipUse", "NodeRun", "Simulation", "simulate"]


class NodeRun(NamedTuple):
    """When a node ran: its first call's start, its last call's end, how many calls."""

    start: float
    end: float
    calls: int


@dataclass(frozen=True)
class CallSpan:
    """One simulated call (or CPU step) and where it ran."""

    node: str
    item: int
    offer: str  # "MODEL@CHIP", or "cpu"
    chip: str
    start: float
    end: float
    cost_usd: float


@dataclass(frozen=True)
class ChipUse:
    """How hard a chip worked: busy call-seconds over the slots it offered for the run."""

    chip: str
    calls: int
    busy_s: float  # sum of call durations
    peak_in_flight: int
    slots: int  # concurrency summed over the model offers used on this chip (0: none)
    utilization: float | None  # model calls' busy s / (slots × makespan); None: no slots
    cost_usd: float


@dataclass(frozen=True)
class Simulation:
    """What a simulated run did, beside what the plan predicted."""

    makespan_s: float
    cost_usd: float
    nodes: dict[str, NodeRun]
    chips: dict[str, ChipUse]
    critical_path: list[str]
    estimate_latency_s: float = 0.0
    estimate_cost_usd: float = 0.0
    plan_critical_path: list[str] = field(default_factory=list)
    calls: list[CallSpan] = field(default_factory=list, repr=False)
    placement: dict[str, str] = field(default_factory=dict)  # node → offer ("cpu" for CPU)
    node_chip: dict[str, str] = field(default_factory=dict)  # node → chip
    seed: int | None = None
    jitter: float = 0.0

    def to_dict(self, *, with_calls: bool = False) -> dict:
        """A JSON-ready form (``hetflow simulate --format json``)."""
        out = {
            "makespan_s": self.makespan_s,
            "cost_usd": self.cost_usd,
            "estimate": {
                "latency_s": self.estimate_latency_s,
                "cost_usd": self.estimate_cost_usd,
                "critical_path": self.plan_critical_path,
            },
            "nodes": {
                nid: {
                    **run._asdict(),
                    "offer": self.placement.get(nid, CPU_CHIP),
                    "chip": self.node_chip.get(nid, CPU_CHIP),
                }
                for nid, run in self.nodes.items()
            },
            "chips": {name: asdict(use) for name, use in self.chips.items()},
            "critical_path": self.critical_path,
            "seed": self.seed,
            "jitter": self.jitter,
        }
        if with_calls:
            out["calls"] = [asdict(c) for c in self.calls]
        return out


def simulate(
    plan: Plan,
    *,
    seed: int | None = None,
    jitter: float = 0.0,
    catalog=None,
) -> Simulation:
    """Simulate ``plan``; ``catalog`` (a Catalog) replaces the plan's offer figures.

    ``jitter`` is the sigma of a lognormal factor (mean 1) on every call's duration,
    drawn from ``random.Random(seed)``: the same seed gives the same run.
    """
    if jitter < 0:
        raise ValueError("jitter must be >= 0")
    nodes = {n.id: prepare(plan, n, catalog) for n in plan.nodes}
    return _Engine(plan, nodes, random.Random(seed), jitter).run(seed)


# ---------------------------------------------------------------- the engine


class _Link(NamedTuple):
    """A producer → consumer edge, seen from the producer."""

    consumer: str
    shared: int  # how many enclosing maps the two ends share (outermost first)
    delay_s: float  # handoff on a chip-crossing edge


class _Engine:
    def __init__(self, plan: Plan, nodes: dict[str, SimNode], rng: random.Random, jitter: float):
        self.plan, self.nodes, self.rng, self.jitter = plan, nodes, rng, jitter
        self.order = {nid: i for i, nid in enumerate(nodes)}
        self.links: dict[str, list[_Link]] = {nid: [] for nid in nodes}
        preds: dict[str, set[str]] = {nid: set() for nid in nodes}
        for src, dst in plan.edges:
            if src in nodes and dst in nodes and src != dst and src not in preds[dst]:
                preds[dst].add(src)
                a, b = nodes[src], nodes[dst]
                shared = 0
                for x, y in zip(a.plan.maps, b.plan.maps, strict=False):
                    if x != y:
                        break
                    shared += 1
                delay = a.handoff_s + b.handoff_s if a.chip != b.chip else 0.0
                self.links[src].append(_Link(dst, shared, delay))
        # Per consumer item: producers still running, and when its data is all there.
        self.waiting = {nid: [len(preds[nid])] * n.items for nid, n in nodes.items()}
        self.ready_at = {nid: [0.0] * n.items for nid, n in nodes.items()}
        # the binding producer (node, item) of each consumer item
        self.why: dict[str, list[tuple[str, int] | None]] = {
            nid: [None] * n.items for nid, n in nodes.items()
        }
        self.group_done: dict[tuple[str, int], dict[int, int]] = {}
        self.items_done: dict[str, list[float | None]] = {
            nid: [None] * n.items for nid, n in nodes.items()
        }
        self.chains_left = {nid: list(n.chains_per_item) for nid, n in nodes.items()}
        self.first_start: dict[str, float] = {}
        self.queues: dict[str, deque] = {}
        self.in_flight: dict[str, int] = {}
        self.chip_in_flight: dict[str, int] = {}
        self.chip_peak: dict[str, int] = {}
        self.events: list = []
        self.seq = 0
        self.spans: list[CallSpan] = []

    # -- scheduling helpers
    def push(self, t: float, kind: str, *payload) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, payload))

    def run(self, seed: int | None) -> Simulation:
        for nid, n in self.nodes.items():
            for item in range(n.items):
                if self.waiting[nid][item] == 0:
                    self.push(0.0, "ready", nid, item)
        now = 0.0
        while self.events:
            now, _, kind, payload = heapq.heappop(self.events)
            if kind == "ready":
                self.on_ready(now, *payload)
            else:
                self.on_done(now, *payload)
        stuck = [nid for nid, done in self.items_done.items() if None in done]
        if stuck:
            raise HetError(
                f"plan '{self.plan.workflow}': step(s) {', '.join(stuck)} never become ready;"
                " its edges form a cycle (recompile the .het file)"
            )
        return self.result(seed)

    def on_ready(self, now: float, nid: str, item: int) -> None:
        n = self.nodes[nid]
        if self.chains_left[nid][item] == 0:
            self.finish_item(now, nid, item)
            return
        for _ in range(self.chains_left[nid][item]):
            self.submit(now, nid, item, n.rounds)

    def submit(self, now: float, nid: str, item: int, rounds_left: int) -> None:
        n = self.nodes[nid]
        if n.assignment is None or self.in_flight.get(n.offer, 0) < n.concurrency:
            self.start_call(now, nid, item, rounds_left)
        else:
            self.queues.setdefault(n.offer, deque()).append((nid, item, rounds_left))

    def start_call(self, now: float, nid: str, item: int, rounds_left: int) -> None:
        n = self.nodes[nid]
        seconds = n.call_s
        if self.jitter and n.assignment is not None:
            sigma = self.jitter
            seconds *= self.rng.lognormvariate(-sigma * sigma / 2.0, sigma)
        self.first_start.setdefault(nid, now)
        self.in_flight[n.offer] = self.in_flight.get(n.offer, 0) + 1
        busy = self.chip_in_flight.get(n.chip, 0) + 1
        self.chip_in_flight[n.chip] = busy
        self.chip_peak[n.chip] = max(self.chip_peak.get(n.chip, 0), busy)
        self.spans.append(
            CallSpan(nid, item, n.offer, n.chip, now, now + seconds, call_cost(n, seconds))
        )
        self.push(now + seconds, "done", nid, item, rounds_left)

    def on_done(self, now: float, nid: str, item: int, rounds_left: int) -> None:
        n = self.nodes[nid]
        self.in_flight[n.offer] -= 1
        self.chip_in_flight[n.chip] -= 1
        queue = self.queues.get(n.offer)
        if queue:
            self.start_call(now, *queue.popleft())
        if rounds_left > 1:  # the chain's next call reads this one's answer
            self.submit(now, nid, item, rounds_left - 1)
            return
        self.chains_left[nid][item] -= 1
        if self.chains_left[nid][item] == 0:
            self.finish_item(now, nid, item)

    def finish_item(self, now: float, nid: str, item: int) -> None:
        n = self.nodes[nid]
        self.items_done[nid][item] = now
        complete: dict[int, int | None] = {}  # shared depth → the group it completed
        for shared in {link.shared for link in self.links[nid]}:
            # The consumer's items that share this item's enclosing maps wait for all
            # of the producer's items in the group (one item when nested alike).
            group_size = math.prod(n.radix[shared:])
            group = item // group_size
            done = self.group_done.setdefault((nid, shared), {})
            done[group] = done.get(group, 0) + 1
            complete[shared] = group if done[group] == group_size else None
        for link in self.links[nid]:
            completed = complete[link.shared]
            if completed is None:
                continue
            c = self.nodes[link.consumer]
            span = math.prod(c.radix[link.shared :])
            at = now + link.delay_s
            for c_item in range(completed * span, (completed + 1) * span):
                if (
                    self.why[link.consumer][c_item] is None
                    or at > self.ready_at[link.consumer][c_item]
                ):
                    self.ready_at[link.consumer][c_item] = at
                    self.why[link.consumer][c_item] = (nid, item)
                self.waiting[link.consumer][c_item] -= 1
                if self.waiting[link.consumer][c_item] == 0:
                    self.push(self.ready_at[link.consumer][c_item], "ready", link.consumer, c_item)

    # -- the report
    def result(self, seed: int | None) -> Simulation:
        runs: dict[str, NodeRun] = {}
        for nid, n in self.nodes.items():
            ends = [t for t in self.items_done[nid] if t is not None]
            end = max(ends) if ends else 0.0
            start = self.first_start.get(nid, min(ends) if ends else 0.0)
            calls = sum(n.chains_per_item) * n.rounds
            runs[nid] = NodeRun(start, end, calls)
        makespan = max((r.end for r in runs.values()), default=0.0)
        cost = sum(s.cost_usd for s in self.spans)
        return Simulation(
            makespan_s=makespan,
            cost_usd=cost,
            nodes=runs,
            chips=self.chip_use(makespan),
            critical_path=self.critical_path(runs),
            estimate_latency_s=self.plan.estimate.latency_s,
            estimate_cost_usd=self.plan.estimate.cost_usd,
            plan_critical_path=list(self.plan.estimate.critical_path),
            calls=sorted(self.spans, key=lambda s: (s.start, s.end, self.order[s.node])),
            placement={nid: n.offer for nid, n in self.nodes.items()},
            node_chip={nid: n.chip for nid, n in self.nodes.items()},
            seed=seed,
            jitter=self.jitter,
        )

    def chip_use(self, makespan: float) -> dict[str, ChipUse]:
        """Per chip: its calls, and how busy its model offers' slots were (a code step
        runs on the host's CPU beside a local model, in no slot)."""
        slots: dict[str, dict[str, int]] = {}
        for n in self.nodes.values():
            offers = slots.setdefault(n.chip, {})
            if n.offer != CPU_CHIP:
                offers[n.offer] = n.concurrency
        out = {}
        for chip in slots:
            spans = [s for s in self.spans if s.chip == chip]
            busy = sum(s.end - s.start for s in spans)
            width = sum(slots[chip].values())
            model_busy = sum(s.end - s.start for s in spans if s.offer != CPU_CHIP)
            util = model_busy / (width * makespan) if width and makespan > 0 else None
            out[chip] = ChipUse(
                chip,
                len(spans),
                busy,
                self.chip_peak.get(chip, 0),
                width,
                util,
                sum(s.cost_usd for s in spans),
            )
        return out

    def critical_path(self, runs: dict[str, NodeRun]) -> list[str]:
        """Back from the last item to finish, through the producer each item waited for."""
        if not runs:
            return []
        nid = max(runs, key=lambda k: (runs[k].end, -self.order[k]))
        done = self.items_done[nid]
        item = max(range(len(done)), key=lambda i: done[i] or 0.0)
        path = [nid]
        while True:
            why = self.why[nid][item]
            if why is None:
                break
            nid, item = why
            if nid in path:  # a malformed plan with a cycle: stop rather than loop
                break
            path.append(nid)
        return path[::-1]
