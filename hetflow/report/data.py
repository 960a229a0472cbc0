"""What the report shows, as plain data: per-node figures of the plan, of a simulation and
of a traced run, side by side.

A trace is the JSONL file ``hetflow run --trace`` writes, one record per model call
(:mod:`hetflow.runtime.trace`).  A file holding several runs is read for its last run
unless another is asked for.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hetflow.errors import HetError
from hetflow.plan.model import Plan

CPU = "cpu"


@dataclass
class Span:
    """When one node ran on one chip: its first call's start to its last call's end."""

    node: str
    chip: str
    start: float
    end: float
    calls: int = 0
    cost_usd: float = 0.0


@dataclass
class Actual:
    """One node's figures in a traced run."""

    calls: int = 0
    errors: int = 0
    cached: int = 0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    cost_usd: float = 0.0
    start: float | None = None
    end: float | None = None
    chips: set[str] = field(default_factory=set)

    @property
    def latency_s(self) -> float:
        if self.start is None or self.end is None:
            return 0.0
        return self.end - self.start


@dataclass
class Run:
    """A traced run: its id, per-node figures and spans, totals."""

    run: str
    nodes: dict[str, Actual]
    spans: list[Span]
    cost_usd: float
    latency_s: float
    calls: int
    runs_in_file: int


def read_trace(path: str | os.PathLike, plan: Plan, run: str | None = None) -> Run:
    """The last run (or ``run``) of a trace file, per node of the plan."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise HetError(f"{p}: cannot read the trace: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise HetError(f"{p}: is not a trace (not UTF-8 text)") from None
    records: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError:
            raise HetError(f"{p}:{n}: is not a JSON line of a trace") from None
        if not isinstance(r, dict) or not isinstance(r.get("node"), str):
            raise HetError(f"{p}:{n}: a trace record names the node of its call ('node')")
        records.append(r)
    if not records:
        raise HetError(f"{p}: holds no call records")
    order = list(dict.fromkeys(str(r.get("run", "")) for r in records))
    chosen = run if run is not None else order[-1]
    if chosen not in order:
        raise HetError(f"{p}: has no run '{chosen}' (it has: {', '.join(order)})")
    records = [r for r in records if str(r.get("run", "")) == chosen]
    known = {n.id for n in plan.nodes}
    strange = sorted({r["node"] for r in records} - known)
    if strange:
        raise HetError(
            f"{p}: the run calls nodes the plan does not have ({', '.join(strange[:5])}): "
            "is it a trace of another plan?"
        )
    nodes: dict[str, Actual] = defaultdict(Actual)
    by_chip: dict[tuple[str, str], Span] = {}
    for r in records:
        a = nodes[r["node"]]
        start, end = _num(r.get("started")), _num(r.get("ended"))
        if r.get("error"):
            a.errors += 1
        else:
            a.calls += 1
            a.cached += bool(r.get("cached"))
            a.input_tokens += _num(r.get("tokens_in"))
            a.output_tokens += _num(r.get("tokens_out"))
            a.cost_usd += _num(r.get("cost_usd"))
        chip = str(r.get("chip") or CPU)
        a.chips.add(chip)
        a.start = start if a.start is None else min(a.start, start)
        a.end = end if a.end is None else max(a.end, end)
        s = by_chip.get((r["node"], chip))
        if s is None:
            by_chip[(r["node"], chip)] = Span(
                r["node"], chip, start, end, 1, _num(r.get("cost_usd"))
            )
        else:
            s.start, s.end = min(s.start, start), max(s.end, end)
            s.calls += 1
            s.cost_usd += _num(r.get("cost_usd"))
    spans = sorted(by_chip.values(), key=lambda s: (s.start, s.node))
    ends = [s.end for s in spans]
    return Run(
        run=chosen,
        nodes=dict(nodes),
        spans=spans,
        cost_usd=sum(a.cost_usd for a in nodes.values()),
        latency_s=max(ends) - min(s.start for s in spans) if spans else 0.0,
        calls=sum(a.calls for a in nodes.values()),
        runs_in_file=len(order),
    )


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return 0.0
    return float(v)


def planned_spans(plan: Plan) -> list[Span]:
    """The optimizer's own schedule: each node from its start for its estimated time."""
    out = []
    for n in plan.nodes:
        chip = n.assignment.chip if n.assignment is not None else CPU
        start = n.estimate.start_s or 0.0
        took = n.estimate.latency_s or n.estimate.cpu_s or 0.0
        out.append(
            Span(n.id, chip, start, start + took, int(n.estimate.calls), n.estimate.cost_usd)
        )
    return out


def simulated_spans(sim) -> list[Span]:
    """A simulation's node runs (:class:`hetflow.simulate.engine.Simulation`) as spans."""
    cost: dict[str, float] = defaultdict(float)
    for c in sim.calls:
        cost[c.node] += c.cost_usd
    return [
        Span(nid, sim.node_chip.get(nid, CPU), run.start, run.end, run.calls, cost[nid])
        for nid, run in sim.nodes.items()
    ]
