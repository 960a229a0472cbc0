"""Pass: the assignment — one offer per model node, chosen over the whole graph.

Builds the :class:`~hetflow.optimize.model.Problem` from the plan and the candidates,
solves it exactly (:mod:`hetflow.optimize.solve`), and writes each node's assignment
and its cost and latency there.  When the budget or deadline cannot be met,
:mod:`hetflow.optimize.feasibility` says by how much and which step is the bottleneck.
"""

from __future__ import annotations

from hetflow.optimize.context import Context, build_problem, is_model_node, to_assignment, work_of
from hetflow.optimize.feasibility import diagnose
from hetflow.optimize.model import Goal, fastest, schedule
from hetflow.optimize.solve import solve


def goal_of(plan) -> Goal:
    b = plan.baseline
    return Goal(
        plan.objective,
        plan.budget_usd,
        plan.deadline_s,
        cost_scale=b.cost_usd or 1.0,
        latency_scale=b.latency_s or 1.0,
    )


def assign(plan, ctx: Context):
    """Choose every model node's offer; raise §5.9 diagnostics when nothing fits."""
    problem = build_problem(plan, ctx.catalog, lambda node: ctx.candidates[node.id])
    goal = goal_of(plan)
    solution = solve(problem, goal, time_limit=ctx.time_limit)
    if solution.choice is None and solution.status == "infeasible":
        diagnose(plan, ctx, problem, goal)
    if solution.choice is None:  # a time limit with nothing found: every node's fastest
        solution.choice = [fastest(o) for o in problem.options]
        solution.exact, solution.gap, solution.method = False, None, "fallback-fastest"
    ctx.problem, ctx.solution = problem, solution
    start, _ = schedule(problem, solution.choice)
    for i, node in enumerate(plan.nodes):
        option = problem.options[i][solution.choice[i]]
        node.estimate.cost_usd = option.cost
        node.estimate.latency_s = option.latency
        node.estimate.start_s = start[i]
        if is_model_node(node):
            assert option.offer is not None  # a model node's options are all offers
            offer = ctx.catalog.offer(option.offer)
            node.assignment = to_assignment(ctx.catalog, offer, work_of(node))
        else:
            node.assignment = None
    plan.optimizer = {
        "method": solution.method,
        "exact": solution.exact,
        "gap": solution.gap,
        "time_s": round(solution.time_s, 4),
        "status": solution.status,
        "nodes": len(problem.options),
        "options": sum(len(o) for o in problem.options),
    }
    return plan
