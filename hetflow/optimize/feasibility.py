"""LANGUAGE.md §5.9: a budget or deadline no assignment can meet — by how much, and why.

Three cases, each answered by one more exact solve:

* the cheapest plan (no constraints) costs more than the budget;
* the fastest plan (no constraints) takes longer than the deadline;
* each alone can be met but not both: the cheapest plan within the deadline costs more
  than the budget.

The message names the bottleneck step (the dearest step of that cheapest plan; the
slowest step on that fastest plan's critical path) and is positioned at the file's
``budget``/``deadline`` line; a value given on the command line has no line, so it is
one line of text.

"""

from __future__ import annotations

from hetflow.optimize.context import Context
from hetflow.optimize.model import Goal, critical_path
from hetflow.optimize.solve import solve
from hetflow.units import exact_duration, exact_money, money, seconds


def _where(problem, choice, i) -> str:
    o = problem.options[i][choice[i]]
    return o.offer.replace("@", " @ ") if o.offer else "the CPU"


def _dearest(problem, choice) -> str:
    i = max(range(len(choice)), key=lambda i: problem.options[i][choice[i]].cost)
    o = problem.options[i][choice[i]]
    return f"'{problem.ids[i]}' ({money(o.cost)} on {_where(problem, choice, i)})"


def _slowest(problem, choice) -> str:
    path = critical_path(problem, choice)
    i = max(path, key=lambda i: problem.options[i][choice[i]].latency)
    o = problem.options[i][choice[i]]
    return f"'{problem.ids[i]}' ({seconds(o.latency)} on {_where(problem, choice, i)})"


def diagnose(plan, ctx: Context, problem, goal: Goal) -> None:
    """Raise the diagnostic that explains why no plan meets the budget and deadline."""
    b, d = goal.budget, goal.deadline
    free = Goal("cost", cost_scale=goal.cost_scale, latency_scale=goal.latency_scale)
    if b is not None:
        cheapest = solve(problem, free)
        if cheapest.cost > b:
            ctx.error(
                f"budget {exact_money(b)} cannot be met: the cheapest plan costs "
                f"{money(cheapest.cost)} ({money(cheapest.cost - b)} over); the most "
                f"expensive step is {_dearest(problem, cheapest.choice)}",
                ctx.budget_pos,
            )
    if d is not None:
        fastest = solve(problem, Goal("latency"))
        if fastest.latency > d:
            ctx.error(
                f"deadline {exact_duration(d)} cannot be met: the fastest plan takes "
                f"{seconds(fastest.latency)} ({seconds(fastest.latency - d)} over); the "
                f"slowest step on its critical path is "
                f"{_slowest(problem, fastest.choice)}",
                ctx.deadline_pos,
            )
    if not ctx.diagnostics and b is not None and d is not None:
        within = solve(problem, Goal("cost", deadline=d))
        ctx.error(
            f"budget {exact_money(b)} and deadline {exact_duration(d)} cannot both be met: the "
            f"cheapest plan within the deadline costs {money(within.cost)} "
            f"({money(within.cost - b)} over); the most expensive step is "
            f"{_dearest(problem, within.choice)}",
            ctx.budget_pos or ctx.deadline_pos,
        )
    if not ctx.diagnostics:  # cannot happen: infeasible needs a constraint
        ctx.error("no assignment meets the budget and deadline", ctx.budget_pos)
    ctx.raise_errors()
