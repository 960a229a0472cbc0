"""A call's time on an offer: the one latency law the optimizer, the simulator and the
runtime's expectations share (docs/optimizer.md, "The model").

A call takes ``ttft + (prefill_tokens / prefill_tps + output_tokens / output_tps) × s``
seconds, where ``s`` is how much slower each of ``k`` requests in flight on one server
runs than one alone.  ``s`` comes from the offer's ``throughput`` table — output
tokens a second summed over ``k`` requests in flight, as ``hetflow catalog measure``
measures it — so ``s(k) = r(1) / r(k)`` with ``r(k) = throughput[k] / k`` the rate one
request gets; between measured ``k`` the per-request rate is interpolated, past the
table it holds.  A CPU server shares its cores between prefill and decoding alike, so
both slow by ``s``.  An offer without a table scales (a hosted provider): ``s = 1``.

>>> slowdown({1: 55.1, 2: 58.3}, 2)  # two in flight: each at 58.3 / 2 tok/s, not 55.1
1.89
>>> slowdown({1: 50, 2: 90, 4: 120}, 3), slowdown({1: 50, 2: 90}, 8), slowdown(None, 8)
(1.33, 1.11, 1.0)
>>> round(call_seconds(200, 1000, 100, 1000, 100), 3)
2.2
"""

from __future__ import annotations

from collections.abc import Mapping


def slowdown(throughput: Mapping[int, float] | None, in_flight: float) -> float:
    """How many times slower each of ``in_flight`` requests runs than one alone."""
    if not throughput or in_flight <= 1:
        return 1.0
    points = sorted(
        (float(k), float(v) / float(k)) for k, v in throughput.items() if k >= 1 and v > 0
    )
    if not points:
        return 1.0

    def rate(k: float) -> float:  # one request's output tokens a second at k in flight
        if k <= points[0][0]:
            return points[0][1]
        for (k0, r0), (k1, r1) in zip(points, points[1:], strict=False):
            if k <= k1:
                return r0 + (r1 - r0) * (k - k0) / (k1 - k0)
        return points[-1][1]

    return round(max(1.0, rate(1.0) / rate(float(in_flight))), 2)


def call_seconds(
    ttft_ms: float,
    prefill_tps: float,
    output_tps: float,
    prefill_tokens: float,
    output_tokens: float,
    in_flight: float = 1.0,
    throughput: Mapping[int, float] | None = None,
) -> float:
    """Seconds for one call that reads ``prefill_tokens`` (its input, less a prefix the
    server kept) and writes ``output_tokens``, with ``in_flight`` requests on the server."""
    work = prefill_tokens / prefill_tps if prefill_tps > 0 else 0.0
    work += output_tokens / output_tps if output_tps > 0 else 0.0
    return ttft_ms / 1000.0 + work * slowdown(throughput, in_flight)
