"""Recurse estimates calibrated from traces: what real runs of a ``recurse`` step did.

``hetflow run --trace PATH`` writes one JSON line per model call (docs/runtime.md).
This module reads such files and measures, per ``recurse`` step, what the estimator
otherwise takes from constants (``RECURSE_ITERATIONS``, ``SUB_CHUNK_TOKENS``,
``SUB_TURNS``...): calls per recursion at each level and tokens per call.
:mod:`hetflow.estimate.sizes` turns the figures into work for a *new* input, scaling sub-call
fan-out with the new context's size (docs/optimizer.md, "Calibration from traces").

Runs are told apart by the records' ``run`` field (a trace without it is one run per
file); a recursion is one run of the step for one map item.  Failed attempts (``error``
set) are skipped; calls served by the cache or the journal count, since the recursion
made them.

>>> recs = [{"node": "t.root", "step": "t", "item": "", "run": "a", "tokens_in": 3000,
...          "tokens_out": 400, "error": None}] * 3
>>> recs += [{"node": "t.sub", "step": "t", "item": "", "run": "a", "tokens_in": 4200,
...           "tokens_out": 50, "error": None}] * 8
>>> c = measure(recs).steps["t"]
>>> c.recursions, c.runs, c.levels[0].calls, c.levels[1].calls, c.piece(1)
(1, 1, 3.0, 8.0, 4000.0)
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hetflow.errors import HetError
from hetflow.estimate.sizes import SUB_PROMPT_TOKENS

_NODE = re.compile(r"^(?P<step>.+)\.(?:(?P<root>root)|sub(?P<level>\d*))$")


@dataclass(frozen=True)
class Level:
    """One level of a recursion as traced: means over every traced recursion."""

    calls: float  # calls per recursion (mean over recursions; 0 counts for one that made none)
    tokens_in: float  # per call (mean over calls)
    tokens_out: float  # per call (mean over calls): the visible answer, reasoning left out
    # hidden reasoning tokens per call, per model (mean over the calls that reported it)
    reasoning: tuple[tuple[str, float], ...] = ()
    # per call, the input not in the conversation before it (a call re-sends the earlier
    # turns and their answers): what a prefix-caching server reads; None: not a
    # conversation (only the root's calls are one)
    prefill: float | None = None


@dataclass(frozen=True)
class StepCalibration:
    """What the traced runs of one ``recurse`` step did, level by level (0 = the root)."""

    step: str
    runs: int  # traced runs holding a root call of this step
    recursions: int  # traced recursions (a run's step in a map: one per item)
    levels: dict[int, Level]  # only levels with at least one successful call

    def piece(self, level: int) -> float:
        """The piece of context one call of a leaf level read: its mean input tokens
        less the sub-call prompt, but never less than half its input."""
        tokens_in = self.levels[level].tokens_in
        return max(tokens_in - SUB_PROMPT_TOKENS, tokens_in / 2, 1.0)


@dataclass(frozen=True)
class NodeCalibration:
    """What the traced calls of one ``reason`` or ``zoom`` node did.

    ``tokens_in ≈ in_fixed + in_scale × estimate``: the gap between the tokens a model
    reported and what the estimator's rules count for the same request (the trace's
    ``tokens_in_estimate``) is the model's tokenizer and chat template; a new input's
    estimate goes through the same line.  ``attempts`` are calls per instance of the
    node (1 + its retry and fallback rate); ``tokens_out`` the visible answer per call.
    """

    node: str
    runs: int  # traced runs holding a successful call of the node
    calls: int  # successful calls traced (the weight of the figures below)
    instances: int  # (run, item) pairs with a successful call
    attempts: float  # calls made per instance, failed attempts included
    tokens_out: float  # per successful call, reasoning left out
    in_fixed: float = 0.0
    in_scale: float = 1.0
    fitted_in: bool = False  # False: the trace held no tokens_in_estimate
    tokens_in_mean: float = 0.0  # reported per successful call (0: none reported)

    def tokens_in(self, estimate: float) -> float:
        return max(1.0, self.in_fixed + self.in_scale * estimate)


@dataclass
class Calibration:
    """Every traced ``recurse`` step, ``reason``/``zoom`` node, and per trace file the
    steps it held."""

    steps: dict[str, StepCalibration] = field(default_factory=dict)
    nodes: dict[str, NodeCalibration] = field(default_factory=dict)
    # file -> steps it measured (a recursion's by its root call, other nodes by any call)
    files: dict[str, set[str]] = field(default_factory=dict)
    # every record read, for what needs the catalog too (hetflow.estimate.speeds)
    records: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def items_per_parent(self, body: tuple[str, ...] | list[str], depth: int) -> float | None:
        """A map's items per parent item as traced: over the records of the nodes in its
        ``body``, the distinct item paths ``"3"`` / ``"3/1"`` cut to ``depth + 1`` parts
        per distinct path cut to ``depth`` (the map's parents), mean over the runs; None
        when no body node was traced.  Failed and cached calls count: each is an item."""
        nodes = set(body)
        per_run: dict[tuple, tuple[set, set]] = {}
        for r in self.records:
            if r.get("node") not in nodes:
                continue
            path = str(r.get("item") or "").split("/")
            if len(path) <= depth or path[depth] == "":
                continue
            items, parents = per_run.setdefault((r.get("_file", ""), r.get("run")), (set(), set()))
            items.add(tuple(path[: depth + 1]))
            parents.add(tuple(path[:depth]))
        counts = [len(items) / len(parents) for items, parents in per_run.values() if parents]
        return sum(counts) / len(counts) if counts else None

    def runs_of(self, body: tuple[str, ...] | list[str]) -> int:
        """The traced runs holding a record of any node in ``body``."""
        nodes = set(body)
        return len(
            {(r.get("_file", ""), r.get("run")) for r in self.records if r.get("node") in nodes}
        )

    def warnings(self, model_steps: list[str], workflow: str) -> list[str]:
        """A trace that holds no call of any of the workflow's ``model_steps`` says so."""
        out = []
        for path, steps in self.files.items():
            if not steps & set(model_steps):
                mine = ", ".join(model_steps) or "none"
                out.append(
                    f"{path}: holds no call of a model step of workflow '{workflow}' "
                    f"(its model steps: {mine}); their estimates use the constants"
                )
        return out


def read_trace(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of one trace file; blank lines are skipped.

    A missing or unreadable file, or a line that is not a JSON object with a ``node``,
    is a one-line :class:`~hetflow.errors.HetError` naming the file (and the line).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HetError(f"{p}: no such trace file") from None
    except IsADirectoryError:
        raise HetError(f"{p}: is a directory, not a trace file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HetError(
            f"{p}: cannot read the trace: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise HetError(f"{p}:{number}: not JSON (a trace has one JSON record a line)") from None
        if not isinstance(record, dict) or not isinstance(record.get("node"), str):
            raise HetError(f"{p}:{number}: not a trace record (no 'node')")
        for key in ("run", "item"):
            if not isinstance(record.get(key), (str, int, type(None))):
                raise HetError(f"{p}:{number}: '{key}' is not a string in this trace record")
        records.append(record)
    return records


def load(paths: list[str | os.PathLike] | str | os.PathLike) -> Calibration:
    """Read trace files and measure every ``recurse`` step they hold.

    A file named twice is read once.  Records without a ``run`` field are one run per
    file.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    files: dict[str, set[str]] = {}
    for path in paths:
        key = os.path.realpath(path)
        if key in seen:
            continue
        seen.add(key)
        these = read_trace(path)
        files[str(path)] = {s for s in (_measured_step(r) for r in these if _ok(r)) if s}
        records.extend({**r, "_file": key} for r in these)
    cal = measure(records)
    cal.nodes = measure_nodes(records)
    cal.files = files
    cal.records = records
    return cal


SCALE_RANGE = (0.5, 3.0)  # a tokenizer's tokens per four characters, at the extremes
SPREAD = 0.1  # estimates this far apart (relative) are enough to fit a slope


def fit_line(pairs: list[tuple[float, float]]) -> tuple[float, float, bool]:
    """``actual ≈ fixed + scale × estimate`` by least squares; a slope only when the
    estimates spread by ``SPREAD`` or more (else the mean gap, scale 1).

    >>> fit_line([(100, 150), (200, 270), (300, 390)])
    (30.0, 1.2, True)
    >>> fit_line([(100, 140), (100, 160)])
    (50.0, 1.0, True)
    """
    n = len(pairs)
    if not n:
        return 0.0, 1.0, False
    mx = sum(x for x, _ in pairs) / n
    my = sum(y for _, y in pairs) / n
    var = sum((x - mx) ** 2 for x, _ in pairs)
    if mx > 0 and var / n > (SPREAD * mx) ** 2:
        scale = sum((x - mx) * (y - my) for x, y in pairs) / var
        scale = min(max(scale, SCALE_RANGE[0]), SCALE_RANGE[1])
        return round(my - scale * mx, 6), round(scale, 6), True
    return round(my - mx, 6), 1.0, True


def measure_nodes(records: list[dict[str, Any]]) -> dict[str, NodeCalibration]:
    """Per ``reason``/``zoom`` node (any node that is not a recursion's part): its
    calls per instance, answer length and input line (:class:`NodeCalibration`)."""
    made: dict[str, dict[tuple, int]] = defaultdict(lambda: defaultdict(int))
    good: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if _NODE.match(r["node"]) is not None:
            continue  # a recursion's part: measure() reads those
        instance = (r.get("_file", ""), r.get("run"), str(r.get("item") or ""))
        made[r["node"]][instance] += 1
        if _ok(r):
            good[r["node"]].append(r)
    out = {}
    for node, calls in good.items():
        instances = {(r.get("_file", ""), r.get("run"), str(r.get("item") or "")) for r in calls}
        attempts = sum(made[node][i] for i in instances) / len(instances)
        pairs = [
            (figure(r.get("tokens_in_estimate")), figure(r.get("tokens_in")))
            for r in calls
            if figure(r.get("tokens_in_estimate")) > 0 and figure(r.get("tokens_in")) > 0
        ]
        fixed, scale, fitted = fit_line(pairs)
        visible = [
            max(0.0, figure(r.get("tokens_out")) - figure(r.get("reasoning_tokens"))) for r in calls
        ]
        out[node] = NodeCalibration(
            node=node,
            runs=len({(r.get("_file", ""), r.get("run")) for r in calls}),
            calls=len(calls),
            instances=len(instances),
            attempts=attempts,
            tokens_out=sum(visible) / len(visible),
            in_fixed=fixed,
            in_scale=scale,
            fitted_in=fitted,
            tokens_in_mean=_mean([figure(r.get("tokens_in")) for r in calls]),
        )
    return out


def _mean(values: list[float]) -> float:
    """The mean of the figures that are there (a record without one says nothing)."""
    there = [v for v in values if v > 0]
    return sum(there) / len(there) if there else 0.0


def measure(records: list[dict[str, Any]]) -> Calibration:
    """Means per recursion (calls) and per call (tokens) of every traced recurse step."""
    # step -> level -> recursion -> [calls, tokens in, tokens out]
    seen: dict[str, dict[int, dict[tuple, list[float]]]] = defaultdict(lambda: defaultdict(dict))
    # step -> level -> model -> [calls that reported reasoning, reasoning tokens]
    thought: dict[str, dict[int, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(dict))
    for r in records:
        if not _ok(r):
            continue
        m = _NODE.match(r["node"])
        if m is None:
            continue
        level = 0 if m.group("root") else int(m.group("level") or 1)
        run = (r.get("_file", ""), r.get("run"))  # no run field: the whole file is one run
        recursion = (run, str(r.get("item") or ""))
        sums = seen[m.group("step")][level].setdefault(recursion, [0.0, 0.0, 0.0])
        reasoning = r.get("reasoning_tokens")
        sums[0] += 1
        sums[1] += figure(r.get("tokens_in"))
        sums[2] += max(0.0, figure(r.get("tokens_out")) - figure(reasoning))
        has_reasoning = isinstance(reasoning, (int, float)) and not isinstance(reasoning, bool)
        if has_reasoning and isinstance(r.get("model"), str):
            per_model = thought[m.group("step")][level].setdefault(str(r.get("model")), [0, 0])
            per_model[0] += 1
            per_model[1] += figure(reasoning)
    fresh = _fresh_root_tokens(records)
    cal = Calibration()
    for step, by_level in seen.items():
        recursions = set(by_level.get(0, {}))  # a recursion is known by its root's calls
        if not recursions:
            continue
        levels = {}
        for level, per in by_level.items():
            counted = [v for k, v in per.items() if k in recursions]
            calls = sum(v[0] for v in counted)
            if calls:
                models = thought[step].get(level, {})
                levels[level] = Level(
                    calls=calls / len(recursions),
                    tokens_in=sum(v[1] for v in counted) / calls,
                    tokens_out=sum(v[2] for v in counted) / calls,
                    reasoning=tuple((k, t / n) for k, (n, t) in sorted(models.items())),
                    prefill=fresh.get(step) if level == 0 else None,
                )
        cal.steps[step] = StepCalibration(
            step=step,
            runs=len({run for run, _ in recursions}),
            recursions=len(recursions),
            levels=levels,
        )
    return cal


def _fresh_root_tokens(records: list[dict[str, Any]]) -> dict[str, float]:
    """Per recurse step, the mean tokens a root call adds to its conversation
    (:func:`fresh_tokens` over each recursion's root calls)."""
    turns: dict[str, dict[tuple, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        m = _NODE.match(r["node"])
        if m is None or not m.group("root") or not _ok(r):
            continue
        recursion = (r.get("_file", ""), r.get("run"), str(r.get("item") or ""))
        turns[m.group("step")][recursion].append(r)
    out = {}
    for step, per in turns.items():
        added = [t for calls_of in per.values() for t in fresh_tokens(calls_of)]
        if added:
            out[step] = sum(added) / len(added)
    return out


def fresh_tokens(conversation: list[dict[str, Any]]) -> list[float]:
    """The tokens each call of one conversation (one recursion's root turns) adds, in
    the order of the given calls: the first call's whole input, then each call's input
    less the call before it and its visible answer (both re-sent), never below zero.

    >>> fresh_tokens([{"tokens_in": 500, "tokens_out": 90, "started": 0},
    ...               {"tokens_in": 700, "tokens_out": 80, "started": 2}])
    [500.0, 110.0]
    """
    order = sorted(range(len(conversation)), key=lambda i: figure(conversation[i].get("started")))
    out = [0.0] * len(conversation)
    before = 0.0
    for i in order:
        r = conversation[i]
        tokens_in = figure(r.get("tokens_in"))
        out[i] = max(0.0, tokens_in - before)
        answer = figure(r.get("tokens_out")) - figure(r.get("reasoning_tokens"))
        before = tokens_in + max(0.0, answer)  # hidden reasoning is not re-sent
    return out


def _ok(r: dict[str, Any]) -> bool:
    return not r.get("error")


def _measured_step(r: dict[str, Any]) -> str | None:
    """The step a record measures: a recursion's by its root calls, any other node's."""
    m = _NODE.match(r["node"])
    if m is None:
        return str(r["node"])
    return m.group("step") if m.group("root") else None


MAX_FIGURE = 1e15  # above any token count, duration or epoch timestamp a trace holds


def figure(v: Any) -> float:
    """A record's figure: a finite number above 0 and below :data:`MAX_FIGURE`, else 0
    (a trace is read from a file anyone may have written: NaN, -1e308, 1e155 or "12"
    teach nothing — and 1e155 squared overflows a fit)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return 0.0
    v = float(v)
    return v if 0 < v < MAX_FIGURE else 0.0
