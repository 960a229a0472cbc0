"""`hetflow report PLAN.json [--trace RUN.jsonl] [--simulate] -o report.html`: the plan,
a traced run and a simulation as one self-contained HTML page."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write an HTML report of a plan, a traced run and a simulation",
        description="One self-contained HTML file (no network when viewed): the workflow "
        "graph coloured by chip, a time line per chip, cost by step and by chip, predicted "
        "against actual per step, the placement table with alternatives and why, and the "
        "baseline comparison.",
    )
    p.add_argument("plan", metavar="PLAN.json", help="a plan written by hetflow compile")
    p.add_argument("--trace", metavar="RUN.jsonl", help="the trace of a run (hetflow run --trace)")
    p.add_argument("--run", metavar="ID", help="which run of the trace (default: the last)")
    p.add_argument(
        "--simulate", action="store_true", help="simulate the plan and draw its time line"
    )
    p.add_argument("--seed", type=int, default=0, help="the simulation's seed (default 0)")
    p.add_argument(
        "--jitter", type=float, default=0.0, help="the simulation's noise sigma (default 0)"
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=None,
        help="where to write the page (default: PLAN with .html; '-' for standard output)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from hetflow.errors import HetError
    from hetflow.plan.model import Plan
    from hetflow.report.build import build_report

    if args.jitter < 0:
        raise HetError("--jitter must be 0 or more")
    plan = Plan.load(args.plan)
    html = build_report(
        plan,
        trace=args.trace,
        run=args.run,
        simulate=args.simulate,
        seed=args.seed,
        jitter=args.jitter,
    )
    if args.output == "-":
        sys.stdout.write(html)
        return 0
    out = Path(args.output) if args.output else _default(Path(args.plan))
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise HetError(f"{out}: cannot write the report: {exc.strerror or exc}") from None
    print(f"report written to {out} ({len(html.encode()) / 1024:.0f} KiB)", file=sys.stderr)
    return 0


def _default(plan):
    name = plan.name
    stem = name[: -len(".plan.json")] if name.endswith(".plan.json") else plan.stem
    return plan.with_name(stem + ".report.html")
