"""``hetflow simulate PLAN.json|FILE``: run a plan on the catalog's performance model.

No model call, no key: see :mod:`hetflow.simulate.engine` for what is modelled.  Prints a
time line (a text Gantt), makespan and cost beside the plan's estimate, per-chip use
and the critical path observed; ``--format json`` prints the same as one object.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Literal

from hetflow.commands.options import add_plan_options


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a plan on the catalog's speed figures: time line, cost, chip use",
        description="Execute a plan against the catalog's performance model (no model "
        "calls, no keys) and report the time line, cost, makespan and per-chip use. "
        "A .het FILE is compiled first.",
    )
    parser.add_argument(
        "file", metavar="PLAN.json|FILE", help="a plan from hetflow compile, or a .het workflow"
    )
    add_plan_options(parser)
    parser.add_argument(
        "--seed", type=int, default=None, help="seed for --jitter (default: a random one, printed)"
    )
    parser.add_argument(
        "--jitter",
        type=float,
        default=0.0,
        metavar="SIGMA",
        help="lognormal noise on each call's time (sigma, e.g. 0.3)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        metavar="N",
        help="with --jitter: simulate N times and report the spread",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people (default), json for scripts (docs/simulate.md)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hetflow.simulate.engine import simulate

    if args.jitter < 0 or args.runs < 1:
        from hetflow.commands.output import error

        error("--jitter must be >= 0 and --runs >= 1", "hetflow simulate")
        return 2
    if args.runs > 1 and not args.jitter:
        from hetflow.commands.output import error

        error(
            f"--runs {args.runs} needs --jitter SIGMA (e.g. 0.3): without noise every run "
            "is the same",
            "hetflow simulate",
        )
        return 2
    if args.jitter and args.seed is None:
        import random

        args.seed = random.SystemRandom().randrange(2**31)  # reported: a run can be repeated
    plan, catalog = _plan(args)
    sim = simulate(plan, seed=args.seed, jitter=args.jitter, catalog=catalog)
    spread = None
    if args.runs > 1:
        # Each further run draws its own noise: seed + i.
        seeds = [args.seed + i for i in range(1, args.runs)]
        spans = sorted(
            [sim.makespan_s]
            + [
                simulate(plan, seed=s, jitter=args.jitter, catalog=catalog).makespan_s
                for s in seeds
            ]
        )
        spread = {
            "runs": args.runs,
            "min_s": spans[0],
            "p50_s": _pct(spans, 50),
            "p90_s": _pct(spans, 90),
            "max_s": spans[-1],
        }
    if args.format == "json":
        out = {"workflow": plan.workflow, "source": args.file, **sim.to_dict()}
        if spread:
            out["spread"] = spread
        print(json.dumps(out, indent=2))
    else:
        report(plan, sim, args.file, spread)
    return 0


def _pct(sorted_values: list[float], pct: float) -> float:
    import statistics

    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(pct) - 1]


def _plan(args: argparse.Namespace):
    """The plan to simulate and, for a plan file with --catalog, the catalog to use."""
    from hetflow.commands.graph import is_plan_file
    from hetflow.commands.options import check_workflow, compile_options, refuse_for_plan

    if is_plan_file(args.file):
        from hetflow.plan.model import Plan

        refuse_for_plan(args, args.file)
        plan = Plan.load(args.file)
        check_workflow(args, plan, args.file)
        catalog = None
        if args.catalog:
            from hetflow.catalog import load_catalog

            catalog = load_catalog(args.catalog)
        return plan, catalog
    from hetflow.compiler import compile as compile_plan

    return compile_plan(args.file, **compile_options(args)), None


# ---------------------------------------------------------------- the text report

GANTT_WIDTH = 40
_CHIP_STYLES = ("cyan", "magenta", "green", "yellow", "blue", "red")


def report(plan, sim, source: str, spread: dict | None, file=None) -> None:
    """The terminal report: time line with a Gantt bar per node, totals, chips, path."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from hetflow.simulate.perfmodel import CPU_CHIP

    out = file or sys.stdout
    console = Console(file=out, width=None if out.isatty() else 120, highlight=False)
    jitter = f", jitter {sim.jitter:g} (seed {sim.seed})" if sim.jitter else ""
    model_calls = sum(1 for c in sim.calls if c.offer != CPU_CHIP)
    console.print(
        f"simulated {plan.workflow} ({source}){jitter}: {model_calls} model calls, none made"
    )

    chips = sorted(sim.chips)
    style = {
        c: ("dim" if c == "cpu" else _CHIP_STYLES[i % len(_CHIP_STYLES)])
        for i, c in enumerate(chips)
    }
    crit = set(sim.critical_path)
    order = {n.id: i for i, n in enumerate(plan.nodes)}
    timeline = Table(title="time line", title_justify="left", box=None, pad_edge=False)
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("node", "left"),
        ("offer", "left"),
        ("start s", "right"),
        ("end s", "right"),
        ("calls", "right"),
    )
    for col, just in columns:
        timeline.add_column(col, justify=just, no_wrap=True)
    timeline.add_column(f"0 .. {sim.makespan_s:.2f} s", no_wrap=True)
    for nid, r in sorted(sim.nodes.items(), key=lambda kv: (kv[1].start, order[kv[0]])):
        chip = sim.node_chip[nid]
        bar = Text(_bar(r.start, r.end, sim.makespan_s), style=style.get(chip, ""))
        name = f"{nid} *" if nid in crit else nid
        timeline.add_row(
            name, sim.placement[nid], f"{r.start:.3f}", f"{r.end:.3f}", str(r.calls), bar
        )
    console.print(timeline)
    console.print("(* on the critical path observed)")

    console.print(
        f"makespan  {sim.makespan_s:.3f} s   plan estimate "
        f"{sim.estimate_latency_s:.3f} s{_delta(sim.makespan_s, sim.estimate_latency_s)}"
    )
    console.print(
        f"cost      ${sim.cost_usd:.4f}   plan estimate "
        f"${sim.estimate_cost_usd:.4f}{_delta(sim.cost_usd, sim.estimate_cost_usd)}"
    )
    if spread:
        console.print(
            f"makespan over {spread['runs']} runs: min {spread['min_s']:.3f} s, "
            f"p50 {spread['p50_s']:.3f} s, p90 {spread['p90_s']:.3f} s, "
            f"max {spread['max_s']:.3f} s"
        )

    use = Table(title="chips", title_justify="left", box=None, pad_edge=False)
    for col in ("chip", "calls", "busy s", "peak in flight", "slots", "utilization", "cost"):
        use.add_column(col, justify="left" if col == "chip" else "right", no_wrap=True)
    for c in chips:
        u = sim.chips[c]
        use.add_row(
            Text(c, style=style[c]),
            str(u.calls),
            f"{u.busy_s:.3f}",
            str(u.peak_in_flight),
            str(u.slots) if u.slots else "-",
            f"{u.utilization:.0%}" if u.utilization is not None else "-",
            f"${u.cost_usd:.4f}",
        )
    console.print(use)
    console.print("critical path observed: " + (" -> ".join(sim.critical_path) or "-"))
    if sim.plan_critical_path and sim.plan_critical_path != sim.critical_path:
        console.print("critical path planned:  " + " -> ".join(sim.plan_critical_path))


def _bar(start: float, end: float, total: float) -> str:
    if total <= 0:
        return "|"
    left = int(start / total * GANTT_WIDTH)
    right = max(left + 1, round(end / total * GANTT_WIDTH))
    return " " * left + "\u2588" * (right - left)


def _delta(actual: float, planned: float) -> str:
    if planned <= 0:
        return ""
    return f" ({(actual - planned) / planned:+.1%})"
