"""``hetflow run FILE|PLAN.json``: execute a workflow, outputs as JSON on standard output.

The summary (cost, time, predicted vs actual) goes to standard error; a failed or
budget-stopped run exits 1 with a one-line reason, after printing the outputs that did
finish (and keeping everything in the journal for ``--resume``).
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a workflow (.het) or a compiled plan (.json)",
        description="Run a .het workflow (compiled first) or a compiled plan: outputs as "
        "JSON on standard output, the summary on standard error.",
    )
    parser.add_argument(
        "source", metavar="FILE|PLAN.json", help="a .het workflow (compiled first) or a plan"
    )
    parser.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an input: NAME=VALUE, or NAME=@PATH to read a file "
        "(an image input reads the image); repeat for each input",
    )
    parser.add_argument(
        "--catalog", metavar="FILE", help="the hardware catalog to compile a .het with"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the last run of this plan and inputs from its journal",
    )
    parser.add_argument(
        "--journal",
        metavar="PATH",
        help="the SQLite journal (default: in the user's data directory)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="do not serve or store model replies in the call cache",
    )
    parser.add_argument("--trace", metavar="PATH", help="append one JSON line per model call")
    parser.add_argument(
        "--budget",
        metavar="DOLLARS",
        type=_dollars,
        help="stop before spending more than this (overrides the plan's)",
    )
    parser.add_argument(
        "--workflow", metavar="NAME", help="which workflow of a .het file holding several"
    )
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where calls run: in this process (local, default) or as Ray tasks on the "
        "nodes holding each chip (ray; pip install 'hetflow[ray]')",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="the Ray cluster to join (default: RAY_ADDRESS, else a local Ray)",
    )
    parser.add_argument(
        "--ray-strict",
        action="store_true",
        help="refuse a run whose chip no Ray node holds (default: run it on any node)",
    )
    parser.add_argument(
        "--sandbox",
        choices=("strict", "weak"),
        default="strict",
        help="recurse steps: refuse to run model-written code where a confinement layer "
        "(seccomp, Landlock, namespaces...) is missing (strict, default), or run it "
        "anyway with a warning per missing layer (weak)",
    )
    parser.set_defaults(func=run)


def _dollars(text: str) -> float:
    try:
        value = float(text.strip().lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an amount of dollars: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a budget cannot be negative")
    return value


def run(args: argparse.Namespace) -> int:
    import json

    from hetflow.compiler import plan_for_run
    from hetflow.runtime import Settings, run_sync
    from hetflow.runtime.inputs import parse_assignments
    from hetflow.runtime.values import for_output

    if args.backend != "ray" and (args.ray_address or args.ray_strict):
        print(
            "hetflow run: error: --ray-address and --ray-strict need --backend ray", file=sys.stderr
        )
        return 2
    if args.sandbox == "weak":
        print(
            "hetflow: warning: --sandbox weak: recurse steps run model-written code even "
            "where a confinement layer is missing; each missing layer is named as its "
            "sandbox starts",
            file=sys.stderr,
        )
    given = parse_assignments(args.input)
    plan = plan_for_run(args.source, catalog=args.catalog, inputs=given, workflow=args.workflow)
    result = run_sync(
        plan,
        given,
        resume=args.resume,
        journal=args.journal,
        cache=not args.no_cache,
        trace_path=args.trace,
        budget=args.budget,
        progress=True,
        backend=args.backend,
        ray_address=args.ray_address,
        ray_strict=args.ray_strict,
        settings=Settings(sandbox=args.sandbox),
    )
    print(json.dumps(for_output(result.outputs), indent=2, ensure_ascii=False))
    print(result.summary, file=sys.stderr)
    if result.reason:
        print(f"hetflow: error: {result.reason}", file=sys.stderr)
        return 1
    return 0
