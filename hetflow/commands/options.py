"""The options that mean the same on every command that makes a plan.

``compile``, ``explain``, ``simulate`` and ``run`` all take a ``.het`` FILE (and the
last three a plan too); each takes these options, spelt and meaning the same:

- ``--catalog FILE``, ``--workflow NAME``, ``--objective``, ``--budget DOLLARS``,
  ``--deadline DURATION``: as in the ``.het`` file, which they override;
- ``--input-size NAME=SIZE``: an input's size for the estimate (``context=128k``);
- ``-i/--input NAME=VALUE|@PATH``: a real input (``run`` runs with it; the others size
  the plan from it, as ``run`` does);
- ``--calibrate TRACE.jsonl``: estimates from traced runs;
- ``--quality QUALITY.json``, ``--min-quality SCORE``, ``--learn-from QUALITY.json``:
  placement to a measured quality target (``hetflow tune``).

Given a plan (``PLAN.json``), the options that shape a plan are refused with one line
saying to recompile, except ``--budget`` on ``run`` (a cap on spending).
"""

from __future__ import annotations

import argparse
from typing import Any

PLAN_SHAPING = (
    "objective",
    "budget",
    "deadline",
    "input_size",
    "input",
    "calibrate",
    "quality",
    "min_quality",
    "learn_from",
)


def dollars(text: str) -> float:
    """``0.50`` or ``$0.50`` -> 0.5; a usage error otherwise."""
    try:
        value = float(text.strip().lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an amount of dollars: {text!r} (write e.g. 0.50 or $0.50)"
        ) from None
    if value != value or value < 0:
        raise argparse.ArgumentTypeError("a budget is a non-negative amount, e.g. 0.50")
    return value


CATALOG_HELP = (
    "a catalog file, or a shipped catalog by name: 'default' (hosted providers, the "
    "default) or 'local' (models served on this machine, no keys)"
)


def add_plan_options(
    parser: argparse.ArgumentParser,
    *,
    inputs_help: str = "a real input, NAME=VALUE or NAME=@PATH, to size the plan by "
    "(as hetflow run does; repeatable)",
    budget_help: str = "a hard cap on a run's cost, e.g. 0.50 (overrides the file)",
    sizes: bool = True,
) -> None:
    parser.add_argument("--catalog", metavar="FILE", help=CATALOG_HELP)
    parser.add_argument(
        "--workflow", metavar="NAME", help="which workflow of the file (default: the first)"
    )
    parser.add_argument(
        "--objective",
        choices=("cost", "latency", "balanced"),
        help="what to minimize (overrides the file)",
    )
    parser.add_argument("--budget", metavar="DOLLARS", type=dollars, help=budget_help)
    parser.add_argument(
        "--deadline", metavar="DURATION", help="a latency target, e.g. 30s (overrides the file)"
    )
    if sizes:
        parser.add_argument(
            "--input-size",
            metavar="NAME=SIZE",
            action="append",
            default=[],
            help="an input's size for the estimate, e.g. context=128k (repeatable)",
        )
    parser.add_argument(
        "-i",
        "--input",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help=inputs_help,
    )
    parser.add_argument(
        "--calibrate",
        metavar="TRACE.jsonl",
        action="append",
        default=[],
        help="a trace of earlier runs (hetflow run --trace): the steps it traced are "
        "estimated from their calls (tokens, answer lengths, calls, turns) instead of "
        "the rules of thumb (repeatable)",
    )
    add_quality(parser)


def add_quality(parser: argparse.ArgumentParser) -> None:
    """``--quality QUALITY.json --min-quality 0.9``: place measured steps to a target."""
    parser.add_argument(
        "--quality",
        metavar="QUALITY.json",
        help="measured quality from hetflow tune: a measured step is placed only on "
        "candidates whose score meets --min-quality (or its `with min_quality=`)",
    )
    parser.add_argument(
        "--min-quality",
        metavar="SCORE",
        help="the quality target from 0 to 1 for measured steps, e.g. 0.9",
    )
    parser.add_argument(
        "--learn-from",
        metavar="QUALITY.json",
        action="append",
        default=[],
        help="measurements of any tuned workflow: with --min-quality, a step nobody "
        "measured needs the reasoning level that tuned steps like it needed (repeatable)",
    )


def parse_pairs(pairs: list[str], flag: str) -> dict[str, str]:
    from hetflow.errors import HetError

    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise HetError(f"{flag} '{pair}': write NAME=VALUE, e.g. context=128k")
        out[name.strip()] = value.strip()
    return out


def compile_options(args: argparse.Namespace, given: dict[str, Any] | None = None) -> dict:
    """The keyword arguments of :func:`hetflow.compiler.compile` the options say.

    ``given`` are the inputs already parsed (run parses them once for both uses).
    """
    from hetflow.runtime.inputs import for_sizing, parse_assignments

    options: dict[str, Any] = {"catalog": args.catalog, "workflow": args.workflow}
    for key in ("objective", "budget", "deadline"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    sizes = parse_pairs(getattr(args, "input_size", []) or [], "--input-size")
    if sizes:
        options["input_sizes"] = sizes
    if given is None:
        given = parse_assignments(args.input)
    real = for_sizing(given) if given else None
    if real:
        options["inputs"] = real
    if args.calibrate:
        options["calibrate"] = args.calibrate
    for key in ("quality", "min_quality"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    if getattr(args, "learn_from", None):
        options["learn_from"] = args.learn_from
    return options


def warn_bare_paths(plan: Any, given: dict[str, Any]) -> None:
    """A warning per input whose plain value names a file: ``NAME=@PATH`` reads it."""
    from hetflow.commands.output import say
    from hetflow.runtime.inputs import bare_paths

    for name in bare_paths(plan, given):
        say(
            f"hetflow: warning: --input {name}={given[name]} passes the text "
            f"'{given[name]}'; to pass the file's contents write {name}=@{given[name]}"
        )


def refuse_for_plan(args: argparse.Namespace, path: str, allowed: tuple[str, ...] = ()) -> None:
    """A plan file was given: options that shape a plan are a one-line error."""
    from hetflow.errors import HetError

    parse_pairs(getattr(args, "input_size", []) or [], "--input-size")  # a malformed one first
    for key in PLAN_SHAPING:
        if key in allowed:
            continue
        value = getattr(args, key, None)
        if value not in (None, [], ""):
            flag = "--" + key.replace("_", "-")
            raise HetError(
                f"{flag} needs a .het FILE: {path} is a plan, optimized when it was "
                "compiled; recompile it with the option"
            )


def check_workflow(args: argparse.Namespace, plan: Any, path: str) -> None:
    from hetflow.errors import HetError

    if args.workflow is not None and args.workflow != plan.workflow:
        raise HetError(f"{path}: is a plan of workflow '{plan.workflow}', not '{args.workflow}'")
