"""The exact solver: one mixed-integer program over the whole graph (HiGHS, via highspy).

Variables: ``x[n,o]`` binary (node n runs option o), ``s[n]`` the start time of node n,
``z[e,k]`` in [0, 1] (both ends of edge e on chip k), and the makespan ``M``.

* every node takes exactly one option: ``sum_o x[n,o] = 1``;
* an edge u→v waits for u and, across chips, both chips' handoff::

      s[v] >= s[u] + sum_o d[u,o] x[u,o]
                  + sum_k H[k] (y[u,k] + y[v,k]) - 2 sum_k H[k] z[e,k]
      z[e,k] <= y[u,k],  z[e,k] <= y[v,k]      with y[n,k] = sum of x[n,o] on chip k

  (on one chip k the handoff terms cancel; on chips a != b they add H[a] + H[b]);
* ``M >= s[n] + sum_o d[n,o] x[n,o] + tail[n]`` for every node, and ``s[n] >= head[n]``
  (the least time after n and before it, at the fastest options: redundant for integer
  x, they tighten the relaxation);
* budget ``sum c x <= B`` and deadline ``M <= D`` whenever they are given.

The objective is cost, M, or cost/baseline_cost + M/baseline_latency; a second solve
breaks ties (the fastest of the cheapest plans, the cheapest of the fastest), starting
from the optimal plan.  Options beaten in every plan are dropped first
(:func:`hetflow.optimize.solve.prune`, :func:`hetflow.optimize.presolve.presolve`).  Past the
time limit, the better of HiGHS's plan and the greedy's is kept, with a proven gap.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from hetflow.optimize.greedy import GREEDY_MIN_S, greedy
from hetflow.optimize.model import (
    Goal,
    Problem,
    Solution,
    adjacency,
    cheapest,
    evaluate,
    fastest,
    objective_value,
    schedule,
)

EXACT_GAP = 1e-9  # HiGHS's relative gap when asked for the optimum
SCALE = 1_000.0  # objectives are scaled to ~1,000 so HiGHS's absolute tolerances vanish
TIE_BREAK_MIN_S = 0.2
TIE_BREAK_SHARE = 0.25
LARGE_TIME_LIMIT_S = 20.0


@contextlib.contextmanager
def _quiet_stdout():
    """HiGHS prints from C++ to standard output (its banner, from highspy 1.16 on, as
    soon as a ``Highs`` is made, whatever ``output_flag`` says); ``hetflow compile -o -``
    writes the plan there.  While HiGHS works, file descriptor 1 points at the null
    device, and C's buffers are flushed before it is given back."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no real stdout (captured, closed): nothing to guard
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        _flush_c_stdio()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _flush_c_stdio() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to flush: nothing was buffered there
        pass


@dataclass
class Result:
    """What one HiGHS run returns (scipy's ``milp`` status codes)."""

    x: np.ndarray | None
    status: int  # 0 optimal, 1 time limit, 2 infeasible, 4 other
    fun: float | None = None
    mip_gap: float | None = None
    mip_dual_bound: float | None = None


class Program:
    """The MILP's matrices, built once; solved for one objective or another."""

    def __init__(self, p: Problem, kept: list[list[int]]):
        self.p, self.kept = p, kept
        n = len(p.options)
        self.x0 = []
        count = 0
        for opts in kept:
            self.x0.append(count)
            count += len(opts)
        self.nx = count
        self.s0 = count
        self.m = count + n
        rows, cols, vals, lo, hi = [], [], [], [], []
        r = 0

        def row(entries, low, high):
            nonlocal r
            for c, v in entries:
                rows.append(r)
                cols.append(c)
                vals.append(v)
            lo.append(low)
            hi.append(high)
            r += 1

        for i in range(n):
            row([(self.x0[i] + j, 1.0) for j in range(len(kept[i]))], 1.0, 1.0)
        z_count = self.m + 1
        self.zs: list[tuple[int, int, int, str]] = []  # (column, u, v, chip)
        out_deg = [0] * n
        for u, v in p.edges:
            out_deg[u] += 1
            entries = [(self.s0 + v, 1.0), (self.s0 + u, -1.0)]
            chips_u = self._chips(u)
            chips_v = self._chips(v)
            for j, oj in enumerate(kept[u]):
                o = p.options[u][oj]
                entries.append((self.x0[u] + j, -(o.latency + p.handoff_s.get(o.chip, 0.0))))
            for j, oj in enumerate(kept[v]):
                o = p.options[v][oj]
                if p.handoff_s.get(o.chip, 0.0):
                    entries.append((self.x0[v] + j, -p.handoff_s[o.chip]))
            for k in sorted(set(chips_u) & set(chips_v)):
                h = p.handoff_s.get(k, 0.0)
                if h <= 0:
                    continue
                z = z_count
                z_count += 1
                self.zs.append((z, u, v, k))
                entries.append((z, 2 * h))
                for side in (chips_u[k], chips_v[k]):
                    row([(z, 1.0)] + [(x, -1.0) for x in side], -np.inf, 0.0)
            row(entries, 0.0, np.inf)
        # Every node, not only the sinks, bounds the makespan with the shortest possible
        # rest of its longest path (``tail``): redundant for integer x, but it tightens
        # the relaxation a great deal.  ``head`` likewise bounds each start from below.
        self.head, tail = head_tail(p, kept)
        for i in range(n):
            entries = [(self.m, 1.0), (self.s0 + i, -1.0)]
            entries += [(self.x0[i] + j, -p.options[i][oj].latency) for j, oj in enumerate(kept[i])]
            row(entries, tail[i], np.inf)
        self.nvar = z_count
        self.rows, self.cols, self.vals, self.lo, self.hi = rows, cols, vals, lo, hi
        self.cost = np.zeros(self.nvar)
        for i, opts in enumerate(kept):
            for j, oj in enumerate(opts):
                self.cost[self.x0[i] + j] = p.options[i][oj].cost

    def _chips(self, i: int) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for j, oj in enumerate(self.kept[i]):
            out.setdefault(self.p.options[i][oj].chip, []).append(self.x0[i] + j)
        return out

    def run(
        self,
        objective: np.ndarray,
        budget: float | None,
        deadline: float | None,
        time_limit: float | None,
        gap: float,
        cost_ref: float = 1.0,
        relax: bool = False,
        start: list[int] | None = None,
    ) -> Result:
        """One HiGHS solve; ``start`` (a choice per node, in ``p.options`` indexes) is
        handed to HiGHS as its first incumbent."""
        import highspy
        from scipy.sparse import csr_array

        rows, cols, vals = self.rows, self.cols, self.vals
        lo, hi = self.lo, self.hi
        if budget is not None:
            r = len(lo)
            nz = np.nonzero(self.cost)[0]
            rows = rows + [r] * len(nz)
            cols = cols + nz.tolist()
            # In units of the cheapest plan, so HiGHS's absolute tolerance is relative.
            vals = vals + (self.cost[nz] * (SCALE / cost_ref)).tolist()
            lo = lo + [-np.inf]
            hi = hi + [(budget * (1 + 1e-9) + 1e-12) * SCALE / cost_ref]
        A = csr_array((vals, (rows, cols)), shape=(len(lo), self.nvar))
        ub = np.full(self.nvar, np.inf)
        ub[: self.nx] = 1.0
        ub[self.m + 1 :] = 1.0
        if deadline is not None:
            ub[self.m] = deadline * (1 + 1e-9) + 1e-9
        lb = np.zeros(self.nvar)
        lb[self.s0 : self.s0 + len(self.head)] = self.head

        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.nvar, len(lo)
        lp.col_cost_ = np.asarray(objective, dtype=float)
        lp.col_lower_, lp.col_upper_ = lb, ub
        lp.row_lower_, lp.row_upper_ = np.array(lo, dtype=float), np.array(hi, dtype=float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.nvar, len(lo)
        lp.a_matrix_.start_ = A.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A.indices.astype(np.int32)
        lp.a_matrix_.value_ = A.data.astype(float)
        if not relax:
            integer, continuous = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
            lp.integrality_ = [integer] * self.nx + [continuous] * (self.nvar - self.nx)
        with _quiet_stdout():
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.setOptionValue("mip_rel_gap", gap)
            h.setOptionValue("presolve", "on")
            if time_limit is not None:
                h.setOptionValue("time_limit", float(time_limit))
            h.passModel(lp)
            if start is not None and not relax:
                h.setSolution(self._solution(start))
            h.run()
        info = h.getInfo()
        status = h.getModelStatus()
        codes = {
            highspy.HighsModelStatus.kOptimal: 0,
            highspy.HighsModelStatus.kTimeLimit: 1,
            highspy.HighsModelStatus.kInfeasible: 2,
            highspy.HighsModelStatus.kUnboundedOrInfeasible: 2,  # M is bounded below
        }
        feasible = info.primal_solution_status == 2  # kSolutionStatusFeasible
        x = np.array(h.getSolution().col_value) if feasible else None
        return Result(
            x=x,
            status=codes.get(status, 4),
            fun=info.objective_function_value if feasible else None,
            mip_gap=info.mip_gap if not relax else 0.0,
            mip_dual_bound=info.mip_dual_bound if not relax else None,
        )

    def _solution(self, choice: list[int]):
        """A full feasible point for a choice: its x, earliest starts, z and makespan."""
        import highspy

        p = self.p
        col = np.zeros(self.nvar)
        for i, c in enumerate(choice):
            col[self.x0[i] + self.kept[i].index(c)] = 1.0
        start, _ = schedule(p, choice)
        for i, t in enumerate(start):
            col[self.s0 + i] = max(t, self.head[i])
        col[self.m] = evaluate(p, choice)[1]
        chip = [p.options[i][c].chip for i, c in enumerate(choice)]
        for z, u, v, k in self.zs:
            col[z] = 1.0 if chip[u] == chip[v] == k else 0.0
        sol = highspy.HighsSolution()
        sol.col_value = col.tolist()
        sol.value_valid = True
        return sol

    def choice(self, x: np.ndarray) -> list[int]:
        return [
            self.kept[i][int(np.argmax(x[self.x0[i] : self.x0[i] + len(opts)]))]
            for i, opts in enumerate(self.kept)
        ]


def refs(p: Problem) -> tuple[float, float]:
    """The cheapest plan's cost and the fastest plan's latency: objective scales."""
    fast = [fastest(o) for o in p.options]
    cheap = [cheapest(o) for o in p.options]
    return evaluate(p, cheap)[0] or 1.0, evaluate(p, fast)[1] or 1.0


def scaled(goal: Goal, cost: float, latency: float, cost_ref: float, latency_ref: float) -> float:
    """An objective value in the MILP's units (what HiGHS's bounds are in)."""
    if goal.objective == "cost":
        return cost * SCALE / cost_ref
    if goal.objective == "latency":
        return latency * SCALE / latency_ref
    return SCALE * (cost / goal.cost_scale + latency / goal.latency_scale)


def head_tail(p: Problem, kept) -> tuple[list[float], list[float]]:
    """Per node: the earliest it can start and the least time after it ends, with every
    node at its fastest option and no handoffs (bounds that every plan respects)."""
    n = len(p.options)
    fast = [min(p.options[i][j].latency for j in kept[i]) for i in range(n)]
    succ, preds, order = adjacency(p)
    head = [0.0] * n
    for v in order:
        head[v] = max((head[u] + fast[u] for u in preds[v]), default=0.0)
    tail = [0.0] * n
    for u in reversed(order):
        tail[u] = max((fast[v] + tail[v] for v in succ[u]), default=0.0)
    # A hair under the true bound, so HiGHS's tolerances never cut off the optimum.
    return [h * (1 - 1e-9) for h in head], [t * (1 - 1e-9) for t in tail]


def vector(
    prog: Program, goal: Goal, cost_ref: float, latency_ref: float, which: str
) -> np.ndarray:
    c = np.zeros(prog.nvar)
    if which in ("cost", "balanced"):
        c += prog.cost * (SCALE / (goal.cost_scale if which == "balanced" else cost_ref))
    if which in ("latency", "balanced"):
        c[prog.m] += SCALE / (goal.latency_scale if which == "balanced" else latency_ref)
    return c


def milp_solve(p: Problem, goal: Goal, kept, time_limit, gap: float = EXACT_GAP) -> Solution:
    """The optimum by the MILP; past the time limit, the better of HiGHS's and the greedy's."""
    prog = Program(p, kept)
    cost_ref, latency_ref = refs(p)
    t0 = time.perf_counter()
    res = prog.run(
        vector(prog, goal, cost_ref, latency_ref, goal.objective),
        goal.budget,
        goal.deadline,
        time_limit,
        gap,
        cost_ref,
    )
    if res.x is None:
        if res.status == 2:
            return Solution(None, status="infeasible")
        return fallback(p, goal, kept, time_limit or LARGE_TIME_LIMIT_S, prog)
    choice = prog.choice(res.x)
    exact = res.status == 0 and gap <= EXACT_GAP
    result_gap = float(getattr(res, "mip_gap", 0.0) or 0.0)
    if not exact:  # the time ran out: keep the better of HiGHS's plan and the greedy's
        mine = fallback(
            p,
            goal,
            kept,
            time_limit or LARGE_TIME_LIMIT_S,
            prog,
            bound=getattr(res, "mip_dual_bound", None),
        )
        if mine.choice is not None and scaled(
            goal, mine.cost, mine.latency, cost_ref, latency_ref
        ) < scaled(goal, *evaluate(p, choice), cost_ref, latency_ref):
            return mine
        if mine.gap is not None:
            result_gap = min(result_gap, mine.gap) if result_gap else mine.gap
    if res.status == 0 and goal.objective in ("cost", "latency"):
        # Break ties: the fastest of the cheapest plans, the cheapest of the fastest.
        cost, latency = evaluate(p, choice)
        budget, deadline = goal.budget, goal.deadline
        if goal.objective == "cost":
            budget = min(cost, budget if budget is not None else math.inf)
            second = "latency"
        else:
            deadline = min(latency, deadline if deadline is not None else math.inf)
            second = "cost"
        # Ties are cosmetic: this solve starts from the plan found and gets a quarter of
        # the time the first one took (the plan is kept unless it finds a better one).
        spent = time.perf_counter() - t0
        limit = max(TIE_BREAK_MIN_S, TIE_BREAK_SHARE * spent)
        if time_limit is not None:
            limit = min(limit, time_limit)
        again = prog.run(
            vector(prog, goal, cost_ref, latency_ref, second),
            budget,
            deadline,
            limit,
            gap,
            cost_ref,
            start=choice,
        )
        if again.x is not None:
            better = prog.choice(again.x)
            c2, l2 = evaluate(p, better)
            if (
                objective_value(goal, c2, l2)
                <= objective_value(goal, cost, latency) * (1 + 1e-7) + 1e-12
            ):
                choice = better
    cost, latency = evaluate(p, choice)
    return Solution(
        choice,
        cost,
        latency,
        status="optimal" if exact else "feasible",
        exact=exact,
        gap=0.0 if exact else result_gap,
    )


def fallback(
    p: Problem, goal: Goal, kept, time_limit: float, prog=None, bound: float | None = None
) -> Solution:
    """A greedy plan, and its gap to the LP relaxation's bound (or to ``bound``)."""
    choice = greedy(p, goal, time_limit=max(time_limit, GREEDY_MIN_S))
    if choice is None:
        return Solution(None, status="timeout", method="greedy", exact=False, gap=None)
    cost, latency = evaluate(p, choice)
    cost_ref, latency_ref = refs(p)
    if bound is None:
        prog = prog or Program(p, kept)
        lp = prog.run(
            vector(prog, goal, cost_ref, latency_ref, goal.objective),
            goal.budget,
            goal.deadline,
            max(time_limit, GREEDY_MIN_S),
            EXACT_GAP,
            cost_ref,
            relax=True,
        )
        bound = lp.fun if lp.x is not None else None
    value = scaled(goal, cost, latency, cost_ref, latency_ref)
    gap = None if bound is None or value <= 0 else max(0.0, (value - bound) / value)
    return Solution(choice, cost, latency, status="feasible", method="greedy", exact=False, gap=gap)
