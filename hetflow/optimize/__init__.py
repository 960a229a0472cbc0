"""The optimizer: an ordered tuple of passes over the plan (sqlglot style).

Each pass is ``pass(plan, ctx) -> plan``, one module each, named after what it does;
reorder or drop one without touching the others.

* :func:`candidates` — the offers each model node may run on (§5.8 diagnostics);
* :func:`baseline` — every model node on the strongest offer (the comparison, and the
  normalization of the ``balanced`` objective);
* :func:`assign` — the exact MILP over the whole graph (§5.9 diagnostics);
* :func:`alternatives` — ranked fallbacks per node;
* :func:`critical_path` — totals, critical path, baseline ratios;
* :func:`why` — why each node got its offer.
"""

from __future__ import annotations

from hetflow.optimize.alternatives import alternatives
from hetflow.optimize.assign import assign
from hetflow.optimize.baseline import baseline
from hetflow.optimize.candidates import candidates
from hetflow.optimize.cascade import cascade
from hetflow.optimize.context import Context
from hetflow.optimize.critical_path import critical_path
from hetflow.optimize.why import why

PASSES = (candidates, baseline, assign, alternatives, critical_path, cascade, why)


def optimize(plan, ctx: Context, passes=PASSES):
    """Run the passes in order; each takes the plan and returns it."""
    for p in passes:
        plan = p(plan, ctx)
    return plan


__all__ = ["PASSES", "Context", "optimize"]
