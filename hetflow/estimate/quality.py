"""Measured quality: how well each candidate offer answered a step, as ``hetflow tune``
measured it on real samples, and the file it is kept in (``QUALITY.json``).

The optimizer reads these figures to place a step only on candidates whose measured
score meets the quality target (docs/quality.md). A score is the mean, over samples, of
a per-sample agreement in [0, 1] (:mod:`hetflow.tune.score` says how it is computed); the
interval beside it is Wilson's 95% interval for that mean over ``n`` samples.

>>> lo, hi = wilson(0.9, 20)
>>> round(lo, 3), round(hi, 3)
(0.699, 0.972)
>>> wilson(1.0, 0)
(0.0, 1.0)
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hetflow.errors import HetError

QUALITY_VERSION = 1


def wilson(mean: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval for a mean of ``n`` scores in [0, 1]."""
    if n <= 0:
        return 0.0, 1.0
    p = min(1.0, max(0.0, mean))
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CandidateScore(_Model):
    """One candidate offer of one step, as measured."""

    offer: str  # "MODEL@CHIP"
    model: str
    chip: str
    score: float  # the mean agreement over the samples it answered, in [0, 1]
    n: int  # samples scored
    low: float  # Wilson 95% interval of the mean
    high: float
    escalation_rate: float = 0.0  # fraction of samples it gave up on (schema, UNSURE, error)
    accepted_score: float = 0.0  # the mean score of the answers it did not give up on
    cost_usd: float = 0.0  # mean cost of the step per sample on this offer
    latency_s: float = 0.0  # mean latency of the step per sample on this offer
    pruned: bool = False  # stopped early: clearly worse than the best (successive halving)
    reasoning: int = 0  # the model's reasoning level in the catalog it was measured with


class StepQuality(_Model):
    """Every candidate of one step, and what they were scored against."""

    step: str
    kind: str  # reason | zoom
    typed: bool  # a typed (structured) answer, compared field by field
    tokens_per_call: float = 0.0  # the estimator's input tokens per call
    work: str = "lookup"  # the kind of work the complexity rules read in its prompt
    needs: dict[str, float] = Field(default_factory=dict)  # what the rules derived or gave
    against: str  # "expect", or "reference:MODEL@CHIP"
    candidates: list[CandidateScore] = Field(default_factory=list)

    def of(self, offer: str) -> CandidateScore | None:
        return next((c for c in self.candidates if c.offer == offer), None)


class Quality(_Model):
    """What ``hetflow tune`` writes: per step, per candidate, the measured quality."""

    quality_version: int = QUALITY_VERSION
    workflow: str
    source_sha256: str  # the .het file it was measured on
    catalog: str = ""  # the catalog's name
    samples: int = 0
    text_measure: Literal["token-f1"] = "token-f1"
    spent_usd: float = 0.0
    steps: dict[str, StepQuality] = Field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_quality(path: str | os.PathLike) -> Quality:
    """A QUALITY.json file, or a one-line error naming the file and what is wrong."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HetError(f"{p}: no such quality file (hetflow tune writes one)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise HetError(f"{p}: not a quality file ({exc})") from None
    if not isinstance(data, dict) or "quality_version" not in data:
        raise HetError(f"{p}: not a quality file (no quality_version; hetflow tune writes one)")
    if data["quality_version"] != QUALITY_VERSION:
        raise HetError(
            f"{p}: quality_version {data['quality_version']!r} is not one this hetflow reads "
            f"({QUALITY_VERSION}); run hetflow tune again"
        )
    try:
        return Quality.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise HetError(f"{p}: invalid quality file at '{loc}': {first['msg']}") from None


def check_matches(quality: Quality, workflow: str, source_sha256: str, where: str) -> None:
    """A quality file measured on another workflow, or an older version of this file, is
    refused: its scores say nothing about these steps."""
    if quality.workflow != workflow:
        raise HetError(
            f"{where}: measured on workflow '{quality.workflow}', not '{workflow}'; "
            "tune this workflow"
        )
    if quality.source_sha256 and source_sha256 and quality.source_sha256 != source_sha256:
        raise HetError(
            f"{where}: measured on another version of the .het file (its prompts may "
            "have changed since); run hetflow tune again"
        )


@dataclass(frozen=True)
class Learned:
    """A reasoning level predicted for a step nobody measured, and the evidence."""

    reasoning: int
    evidence: list[tuple[str, int]]  # (tuned step, the lowest level that met the target)

    @property
    def why(self) -> str:
        steps = ", ".join(f"{s} (reasoning {lvl} sufficed)" for s, lvl in self.evidence)
        return f"learned from tuned steps like it: {steps}: reasoning >= {self.reasoning}"


def sufficed(step: StepQuality, target: float) -> int | None:
    """The lowest reasoning level among the step's candidates that met the target."""
    levels = [c.reasoning for c in step.candidates if c.n > 0 and c.score >= target]
    return min(levels) if levels else None


def predict_reasoning(
    tables: list[Quality], *, kind: str, work: str, typed: bool, tokens: float, target: float
) -> Learned | None:
    """The reasoning level a step needs, from tuned steps with the same features.

    A tuned step is alike when it is the same kind of step (reason, zoom), asks for the
    same kind of work (look-up, aggregate, pairwise), is typed the same, and reads
    within 4x as many tokens a call. The prediction is the highest of their lowest
    sufficing levels (the cautious choice); None without such a step.

    >>> q = Quality(workflow="w", source_sha256="", steps={"a": StepQuality(
    ...     step="a", kind="reason", typed=True, tokens_per_call=900, against="expect",
    ...     candidates=[CandidateScore(offer="s@c", model="s", chip="c", score=0.95, n=20,
    ...                                low=0.8, high=1, reasoning=2)])})
    >>> predict_reasoning([q], kind="reason", work="lookup", typed=True, tokens=1200,
    ...                   target=0.9).why
    'learned from tuned steps like it: a (reasoning 2 sufficed): reasoning >= 2'
    """
    evidence = []
    for step in (s for q in tables for s in q.steps.values()):
        if (step.kind, step.work, step.typed) != (kind, work, typed):
            continue
        a, b = sorted((max(step.tokens_per_call, 1.0), max(tokens, 1.0)))
        if b / a > 4:
            continue
        level = sufficed(step, target)
        if level is not None:
            evidence.append((step.step, level))
    if not evidence:
        return None
    return Learned(max(level for _, level in evidence), evidence)
