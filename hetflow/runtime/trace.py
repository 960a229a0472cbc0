"""The trace: one record per model call, and the run's predicted-vs-actual summary.

Each call record holds ``node``, ``step``, ``item`` (the map item's place, ``""``
outside maps), ``model``, ``chip``, ``litellm``, ``tokens_in``, ``tokens_out`` (all
the output billed, hidden reasoning included), ``reasoning_tokens`` (the hidden part, as
the provider reported it; None when it did not or the answer was not a call's own),
``cost_usd``, ``latency_s``, ``started``/``ended`` (seconds since the run began),
``retries``, ``fallback`` (0: the planned offer, k: the k-th alternative), ``cached``
(served by the call cache, the journal or an identical call in flight: nothing paid;
``source`` says which), ``error`` and ``run`` (a
short random id, the same for every record of one run, so that runs appended to one
trace file can be told apart; :mod:`hetflow.estimate.calibrate` counts per run).  With a trace
path each record is appended as a JSON line the moment the call ends, so a killed run
leaves its trace behind too.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import defaultdict
from pathlib import Path
from typing import Any

from hetflow.plan.model import Plan
from hetflow.units import exact_duration

OFF_BY = 0.25  # the summary lists steps whose actual differs from the estimate by more


def new_run_id() -> str:
    """A short random id for one run's trace records (8 hex digits)."""
    return secrets.token_hex(4)


class Trace:
    def __init__(self, path: str | os.PathLike | None = None, run: str | None = None):
        self.records: list[dict[str, Any]] = []
        self.run = run or new_run_id()
        self._file = None
        if path is not None:
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            self._file = p.open("a", encoding="utf-8")

    def add(self, record: dict[str, Any]) -> None:
        record.setdefault("run", self.run)
        self.records.append(record)
        if self._file is not None:
            self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _pct(actual: float, predicted: float) -> str:
    if predicted <= 0:
        return "n/a" if actual <= 0 else "new"
    return f"{(actual - predicted) / predicted * 100:+.0f}%"


def _off(actual: float, predicted: float) -> bool:
    if predicted <= 0:
        return actual > 0
    return abs(actual - predicted) / predicted > OFF_BY


def compare(
    plan: Plan, records: list[dict[str, Any]], latency_s: float, node_times: dict[str, float]
) -> dict[str, Any]:
    """Predicted vs actual, for the run and for each step that differs by over 25%."""
    paid = [r for r in records if not r.get("error")]
    actual = {
        # a failed call costs nothing, but one whose reasoning used every token is paid
        "cost_usd": sum(r.get("cost_usd") or 0.0 for r in records),
        "latency_s": latency_s,
        "calls": len(paid),
        "input_tokens": sum(r["tokens_in"] or 0 for r in paid),
        "output_tokens": sum(r["tokens_out"] or 0 for r in paid),
        "reasoning_tokens": sum(r.get("reasoning_tokens") or 0 for r in paid),
        # answered by the cache, the journal or an identical call: no wait, nothing paid
        "cached_calls": sum(1 for r in paid if r.get("cached")),
    }
    est = plan.estimate
    predicted = {
        "cost_usd": est.cost_usd,
        "latency_s": est.latency_s,
        "calls": est.calls,
        "input_tokens": est.input_tokens,
        # the estimate's output is the visible answer; a call reports it with the reasoning
        "output_tokens": est.output_tokens + est.reasoning_tokens,
        "reasoning_tokens": est.reasoning_tokens,
    }
    per_node: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in paid:
        n = per_node[r["node"]]
        n["cost_usd"] += r["cost_usd"]
        n["calls"] += 1
        n["input_tokens"] += r["tokens_in"] or 0
        n["output_tokens"] += r["tokens_out"] or 0
        n["reasoning_tokens"] += r.get("reasoning_tokens") or 0
        n["cached_calls"] += 1 if r.get("cached") else 0
    steps = []
    for node in plan.nodes:
        if node.assignment is None or node.id not in per_node and node.id not in node_times:
            continue
        got = dict(per_node.get(node.id, {}))
        got["latency_s"] = node_times.get(node.id, 0.0)
        e = node.estimate
        want = {
            "cost_usd": e.cost_usd,
            "latency_s": e.latency_s,
            "calls": e.calls,
            "input_tokens": e.input_tokens,
            "output_tokens": e.output_tokens + e.reasoning_tokens,
            "reasoning_tokens": e.reasoning_tokens,
        }
        if got.get("calls") and got.get("cached_calls") == got.get("calls"):
            del want["cost_usd"], want["latency_s"]  # nothing was paid for or waited on
        differs = {k: (got.get(k, 0.0), want[k]) for k in want if _off(got.get(k, 0.0), want[k])}
        if differs:
            steps.append({"node": node.id, "differs": differs})
    return {
        "predicted": predicted,
        "actual": actual,
        "steps": steps,
        "deadline_s": plan.deadline_s,
    }


def _deadline(took: float, comparison: dict[str, Any], finished: bool = True) -> str:
    """``; deadline 30s met`` or ``; deadline 30s missed by 4.20s`` (a target, not a cap).

    A run that did not finish meets no deadline, however soon it gave up.
    """
    limit = comparison.get("deadline_s")
    if limit is None:
        return ""
    if not finished:
        return f"; deadline {exact_duration(limit)} not met: the run did not finish"
    if took <= limit:
        return f"; deadline {exact_duration(limit)} met"
    return f"; deadline {exact_duration(limit)} missed by {took - limit:.2f}s"


def _time_line(a: dict, p: dict, comparison: dict[str, Any], finished: bool) -> str:
    """The run's time against the estimate; a run whose every call was answered from
    the cache or the journal waited on none, so it is not held against the estimate."""
    if a["calls"] and a.get("cached_calls") == a["calls"]:
        return (
            f"time {a['latency_s']:.2f}s (every call answered from the cache or journal; "
            f"a fresh run is estimated at {p['latency_s']:.2f}s, --no-cache to make one"
            f"{_deadline(a['latency_s'], comparison, finished)})"
        )
    return (
        f"time {a['latency_s']:.2f}s (estimated {p['latency_s']:.2f}s, "
        f"{_pct(a['latency_s'], p['latency_s'])}"
        f"{_deadline(a['latency_s'], comparison, finished)})"
    )


def failures_said(errors: list[str], kinds: int = 2) -> str:
    """Failed attempts counted and their commonest reasons, each once.

    >>> failures_said(["timed out after 30s", "rate limited", "timed out after 30s"])
    '3 failed attempts: timed out after 30s (2), rate limited (1)'
    """
    from collections import Counter

    from hetflow.units import printable

    # a provider's text: its control characters shown escaped, never sent raw
    counted = Counter(printable(" ".join(e.split())[:100]) for e in errors).most_common()
    said = ", ".join(f"{why} ({n})" for why, n in counted[:kinds])
    more = len(counted) - kinds
    rest = f" and {more} other reason{'s' * (more != 1)}" if more > 0 else ""
    return f"{len(errors)} failed attempt{'s' * (len(errors) != 1)}: {said}{rest}"


def summary_text(
    comparison: dict[str, Any],
    *,
    spent_before: float = 0.0,
    finished: bool = True,
    failures: list[str] | None = None,
) -> str:
    """The end-of-run summary printed on standard error.

    ``finished``: False for a failed or stopped run (no deadline is met then);
    ``failures``: the error of each call that got no answer, said beside the calls made.
    """
    a, p = comparison["actual"], comparison["predicted"]
    cached = a.get("cached_calls", 0)
    failed = f"; {failures_said(failures)}" if failures else ""
    all_cached = bool(a["calls"]) and cached == a["calls"]
    lines = [
        (
            f"cost ${a['cost_usd']:.4f} (a fresh run is estimated at ${p['cost_usd']:.4f})"
            if all_cached
            else f"cost ${a['cost_usd']:.4f} (estimated ${p['cost_usd']:.4f}, "
            f"{_pct(a['cost_usd'], p['cost_usd'])})"
        )
        + (f" plus ${spent_before:.4f} before the resume" if spent_before else ""),
        _time_line(a, p, comparison, finished),
        f"{a['calls']} call{'s' * (a['calls'] != 1)}, "
        f"{a['input_tokens']:,} tokens in / {a['output_tokens']:,} out "
        f"(estimated {p['calls']:.0f} calls, {p['input_tokens']:,.0f} / "
        f"{p['output_tokens']:,.0f}){failed}"
        + (f"; {cached} of them from the cache or journal (nothing paid)" if cached else ""),
    ]
    if a.get("reasoning_tokens") or p.get("reasoning_tokens"):
        lines.append(
            f"of which hidden reasoning {a.get('reasoning_tokens', 0):,} tokens out "
            f"(estimated {p.get('reasoning_tokens', 0):,.0f})"
        )
    if comparison["steps"]:
        lines.append(f"steps off the estimate by more than {OFF_BY:.0%}:")
        for s in comparison["steps"]:
            parts = []
            for k, (got, want) in s["differs"].items():
                if k == "cost_usd":
                    parts.append(f"cost ${got:.4f} vs ${want:.4f}")
                elif k == "latency_s":
                    parts.append(f"time {got:.2f}s vs {want:.2f}s")
                else:
                    parts.append(f"{k.replace('_', ' ')} {got:,.0f} vs {want:,.0f}")
            lines.append(f"  {s['node']}: " + ", ".join(parts))
    return "\n".join(lines)
