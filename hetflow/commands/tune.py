"""``hetflow tune FILE.het --samples SAMPLES.jsonl``: measure each model step's
candidates on real samples and write QUALITY.json for ``compile --quality``."""

from __future__ import annotations

import argparse
import sys

from hetflow.commands.options import CATALOG_HELP


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tune",
        help="measure each step's candidate models on real samples (QUALITY.json)",
        description="Run every candidate offer of every reason/zoom step on the samples, "
        "score the answers against each sample's expect (or the strongest candidate's "
        "answer), drop clearly worse candidates early, and write the measured quality "
        "for `hetflow compile --quality`. See docs/quality.md.",
    )
    parser.add_argument("source", metavar="FILE.het", help="the workflow to tune")
    parser.add_argument(
        "--samples",
        required=True,
        metavar="SAMPLES.jsonl",
        help='one JSON object a line: {"inputs": {...}, "expect": {...}}',
    )
    parser.add_argument("--catalog", metavar="FILE", help=CATALOG_HELP)
    parser.add_argument("--workflow", metavar="NAME", help="which workflow of the file")
    parser.add_argument(
        "--budget", metavar="DOLLARS", help="stop spending at this amount (e.g. 0.50)"
    )
    parser.add_argument(
        "--reference",
        metavar="MODEL",
        help="score against this model's answers where a sample has no expect "
        "(default: the strongest candidate by the catalog)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="quality.json",
        metavar="QUALITY.json",
        help="where to write the measurements (default: quality.json)",
    )
    parser.add_argument("--no-cache", action="store_true", help="pay for every call again")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from hetflow.compiler import parse_money
    from hetflow.tune.runner import Progress, tune

    budget = parse_money(args.budget) if args.budget is not None else None

    def show(p: Progress, what: str) -> None:
        if sys.stderr.isatty():
            print(
                f"\r\x1b[2Ktune: {p.done}/{p.total} answers, ${p.spent:.4f} — {what}",
                end="",
                file=sys.stderr,
                flush=True,
            )

    quality = asyncio.run(
        tune(
            args.source,
            args.samples,
            catalog=args.catalog,
            workflow=args.workflow,
            budget=budget,
            reference=args.reference,
            cache=not args.no_cache,
            progress=Progress(on_update=show),
        )
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    quality.save(args.output)
    for step in quality.steps.values():
        print(f"{step.step} (against {step.against}):")
        for c in step.candidates:
            pruned = "  pruned" if c.pruned else ""
            print(
                f"  {c.offer:<32} {c.score:5.2f}  [{c.low:.2f}, {c.high:.2f}]  n={c.n:<3}"
                f" ${c.cost_usd:.5f}/sample{pruned}"
            )
    print(f"spent ${quality.spent_usd:.4f}; wrote {args.output}")
    return 0
