"""A trace as ``hetflow run --trace`` writes it, made from a jittered simulation of a plan
(for report tests: no model is called)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from hetflow.plan.model import Plan
from hetflow.simulate.engine import simulate


def write_trace(plan: Plan, path: Path, *, seed: int = 7, jitter: float = 0.35) -> Path:
    sim = simulate(plan, seed=seed, jitter=jitter)
    rng = random.Random(seed)
    nodes = {n.id: n for n in plan.nodes}
    with path.open("w", encoding="utf-8") as f:
        for c in sim.calls:
            n = nodes[c.node]
            if n.assignment is None:
                continue  # CPU steps are not model calls: the trace has none
            e = n.estimate
            calls = max(e.calls, 1.0)
            record = {
                "node": c.node,
                "step": n.step,
                "item": str(c.item),
                "model": n.assignment.model,
                "chip": c.chip,
                "litellm": n.assignment.litellm,
                "tokens_in": round(e.input_tokens / calls * rng.uniform(0.8, 1.3)),
                "tokens_out": round(e.output_tokens / calls * rng.uniform(0.5, 1.8)),
                "cost_usd": c.cost_usd * rng.uniform(0.7, 1.6),
                "latency_s": c.end - c.start,
                "started": c.start,
                "ended": c.end,
                "retries": 0,
                "fallback": 0,
                "cached": False,
                "error": None,
                "run": "0badc0de",
            }
            f.write(json.dumps(record) + "\n")
    return path
