"""Pass: why each model node got its offer, in one line (shown by ``hetflow explain``).

The reasons are checked, not guessed: the cheaper (or faster) candidate the solver
passed over is put in the winner's place and the whole plan re-evaluated, so the line
says what would actually happen — a missed deadline, a slower plan, a blown budget,
handoffs between chips.  Past ``MAX_COUNTERFACTUAL_NODES`` nodes the re-evaluation is
skipped and the line only ranks the winner among its candidates.
"""

from __future__ import annotations

from hetflow.optimize.context import Context, is_model_node
from hetflow.optimize.model import evaluate
from hetflow.units import exact_money, money, seconds

MAX_COUNTERFACTUAL_NODES = 2_000


def _name(offer_id: str | None) -> str:
    return (offer_id or "the CPU").replace("@", " @ ")


def why(plan, ctx: Context):
    problem, choice = ctx.placed()
    cost, latency = evaluate(problem, choice)
    small = len(choice) <= MAX_COUNTERFACTUAL_NODES
    on_path = set(plan.estimate.critical_path)
    for i, node in enumerate(plan.nodes):
        if not is_model_node(node):
            continue
        opts = problem.options[i]
        won = opts[choice[i]]
        n = len(opts)
        cheapest = min(range(n), key=lambda j: (opts[j].cost, opts[j].latency))
        fastest = min(range(n), key=lambda j: (opts[j].latency, opts[j].cost))
        where = "on the critical path" if node.id in on_path else "off the critical path"
        if n == 1:
            node.why = "the only candidate" + (" (pinned)" if node.pin else "")
            continue
        if opts[cheapest].cost < won.cost * (1 - 1e-9):
            other = cheapest
            head = f"{where}; not the cheapest of {n} candidates"
        elif opts[fastest].latency < won.latency * (1 - 1e-9):
            other = fastest
            head = f"the cheapest of {n} candidates ({money(won.cost)}), {where}"
        else:
            node.why = (
                f"the cheapest and fastest of {n} candidates ({money(won.cost)}, "
                f"{seconds(won.latency)})"
            )
            continue
        o = opts[other]
        if not small:
            node.why = head
            continue
        swapped = list(choice)
        swapped[i] = other
        c2, l2 = evaluate(problem, swapped)
        node.why = f"{head}: {_consequence(plan, _name(o.offer), o, won, c2, l2, cost, latency)}"
    return plan


def _consequence(plan, name, o, won, c2, l2, cost, latency) -> str:
    cheaper = o.cost < won.cost
    what = (
        f"the cheaper {name} ({money(o.cost)} here)"
        if cheaper
        else f"the faster {name} ({seconds(o.latency)} here)"
    )
    if plan.deadline_s is not None and l2 > plan.deadline_s * (1 + 1e-9):
        return f"{what} would miss the deadline ({seconds(l2)} > {seconds(plan.deadline_s)})"
    if plan.budget_usd is not None and c2 > plan.budget_usd * (1 + 1e-9):
        return f"{what} would break the budget ({money(c2)} > {exact_money(plan.budget_usd)})"
    # Not slower itself, yet the plan is: the difference is the handoffs across chips.
    handoff = (
        " (handoffs between chips)"
        if o.chip != won.chip and o.latency <= won.latency and l2 > latency
        else ""
    )
    if cheaper:
        if l2 > latency:
            return f"{what} would make the plan {seconds(l2 - latency)} slower{handoff}"
        return f"{what} would not lower the objective ({plan.objective})"
    if l2 >= latency * (1 - 1e-9):
        return f"{what} would not shorten the plan{handoff}"
    return f"{what} would cost {money(c2 - cost)} more for {seconds(latency - l2)} less"
