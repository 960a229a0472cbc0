"""``hetflow compile FILE``: place every step on a model and a chip, write the plan.

The plan goes to ``-o PLAN.json``; by default next to the source, ``flow.het`` →
``flow.plan.json``; ``-o -`` writes it to standard output (the summary then goes to
standard error).  The summary is a table — step, model, chip, calls, tokens in/out,
cost, latency, totals — and the line comparing the plan with the homogeneous
baseline; a rich table on a terminal, plain columns in a pipe.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hetflow.commands.options import (
    add_plan_options,
    compile_options,
    parse_pairs,
    warn_bare_paths,
)

__all__ = ["add_calibrate", "parse_pairs", "default_output", "print_summary", "summary_json"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compile",
        help="compile a .het workflow into a plan (model + chip per step)",
        description="Compile a .het workflow against a hardware catalog into a plan: "
        "every step placed on a model and a chip, minimizing cost or latency within "
        "the budget and deadline.",
    )
    parser.add_argument("file", metavar="FILE", help="the .het workflow to compile")
    parser.add_argument(
        "-o",
        "--output",
        metavar="PLAN.json",
        help="where to write the plan (default: FILE.plan.json next to "
        "FILE; '-' for standard output)",
    )
    add_plan_options(parser)
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="the summary as a table (text, default) or as JSON for scripts "
        "(docs/plan.md, 'The summary as JSON')",
    )
    parser.set_defaults(func=run)


def add_calibrate(parser) -> None:
    """``--calibrate TRACE.jsonl`` alone (kept for commands that take only it)."""
    parser.add_argument(
        "--calibrate",
        metavar="TRACE.jsonl",
        action="append",
        default=[],
        help="a trace of earlier runs (hetflow run --trace): the steps it traced are "
        "estimated from their calls (tokens, answer lengths, calls, turns) instead of "
        "the rules of thumb (repeatable)",
    )


def default_output(file: str) -> Path:
    p = Path(file)
    return p.with_name(p.stem + ".plan.json")


def run(args: argparse.Namespace) -> int:
    from hetflow.compiler import compile
    from hetflow.runtime.inputs import parse_assignments

    given = parse_assignments(args.input)
    plan = compile(args.file, **compile_options(args, given))
    warn_bare_paths(plan, given)
    summary_to = sys.stdout
    if args.output == "-" and args.format == "json":
        from hetflow.errors import HetError

        raise HetError("-o - and --format json both write to standard output: choose one")
    if args.output == "-":
        sys.stdout.write(plan.to_json() + "\n")
        summary_to = sys.stderr
        where = "standard output"
    else:
        out = Path(args.output) if args.output else default_output(args.file)
        try:
            plan.save(out)
        except OSError as exc:
            from hetflow.errors import HetError

            raise HetError(f"{out}: cannot write the plan: {exc.strerror or exc}") from None
        where = str(out)
    if args.format == "json":
        import json

        print(json.dumps(summary_json(plan, where), indent=2))
    else:
        print_summary(plan, summary_to, where)
    return 0


def summary_json(plan, where: str) -> dict:
    """The summary table as data: one row per node, the totals, the baseline."""
    t, b = plan.estimate, plan.baseline
    return {
        "workflow": plan.workflow,
        "objective": plan.objective,
        "budget_usd": plan.budget_usd,
        "deadline_s": plan.deadline_s,
        "plan": where,
        "steps": [
            {
                "id": n.id,
                "step": n.step,
                "op": n.op,
                "model": n.assignment.model if n.assignment else None,
                "chip": n.assignment.chip if n.assignment else "cpu",
                "calls": n.estimate.calls,
                "input_tokens": n.estimate.input_tokens,
                "output_tokens": n.estimate.output_tokens,
                "reasoning_tokens": n.estimate.reasoning_tokens,
                "cost_usd": n.estimate.cost_usd,
                "latency_s": n.estimate.latency_s,
            }
            for n in plan.nodes
        ],
        "total": {
            "calls": t.calls,
            "input_tokens": t.input_tokens,
            "output_tokens": t.output_tokens,
            "reasoning_tokens": t.reasoning_tokens,
            "cost_usd": t.cost_usd,
            "latency_s": t.latency_s,
            "critical_path": list(t.critical_path),
        },
        "baseline": {
            "model": b.model,
            "chip": b.chip,
            "reasoning_tokens": b.reasoning_tokens,
            "cost_usd": b.cost_usd,
            "latency_s": b.latency_s,
            "comparison": plan.comparison(),
        },
        "warnings": list(plan.warnings),
    }


def summary_rows(plan) -> list[list[str]]:
    from hetflow.units import count, money, seconds

    rows = []
    for n in plan.nodes:
        e = n.estimate
        a = n.assignment
        rows.append(
            [
                n.id,
                a.model if a else "-",
                a.chip if a else "cpu",
                count(e.calls) if a else "-",
                f"{e.input_tokens:,.0f}/{e.output_tokens + e.reasoning_tokens:,.0f}" if a else "-",
                money(e.cost_usd),
                seconds(e.latency_s),
            ]
        )
    t = plan.estimate
    rows.append(
        [
            "total",
            "",
            "",
            count(t.calls),
            f"{t.input_tokens:,.0f}/{t.output_tokens + t.reasoning_tokens:,.0f}",
            money(t.cost_usd),
            seconds(t.latency_s),
        ]
    )
    return rows


HEADERS = ["step", "model", "chip", "calls", "tokens in/out", "cost", "latency"]


def calibrated_line(plan) -> str | None:
    """``tallies calibrated from 3 traced runs`` when --calibrate replaced constants."""
    runs: dict[str, int] = {}
    for n in plan.nodes:
        if n.estimate.calibrated_from_runs:
            runs[n.step] = n.estimate.calibrated_from_runs
    parts = [f"{s} from {r} traced run{'s' * (r != 1)}" for s, r in runs.items()]
    parts += [
        f"map {m.item}'s items from {r} traced run{'s' * (r != 1)}"
        for m in plan.maps
        if (r := m.calibrated_from_runs)
    ]
    parts += [f"{offer}'s speeds {how}" for offer, how in plan.calibrated_offers.items()]
    if not parts:
        return None
    return "estimates calibrated: " + ", ".join(parts)


def reasoning_line(plan) -> str | None:
    """``tokens out include 12,000 hidden reasoning tokens ...`` when the plan reasons."""
    t, b = plan.estimate, plan.baseline
    if not t.reasoning_tokens and not b.reasoning_tokens:
        return None
    return (
        f"tokens out include {t.reasoning_tokens:,.0f} hidden reasoning tokens"
        f" (the baseline: {b.reasoning_tokens:,.0f})"
    )


def print_summary(plan, stream, where: str) -> None:
    from hetflow.units import exact_duration, exact_money

    rows = summary_rows(plan)
    title = (
        f"{plan.workflow}: objective {plan.objective}"
        + (f", budget {exact_money(plan.budget_usd)}" if plan.budget_usd is not None else "")
        + (f", deadline {exact_duration(plan.deadline_s)}" if plan.deadline_s is not None else "")
    )

    def trailer(warning: str) -> list[str]:
        """What follows the table: the comparison, calibration, warnings, where it went."""
        calibrated = calibrated_line(plan)
        reasoning = reasoning_line(plan)
        return (
            [plan.comparison()]
            + ([reasoning] if reasoning else [])
            + ([calibrated] if calibrated else [])
            + [f"{warning} {w}" for w in plan.warnings]
            + [f"plan written to {where}"]
        )

    if stream.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for i, h in enumerate(HEADERS):
            table.add_column(h, justify="right" if i >= 3 else "left")
        for row in rows[:-1]:
            table.add_row(*row)
        table.add_section()
        table.add_row(*rows[-1], style="bold")
        console = Console(file=stream)
        console.print(table)
        for line in trailer("[yellow]warning:[/]"):
            console.print(line)
        return
    widths = [max(len(str(r[i])) for r in rows + [HEADERS]) for i in range(len(HEADERS))]
    print(title, file=stream)
    for row in [HEADERS] + rows:
        print(
            "  ".join(
                str(c).ljust(w) if i < 3 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip(),
            file=stream,
        )
    for line in trailer("warning:"):
        print(line, file=stream)
