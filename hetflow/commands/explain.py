"""``hetflow explain PLAN.json|FILE [--step NAME] [--catalog FILE]``: why each step runs
where it runs — its needs, every candidate with its cost and latency, the winner and why.

A ``.het`` file is compiled first (with ``--catalog``); a plan is read as it is and
explains itself with the candidates it recorded (``--catalog`` only matters for plans
written before plans recorded them).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="why each step got its model and chip",
        description="Show, per step, the needs (given or derived, and why), every "
        "candidate offer with its cost and latency for that step, the winner and why.",
    )
    parser.add_argument("source", metavar="PLAN.json|FILE", help="a compiled plan or a .het file")
    parser.add_argument("--step", metavar="NAME", help="only this step (or node id)")
    parser.add_argument(
        "--catalog", metavar="FILE", help="a catalog file (default: the shipped one)"
    )
    parser.add_argument(
        "--workflow", metavar="NAME", help="which workflow of a .het file (default: the first)"
    )
    from hetflow.commands.compile import add_calibrate

    add_calibrate(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hetflow.catalog import load_catalog
    from hetflow.optimize.explain import explain
    from hetflow.plan.model import Plan

    catalog = load_catalog(args.catalog) if args.catalog else None
    if args.source.endswith(".json"):
        if args.calibrate:
            from hetflow.errors import HetError

            raise HetError(
                "--calibrate needs a .het FILE: a plan's estimates were made "
                "when it was compiled; recompile it"
            )
        plan = Plan.load(args.source)
    else:
        from hetflow.compiler import compile

        plan = compile(
            args.source, catalog=catalog, workflow=args.workflow, calibrate=args.calibrate
        )
    print(explain(plan, catalog, step=args.step))
    return 0
