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


@dataclass
class Calibration:
    """Every traced ``recurse`` step, and per trace file the steps it held."""

    steps: dict[str, StepCalibration] = field(default_factory=dict)
    files: dict[str, set[str]] = field(default_factory=dict)  # file -> steps with a root call

    def warnings(self, recurse_steps: list[str], workflow: str) -> list[str]:
        """A trace that holds no call of any of ``recurse_steps`` says so."""
        out = []
        for path, steps in self.files.items():
            if not steps & set(recurse_steps):
                mine = ", ".join(recurse_steps) or "none"
                out.append(
                    f"{path}: holds no call of a recurse step of workflow '{workflow}' "
                    f"(its recurse steps: {mine}); their estimates use the constants"
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
        files[str(path)] = {s for s in (_root_step(r) for r in these if _ok(r)) if s}
        records.extend({**r, "_file": key} for r in these)
    cal = measure(records)
    cal.files = files
    return cal


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
        sums[1] += _number(r.get("tokens_in"))
        sums[2] += max(0.0, _number(r.get("tokens_out")) - _number(reasoning))
        has_reasoning = isinstance(reasoning, (int, float)) and not isinstance(reasoning, bool)
        if has_reasoning and isinstance(r.get("model"), str):
            per_model = thought[m.group("step")][level].setdefault(str(r.get("model")), [0, 0])
            per_model[0] += 1
            per_model[1] += _number(reasoning)
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
                )
        cal.steps[step] = StepCalibration(
            step=step,
            runs=len({run for run, _ in recursions}),
            recursions=len(recursions),
            levels=levels,
        )
    return cal


def _ok(r: dict[str, Any]) -> bool:
    return not r.get("error")


def _root_step(r: dict[str, Any]) -> str | None:
    m = _NODE.match(r["node"])
    return m.group("step") if m and m.group("root") else None


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0
