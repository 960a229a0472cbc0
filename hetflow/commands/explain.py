"""``hetflow explain PLAN.json|FILE [--step NAME] [--format text|json]``: why each step
runs where it runs — its needs, every candidate with its cost and latency, the winner
and why.

A ``.het`` file is compiled first, with the same options as ``hetflow compile``; a plan
is read as it is and explains itself with the candidates it recorded (``--catalog``
only matters for plans written before plans recorded them).
"""

from __future__ import annotations

import argparse

from hetflow.commands.options import add_plan_options, compile_options, refuse_for_plan


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="why each step got its model and chip",
        description="Show, per step, the needs (given or derived, and why), every "
        "candidate offer with its cost and latency for that step, the winner and why. "
        "A .het FILE is compiled first (with the options compile takes).",
    )
    parser.add_argument(
        "source", metavar="PLAN.json|FILE", help="a plan from hetflow compile, or a .het file"
    )
    parser.add_argument("--step", metavar="NAME", help="only this step (or node id)")
    add_plan_options(parser)
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people (default), json for scripts (docs/optimizer.md)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hetflow.catalog import load_catalog
    from hetflow.commands.graph import is_plan_file
    from hetflow.commands.options import check_workflow
    from hetflow.optimize.explain import explain, explain_data
    from hetflow.plan.model import Plan

    if is_plan_file(args.source):
        refuse_for_plan(args, args.source)
        plan = Plan.load(args.source)
        check_workflow(args, plan, args.source)
        catalog = load_catalog(args.catalog) if args.catalog else None
    else:
        from hetflow.compiler import compile

        options = compile_options(args)
        catalog = load_catalog(args.catalog) if args.catalog else None
        options["catalog"] = catalog
        plan = compile(args.source, **options)
    if args.format == "json":
        import json

        print(json.dumps(explain_data(plan, catalog, step=args.step), indent=2))
    else:
        print(explain(plan, catalog, step=args.step))
    return 0
