"""Quality, cost and latency of three placements of one labelled task, measured for real.

    python bench/bench_quality.py [--catalog local] [--min-quality 0.8] [--samples N]

The task is examples/ticket_label.het on examples/data/ticket_samples.jsonl (generated
by bench/ticket_samples.py). The bench tunes it (a cache of its own, so every call is
paid and timed), then runs every sample under three placements and scores the answers
against the labels:

- all on the strongest candidate by the catalog (the baseline);
- the tuned placement: the cheapest candidate whose measured score meets the target;
- the cascade: with `escalate=true`, priced by the measured escalation rate.

It prints one row per placement: accuracy, cost and latency (sums over the samples), and
what compile predicted for the cost. With the local catalog every offer is free and the
quality differences are those of the local models it holds (docs/quality.md reports
what was measured and says what it does and does not show).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TASK = ROOT / "examples" / "ticket_label.het"
SAMPLES = ROOT / "examples" / "data" / "ticket_samples.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalog", default="local", help="a catalog name or file (default: local)")
    ap.add_argument("--min-quality", type=float, default=0.8)
    ap.add_argument("--samples", type=int, default=0, help="use only the first N samples")
    ap.add_argument(
        "--scripted",
        action="store_true",
        help="instead of --catalog: three scripted models on a local test server (right "
        "every answer it keeps but gives up on 20%%, right 85%%, right 100%%)",
    )
    args = ap.parse_args()
    if args.scripted:
        from tests.support.catalogs import local_catalog
        from tests.support.openai_server import OpenAIServer

        with OpenAIServer() as server:
            for name, right, unsure in (("small", 1, 0.2), ("coder", 0.85, 0), ("big", 1, 0)):
                server.script(name, reply=_scripted(name, right, unsure))
            args.catalog = str(local_catalog(Path(tempfile.mkdtemp()), server.url))
            return _bench(args)
    return _bench(args)


KEYWORDS = {
    "billing": ("charged", "invoice", "billed", "receipt"),
    "bug": ("crash", "error", "freez", "fails"),
    "account": ("password", "email", "account", "log in"),
}


def _scripted(name: str, right: float, unsure: float):
    """A model that labels a ticket right at a known rate (deterministic per ticket)."""
    import re
    import zlib

    def reply(body: dict):
        text = str(body["messages"][-1]["content"])
        ticket = re.search(r"Ticket: (.*)", text).group(1)  # type: ignore[union-attr]
        good = next(
            (c for c, ws in KEYWORDS.items() if any(w in ticket.lower() for w in ws)), "other"
        )
        h = zlib.crc32(f"{name}|{ticket}".encode()) % 1000
        if h < unsure * 1000:
            return "UNSURE"
        return {"category": good if h < right * 1000 else ("bug" if good == "other" else "other")}

    return reply


def _bench(args: argparse.Namespace) -> int:

    tmp = Path(tempfile.mkdtemp(prefix="hetflow-bench-quality-"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")  # journals of this bench only

    import hetflow
    from hetflow.estimate.quality import load_quality
    from hetflow.tune.runner import tune
    from hetflow.tune.score import score

    lines = SAMPLES.read_text().splitlines()
    if args.samples:
        lines = lines[: args.samples]
    samples = tmp / "samples.jsonl"
    samples.write_text("\n".join(lines) + "\n")
    rows = [json.loads(x) for x in lines]
    single = tmp / "ticket_label_single.het"
    single.write_text(TASK.read_text().replace(", escalate=true", ""))
    cascade = tmp / "ticket_label.het"
    cascade.write_text(TASK.read_text())

    t0 = time.perf_counter()
    # a run cache of its own: every call is paid and timed (models stay in the user's cache)
    quality = asyncio.run(
        tune(str(cascade), str(samples), catalog=args.catalog, cache=tmp / "cache")
    )
    tune_s = time.perf_counter() - t0
    qfile = tmp / "quality.json"
    quality.save(qfile)
    print(f"tune: {len(rows)} samples, {tune_s:.1f} s, ${quality.spent_usd:.4f}")
    for c in quality.steps["label"].candidates:
        print(
            f"  {c.offer:<36} score {c.score:.2f} [{c.low:.2f}, {c.high:.2f}] n={c.n}"
            f" gives up {c.escalation_rate:.0%}  ${c.cost_usd:.6f}/sample"
        )
    measured = load_quality(qfile)

    single_q = measured.model_copy(deep=True)
    single_plan_source = hetflow.compile(str(single), catalog=args.catalog)
    single_q.source_sha256 = single_plan_source.source["sha256"]
    single_qfile = tmp / "quality_single.json"
    single_q.save(single_qfile)

    best = max(quality.steps["label"].candidates, key=lambda c: (c.score, c.cost_usd))

    def strongest(inputs):
        plan = hetflow.compile(str(single), catalog=args.catalog, inputs=inputs)
        n = plan.node("label")
        for alt in [n.assignment, *n.alternatives]:
            if alt.offer == best.offer:
                n.assignment, n.alternatives = alt, []
        considered = {c.offer: c.cost_usd for c in n.candidates}
        return plan, considered.get(best.offer, 0.0)

    def placed_by(het: Path, measured: Path):
        def make(inputs):
            plan = hetflow.compile(
                str(het),
                catalog=args.catalog,
                inputs=inputs,
                quality=measured,
                min_quality=args.min_quality,
            )
            return plan, plan.estimate.cost_usd

        return make

    tuned, cascaded = placed_by(single, single_qfile), placed_by(cascade, qfile)

    placements = {"all on the strongest": strongest, "tuned placement": tuned, "cascade": cascaded}
    print(f"scored against: {quality.steps['label'].against}; target {args.min_quality}")
    print(
        f"{'placement':<22} {'offer(s)':<46} {'accuracy':>8} {'cost':>10} {'predicted':>10}"
        f" {'latency':>8}"
    )
    for name, make in placements.items():
        right = cost = latency = predicted = 0.0
        offers = ""
        try:
            make(rows[0]["inputs"])
        except hetflow.DiagnosticError as exc:  # nothing meets the target: say so, go on
            print(f"{name:<22} none: {exc.diagnostics[0].message}")
            continue
        for row in rows:
            plan, est = make(row["inputs"])
            n = plan.node("label")
            offers = n.assignment.offer + (
                f" -> {n.alternatives[0].offer}" if n.quality and n.quality.get("cascade") else ""
            )
            result = hetflow.run_sync(plan, row["inputs"], journal=False, cache=False)
            got = result.outputs.get("label")
            right += score(row["expect"]["label"], got, n.output_schema) if result.ok else 0.0
            cost += result.cost_usd
            latency += result.latency_s
            predicted += est
        print(
            f"{name:<22} {offers:<46} {right / len(rows):>8.2f} ${cost:>9.5f} ${predicted:>9.5f}"
            f" {latency:>7.1f}s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
