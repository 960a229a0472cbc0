"""``hetflow catalog measure``: an offer's speed figures, measured by calling it.

For each offer it can reach (a local offer: its server is started here; a hosted one:
its key is set), it measures

* ``prefill_tps`` and ``ttft_ms`` — the line through the time to the first streamed
  token of a short request (median of 3) and of prompts of ~256, ~512 and ~1,024 tokens
  (a quarter of the window at most): its inverse slope and its intercept (the
  performance model adds ``input / prefill_tps`` to ``ttft_ms``);
* ``output_tps`` — output tokens a second of one streamed request, first token to last;
* ``throughput`` — output tokens a second summed over 1, 2, 4 ... ``concurrency``
  requests in flight together, first token of any to last of all (how the offer
  scales);

and writes the catalog back with these figures, each measured offer's ``source`` saying
when and on what machine.  Every request carries a fresh nonce at its start, so no
figure is a provider's prompt cache talking.
"""

from __future__ import annotations

import asyncio
import datetime
import platform
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from hetflow.errors import HetError

FILLER = (
    "The quarterly report lists revenue, costs, staff, sites, suppliers and risks; "
    "each section has a table, a short note and the name of the person responsible. "
)


@dataclass
class Figures:
    offer: str
    ttft_ms: float = 0.0
    prefill_tps: float = 0.0
    output_tps: float = 0.0
    throughput: dict[int, float] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Target:
    """An offer to measure: its id, litellm string, address and key."""

    offer: Any  # hetflow.catalog.schema.Offer
    api_base: str | None = None
    api_key: str | None = None


def levels(concurrency: int, cap: int = 8) -> list[int]:
    """1, 2, 4, ... up to the offer's concurrency (capped), always ending at it.

    >>> levels(1), levels(4), levels(6), levels(64)
    ([1], [1, 2, 4], [1, 2, 4, 6], [1, 2, 4, 8])
    """
    top = max(1, min(concurrency, cap))
    out, k = [], 1
    while k < top:
        out.append(k)
        k *= 2
    out.append(top)
    return out


def machine() -> str:
    """This machine in a few words, for a measured figure's ``source``."""
    import os

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}"


async def _stream(target: Target, prompt: str, max_tokens: int) -> tuple[float, float, int, int]:
    """One streamed request: (first token s, last token s, input tokens, output tokens)."""
    from hetflow.runtime.llm import NO_KEY, litellm

    lt = litellm()
    kwargs: dict[str, Any] = {
        "model": target.offer.litellm,
        "messages": [{"role": "user", "content": f"[{uuid.uuid4().hex}] {prompt}"}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "num_retries": 0,
    }
    if target.api_base:
        kwargs["api_base"] = target.api_base
        kwargs["api_key"] = target.api_key or NO_KEY
    elif target.api_key:
        kwargs["api_key"] = target.api_key
    start = time.monotonic()
    first = last = None
    tin = tout = 0
    chunks = 0
    response = await lt.acompletion(**kwargs)
    async for chunk in response:
        now = time.monotonic()
        choices = getattr(chunk, "choices", None) or []
        if choices and getattr(choices[0].delta, "content", None):
            chunks += 1
            if first is None:
                first = now
            last = now
        usage = getattr(chunk, "usage", None)
        if usage:
            tin = getattr(usage, "prompt_tokens", 0) or tin
            tout = getattr(usage, "completion_tokens", 0) or tout
    end = time.monotonic()
    first = first if first is not None else end
    last = last if last is not None else end
    return first - start, last - start, tin, tout or chunks


async def measure(target: Target, tick=lambda: None) -> Figures:
    """The offer's figures; ``tick()`` after each request (for a progress bar)."""
    offer = target.offer
    fig = Figures(offer.id)
    # time to first token: short prompts, the median of three
    ttfts, short_in = [], 0
    for _ in range(3):
        t_first, _, tin, tout = await _stream(target, "Say hello.", 4)
        ttfts.append(t_first)
        short_in = tin or short_in
        fig.input_tokens += tin
        fig.output_tokens += tout
        tick()
    short_s = statistics.median(ttfts)
    # prefill: prompts of a few sizes up to a quarter of the window (at most ~1k tokens:
    # the prompts workflows send), one token out each; the time to first token against
    # the tokens read is a line whose slope is 1 / prefill_tps and whose intercept is
    # ttft (the performance model adds input / prefill_tps to ttft_ms, so neither may
    # count the prefill twice).  One long prompt alone measured a 2k-token prefill,
    # slower per token than the short prompts a local model mostly reads.
    window = int(getattr(offer, "n_ctx", None) or getattr(offer, "context", None) or 4096)
    top = max(64, min(PREFILL_TOKENS[-1], window // 4))
    points = [(float(short_in), short_s)] if short_in else []
    for size in sorted({min(top, t) for t in PREFILL_TOKENS}):
        t_first, _, tin, tout = await _stream(target, filler(size), 1)
        fig.input_tokens += tin
        fig.output_tokens += tout
        if tin:
            points.append((float(tin), t_first))
        tick()
    fig.prefill_tps, ttft_s = prefill_line(points, short_s)
    fig.ttft_ms = ttft_s * 1000
    # output speed: one request, first token to last
    ask = "Count from 1 to 300, separated by spaces."
    t_first, t_last, tin, tout = await _stream(target, ask, 128)
    fig.input_tokens += tin
    fig.output_tokens += tout
    fig.output_tps = (tout - 1) / max(t_last - t_first, 1e-3) if tout > 1 else 0.0
    tick()
    # throughput with k requests in flight: their tokens after the first over the time
    # from the first token of any to the last of all (at k = 1, output_tps measured
    # again; the ratios give s(k), how much slower each of k requests runs)
    for k in levels(int(getattr(offer, "concurrency", 1) or 1)):
        done = await asyncio.gather(*(_stream(target, ask, 64) for _ in range(k)))
        window_s = max(d[1] for d in done) - min(d[0] for d in done)
        written = sum(max(0, d[3] - 1) for d in done)
        fig.input_tokens += sum(d[2] for d in done)
        fig.output_tokens += sum(d[3] for d in done)
        fig.throughput[k] = written / window_s if window_s > 0 else 0.0
        tick()
    return fig


PREFILL_TOKENS = (256, 512, 1024)  # the prompt sizes prefill is timed at


def filler(tokens: int) -> str:
    """A prompt of about ``tokens`` tokens (four words are about five tokens)."""
    words = max(16, tokens * 3 // 4)
    return " ".join((FILLER * (words // 20 + 1)).split()[:words]) + "\nReply: ok"


def prefill_line(points: list[tuple[float, float]], short_s: float) -> tuple[float, float]:
    """``(prefill_tps, ttft_s)`` from (input tokens, seconds to first token) points: the
    least-squares line's inverse slope and its intercept (at least 0).  No line (the
    points do not spread, or time falls with size): no prefill figure, ``short_s``.

    >>> prefill_line([(20, 0.3), (276, 1.58), (532, 2.86), (1044, 5.42)], 0.3)
    (200.0, 0.2)
    >>> prefill_line([(20, 0.3)], 0.3)
    (0.0, 0.3)
    """
    if len(points) < 2:
        return 0.0, short_s
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var <= 0:
        return 0.0, short_s
    slope = sum((x - mx) * (y - my) for x, y in points) / var
    if slope <= 0:
        return 0.0, short_s
    return round(1.0 / slope, 6), round(max(0.0, my - slope * mx), 6)


def requests_for(offer: Any) -> int:
    """How many requests :func:`measure` makes of an offer (the progress bar's total)."""
    return 3 + len(PREFILL_TOKENS) + 1 + sum(levels(int(getattr(offer, "concurrency", 1) or 1)))


def source_line(when: datetime.date | None = None) -> str:
    day = (when or datetime.date.today()).isoformat()
    return f"measured by hetflow catalog measure on {day}, {machine()}"


def updated(offer: Any, fig: Figures, source: str) -> dict[str, Any]:
    """The offer's TOML table with the measured figures in place."""
    table = offer_table(offer)
    table["ttft_ms"] = round(fig.ttft_ms, 1)
    if fig.prefill_tps > 0:
        table["prefill_tps"] = round(fig.prefill_tps, 1)
    if fig.output_tps > 0:
        table["output_tps"] = round(fig.output_tps, 1)
    if fig.throughput:
        table["throughput"] = {str(k): round(v, 1) for k, v in fig.throughput.items()}
    table["source"] = source
    return table


def offer_table(offer: Any) -> dict[str, Any]:
    data = offer.model_dump(exclude_none=True)
    if data.get("prices_from") != "catalog":  # prices filled in from litellm or per_hour
        if data.get("prices_from") == "per_hour" or str(data.get("prices_from", "")).startswith(
            "litellm:"
        ):
            data.pop("input_per_mtok", None)
            data.pop("output_per_mtok", None)
    data.pop("prices_from", None)
    return data


def to_toml(catalog: Any, offers: list[dict[str, Any]]) -> str:
    """The catalog as TOML, with ``offers`` as its offer tables."""
    out = ["# written by hetflow catalog measure", "[catalog]", f"name = {_value(catalog.name)}"]
    tables: tuple[tuple[str, dict[str, Any]], ...] = (
        ("chips", catalog.chips),
        ("models", catalog.models),
    )
    for table, entries in tables:
        for name, entry in entries.items():
            out += ["", f"[{table}.{_key(name)}]"]
            for k, v in entry.model_dump(exclude_none=True).items():
                if k != "name":
                    out.append(f"{_key(k)} = {_value(v)}")
    for offer in offers:
        out += ["", "[[offers]]"]
        for k, v in offer.items():
            out.append(f"{_key(k)} = {_value(v)}")
    return "\n".join(out) + "\n"


def _key(name: str) -> str:
    import re

    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _value(name)


def _value(v: Any) -> str:
    import json
    import math

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            raise HetError("a catalog figure is not a finite number")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise HetError(f"cannot write {type(v).__name__} to a catalog")


def measure_catalog(
    catalog: Any, names: list[str], out: str, *, progress: bool = True, say=print
) -> list[Figures]:
    """Measure the named offers (all when none) that can be reached; write ``out``."""
    import asyncio

    from hetflow.optimize.context import to_assignment
    from hetflow.runtime import keys
    from hetflow.runtime.local.server import LocalServers

    chosen = [catalog.offer(n) for n in names] if names else list(catalog.offers)
    reachable: list[tuple[Any, Any]] = []
    skipped: list[tuple[Any, Any]] = []
    for offer in chosen:
        a = to_assignment(catalog, offer)
        (reachable if keys.usable(a) else skipped).append((offer, a))
    for offer, _ in skipped:
        say(f"{offer.id}: skipped (no key: set {offer.api_key_env or 'its provider key'})")
    if not reachable:
        raise HetError("no offer to measure: none is local or has its key set")
    source = source_line()
    results: list[Figures] = []

    async def go(bar_tick, bar_describe) -> None:
        servers = LocalServers()
        try:
            servers.check([a for _, a in reachable if a.serve == "local"])
            for offer, a in reachable:
                bar_describe(offer.id)
                target = Target(offer, a.api_base, keys_value(a))
                if a.serve == "local":
                    target.api_base = await servers.api_base(a)
                try:
                    results.append(await measure(target, bar_tick))
                except Exception as err:  # one offer failing does not lose the others
                    from hetflow.runtime.llm import describe

                    say(f"{offer.id}: not measured ({describe(err)})")
        finally:
            servers.close()

    total: int = sum((requests_for(o) for o, _ in reachable), 0)
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=True
        ) as bar:
            task = bar.add_task("measuring", total=total)
            asyncio.run(
                go(
                    lambda: bar.advance(task),
                    lambda name: bar.update(task, description=f"measuring {name}"),
                )
            )
    else:
        asyncio.run(go(lambda: None, lambda name: None))
    by_id = {f.offer: f for f in results}
    tables = [
        updated(o, by_id[o.id], source) if o.id in by_id else offer_table(o) for o in catalog.offers
    ]
    text = to_toml(catalog, tables)
    if out == "-":
        import sys

        sys.stdout.write(text)
    else:
        from pathlib import Path

        Path(out).write_text(text, encoding="utf-8")
    return results


def keys_value(a: Any) -> str | None:
    from hetflow.runtime.llm import api_key

    return api_key(a)
