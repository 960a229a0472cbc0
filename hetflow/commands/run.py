"""``hetflow run FILE|PLAN.json``: execute a workflow, outputs as JSON on standard output.

The summary (cost, time, predicted vs actual) goes to standard error; a failed or
budget-stopped run exits 1 with a one-line reason, after printing the outputs that did
finish (``{}`` when none did: standard output is always JSON), and keeps everything in
the journal for ``--resume``.  A ``.het`` FILE is compiled first with the options
compile takes, so a budget no placement fits is refused before any call with compile's
message; a plan file whose estimate is above ``--budget`` is run (the runtime never
spends past the budget and stops cleanly) after a warning saying so, and so is a plan
with a step whose one call must reserve more than the whole budget before it starts
(``--input-bound``: how a model with an unknown tokenizer reserves its input).  On a terminal a
status line says the run is starting at once.
"""

from __future__ import annotations

import argparse
import sys

from hetflow.commands.options import add_plan_options
from hetflow.commands.output import error, plural, say


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a workflow (.het) or a compiled plan (.json)",
        description="Run a .het workflow (compiled first, with the options compile takes) "
        "or a compiled plan: outputs as JSON on standard output, the summary on standard "
        "error.",
    )
    parser.add_argument(
        "source", metavar="FILE|PLAN.json", help="a .het workflow (compiled first) or a plan"
    )
    add_plan_options(
        parser,
        inputs_help="an input: NAME=VALUE, or NAME=@PATH to read a file "
        "(an image input reads the image); repeat for each input",
        budget_help="a hard cap: the run never spends more (overrides the file's and the "
        "plan's); a .het is compiled under it; a plan estimated above it, or a step whose "
        "one call must reserve more than it (see --input-bound), is said before any call",
        sizes=False,
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
    parser.add_argument(
        "--input-bound",
        choices=("strict", "typical"),
        default=None,
        help="under a budget, how a call on a model whose tokenizer is not known reserves "
        "its input before it starts: one token a byte, a bound no provider can pass "
        "(strict, default), or a typical 4 bytes a token x1.5 (typical: a call may cost "
        "more than it reserved, and the run then stops, saying by how much); OpenAI-family "
        "models are counted exactly either way; --resume keeps the first run's choice",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    if args.backend != "ray" and (args.ray_address or args.ray_strict):
        error("--ray-address and --ray-strict need --backend ray", "hetflow run")
        return 2
    if args.sandbox == "weak":
        say(
            "hetflow: warning: --sandbox weak: recurse steps run model-written code even "
            "where a confinement layer is missing; each missing layer is named as its "
            "sandbox starts"
        )
    if args.input_bound == "typical":
        say(
            "hetflow: warning: --input-bound typical: under a budget, a call on a model "
            "whose tokenizer is not known reserves its input at a typical size and may cost "
            "more than it reserved; the run then stops, saying by how much"
        )
    starting(f"reading {args.source}")
    from hetflow.runtime.inputs import parse_assignments

    given = parse_assignments(args.input)
    plan = _plan(args, given)
    from hetflow.commands.options import warn_bare_paths

    warn_bare_paths(plan, given)
    steps = plural(len({n.step for n in plan.nodes}), "step")
    starting(f"running {plan.workflow} ({steps}, estimated {_money(plan.estimate.cost_usd)})")
    from hetflow.errors import HetError
    from hetflow.runtime.values import for_output

    try:
        result = _run(plan, given, args)
    except HetError:
        print("{}")  # standard output is always JSON: nothing finished
        raise
    # What finished, always as JSON (a script parses it); a failure is said on stderr.
    # It comes from outside (models, providers): no key, no terminal escape.
    from hetflow.runtime.keys import redact, secret_values
    from hetflow.units import json_printable

    secrets = secret_values(plan)
    shown = json.dumps(for_output(result.outputs), indent=2, ensure_ascii=False)
    print(json_printable(redact(shown, secrets)))
    print(result.summary, file=sys.stderr)
    if result.reason:
        reason = redact(result.reason, secrets)
        error(reason if result.stopped else f"the run failed: {reason}")
        return 1
    return 0


def _run(plan, given: dict, args: argparse.Namespace):
    from hetflow.runtime import Settings, run_sync

    return run_sync(
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
        input_bound=args.input_bound,
    )


def starting(what: str) -> None:
    """A status line on a terminal: loading the runtime takes a moment before any call."""
    if sys.stderr.isatty():
        print(f"hetflow run: {what} ...", file=sys.stderr, flush=True)


def _plan(args: argparse.Namespace, given: dict):
    """A plan file as it is (its estimate compared with the budget), or the .het
    compiled with the options given (the budget a constraint), sized by the real inputs."""
    from hetflow.commands.graph import is_plan_file
    from hetflow.commands.options import check_workflow, compile_options, refuse_for_plan
    from hetflow.compiler import compile, plan_for_run

    if is_plan_file(args.source):
        refuse_for_plan(args, args.source, allowed=("budget", "input"))
        plan = plan_for_run(args.source)
        check_workflow(args, plan, args.source)
        if args.budget is not None:
            check_budget(plan, args.budget, args.input_bound)
        return plan
    plan = compile(args.source, **compile_options(args, given))
    if args.budget is not None:
        check_budget(plan, args.budget, args.input_bound)
    return plan


def check_budget(plan, budget: float, input_bound: str | None = None) -> None:
    """A plan estimated above the budget, or a step whose one call reserves more than
    the budget before it starts: say so before any call (the run will stop when the
    budget is spent, or when a call's worst case cannot fit, cleanly, with what
    finished)."""
    from hetflow.commands.output import say
    from hetflow.units import exact_money

    cost = plan.estimate.cost_usd
    if cost <= budget:
        dearest_call(plan, budget, input_bound or "strict")
        return
    dearest = max(plan.nodes, key=lambda n: n.estimate.cost_usd)
    a = dearest.assignment
    say(
        f"hetflow run: warning: budget {exact_money(budget)} is below this plan's estimate "
        f"{_money(cost)} ({_money(cost - budget)} over; the most expensive step is "
        f"'{dearest.step}', {_money(dearest.estimate.cost_usd)}"
        + (f" on {a.model} @ {a.chip}" if a else "")
        + "): the run stops when the budget is spent; recompile the .het with "
        f"--budget {budget:g} for a plan that fits"
    )


def dearest_call(plan, budget: float, mode: str) -> None:
    """Warn when one call of a step must reserve more than the whole budget before it
    starts (the runtime's reservation, sized from the plan's estimate): the run would
    stop at that call having spent nothing on it."""
    from hetflow.runtime.budget import likely_reservation
    from hetflow.units import exact_money, money_up

    worst = None
    for node in plan.nodes:
        if node.assignment is None or node.estimate.calls <= 0:
            continue
        e = node.estimate
        got = likely_reservation(
            node.assignment, e.input_tokens_per_call, e.output_tokens_per_call, mode
        )
        if worst is None or got[0] > worst[1][0]:
            worst = (node, got)
    if worst is None or worst[1][0] <= budget:
        return
    node, (dollars, n, out, how) = worst
    a = node.assignment
    fix = f"give --budget {money_up(dollars)[1:]} or more"
    if how.startswith("one token a byte"):
        fix += ", or --input-bound typical to reserve such input at a typical size"
    say(
        f"hetflow run: warning: a call of step '{node.step}' on {a.offer or a.model + '@' + a.chip} "
        f"reserves about {_money(dollars)} before it starts (about {n:,} input tokens, {how}, "
        f"and at least {out:,} output tokens), more than the budget {exact_money(budget)}: "
        f"the run will stop before that call; {fix}"
    )


def _money(x: float) -> str:
    from hetflow.units import money

    return money(x)
