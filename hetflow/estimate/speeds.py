"""An offer's speeds fitted to what its traced calls took (``--calibrate``).

The catalog's ``ttft_ms``, ``prefill_tps`` and ``output_tps`` were measured once,
somewhere (docs/catalog.md); a trace says what the offer did on this machine, today,
for this workflow.  Every successful, uncached call of an offer gives one equation of
the latency law (:mod:`hetflow.perf`)::

    latency = ttft + s(k) × (read / prefill_tps + written / output_tps)

with ``k`` the offer's calls in flight during the call (time-weighted, from the
records' ``started``/``ended`` in the same run), ``s(k)`` the slowdown the offer's
``throughput`` table gives, ``read`` the input the server had to read (a recursion's
root turn re-sends the turns before it; an offer that keeps the prefix reads only what
is new) and ``written`` the tokens out, hidden reasoning included.  The three unknowns
``ttft``, ``1/prefill_tps`` and ``1/output_tps`` are solved by non-negative least
squares together with one prior equation each — the catalog's figure, weighing as
much as :data:`PRIOR_CALLS` calls — so a handful of calls moves the figures only as far
as they agree, and more runs count more (docs/optimizer.md, "Calibration").

>>> recs = [{"node": "a", "model": "m", "chip": "c", "run": "r", "tokens_in": i,
...          "tokens_out": o, "started": t, "ended": t + 0.2 + i / 500 + o / 50,
...          "latency_s": 0.2 + i / 500 + o / 50, "error": None, "cached": False}
...         for t, (i, o) in enumerate([(100, 10), (2000, 40), (600, 200), (50, 120)] * 5)]
>>> f = fit_offers(recs, {"m@c": _Prior(100.0, 400.0, 60.0, None, False)})["m@c"]
>>> (round(f.ttft_ms), round(f.prefill_tps), round(f.output_tps), f.calls)
(193, 495, 50, 20)
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hetflow.estimate.calibrate import figure, fresh_tokens
from hetflow.perf import slowdown

PRIOR_CALLS = 1.0  # the catalog's figures weigh as much as this many traced calls
_ROOT = re.compile(r"^.+\.root$")


@dataclass(frozen=True)
class _Prior:
    """What the catalog says of an offer (the fit's starting point and its prior)."""

    ttft_ms: float
    prefill_tps: float
    output_tps: float
    throughput: Mapping[int, float] | None
    reuses_prefix: bool


@dataclass(frozen=True)
class OfferFit:
    """An offer's speeds fitted to ``calls`` traced calls in ``runs`` runs."""

    offer: str
    calls: int
    runs: int
    ttft_ms: float
    prefill_tps: float
    output_tps: float

    def source(self) -> str:
        return (
            f"fitted to {self.calls} traced call{'s' * (self.calls != 1)} in {self.runs} "
            f"run{'s' * (self.runs != 1)} (hetflow --calibrate)"
        )


def prior_of(offer: Any) -> _Prior:
    """A catalog offer's figures as the fit's prior."""
    return _Prior(
        float(offer.ttft_ms),
        float(offer.prefill_tps),
        float(offer.output_tps),
        offer.throughput,
        bool(offer.reuses_prefix),
    )


def fit_offers(records: list[dict[str, Any]], priors: Mapping[str, _Prior]) -> dict[str, OfferFit]:
    """Per offer of ``priors`` that the records called: its fitted speeds."""
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("error") or r.get("cached") or not figure(r.get("latency_s")):
            continue
        if not _plausible(r):
            continue
        offer = f"{r.get('model')}@{r.get('chip')}"
        if offer in priors:
            calls[offer].append(r)
    return {
        offer: fit
        for offer, these in calls.items()
        if (fit := _fit(offer, these, priors[offer])) is not None
    }


def _fit(offer: str, calls: list[dict[str, Any]], prior: _Prior) -> OfferFit | None:
    import numpy as np
    from scipy.optimize import nnls

    fresh = _fresh_input(calls) if prior.reuses_prefix else {}
    rows, target = [], []
    for i, r in enumerate(calls):
        s = slowdown(prior.throughput, _in_flight(r, calls))
        read = fresh.get(i, figure(r.get("tokens_in")))
        rows.append([1.0, s * read, s * figure(r.get("tokens_out"))])
        target.append(figure(r.get("latency_s")))
    a = np.array(rows)
    if not len(a):
        return None
    # one equation each for the catalog's figures, in seconds of a typical call
    w = PRIOR_CALLS**0.5
    mean_in, mean_out = max(a[:, 1].mean(), 1.0), max(a[:, 2].mean(), 1.0)
    a = np.vstack([a, [[w, 0, 0], [0, w * mean_in, 0], [0, 0, w * mean_out]]])
    b = np.array(
        target
        + [
            w * prior.ttft_ms / 1000.0,
            w * mean_in / prior.prefill_tps,
            w * mean_out / prior.output_tps,
        ]
    )
    (ttft, per_in, per_out), _ = nnls(a, b)
    if per_in <= 0 or per_out <= 0:
        return None
    return OfferFit(
        offer=offer,
        calls=len(calls),
        runs=len({(r.get("_file", ""), r.get("run")) for r in calls}),
        ttft_ms=round(float(ttft) * 1000.0, 1),
        prefill_tps=round(1.0 / float(per_in), 1),
        output_tps=round(1.0 / float(per_out), 1),
    )


def _plausible(r: dict[str, Any]) -> bool:
    """A call a server could have made: some input, under a billion tokens each way,
    under a day."""
    return (
        figure(r.get("latency_s")) < 86_400
        and 0 < figure(r.get("tokens_in")) < 1e9
        and figure(r.get("tokens_out")) < 1e9
    )


def _in_flight(r: dict[str, Any], calls: list[dict[str, Any]]) -> float:
    """The offer's calls in flight during ``r`` (itself included), time-weighted."""
    start, end = figure(r.get("started")), figure(r.get("ended"))
    if end <= start:
        return 1.0
    run = (r.get("_file", ""), r.get("run"))
    overlap = sum(
        max(0.0, min(end, figure(o.get("ended"))) - max(start, figure(o.get("started"))))
        for o in calls
        if (o.get("_file", ""), o.get("run")) == run
    )
    return max(1.0, overlap / (end - start))


def _fresh_input(calls: list[dict[str, Any]]) -> dict[int, float]:
    """For a recursion's root turns: the input each turn adds to the conversation (the
    server kept the rest), by the call's place in ``calls``."""
    turns: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(calls):
        if _ROOT.match(str(r.get("node", ""))):
            key = (r.get("_file", ""), r.get("run"), r.get("node"), str(r.get("item") or ""))
            turns[key].append(i)
    out: dict[int, float] = {}
    for indices in turns.values():
        out.update(zip(indices, fresh_tokens([calls[i] for i in indices]), strict=True))
    return out
