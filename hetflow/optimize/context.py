"""What the optimizer's passes share besides the plan: the catalog, the constraints'
positions in the source (for diagnostics), and what earlier passes found.

>>> from hetflow.estimate.sizes import Work
>>> from hetflow.plan.model import PlanNode
>>> work_of(PlanNode(id="a", op="reason", step="a")).calls
0.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hetflow.errors import Diagnostic, DiagnosticError, HetError, SourcePosition
from hetflow.estimate.sizes import Work
from hetflow.optimize.model import (
    Option,
    Problem,
    Solution,
    node_cost,
    node_latency,
    reasoning_per_call,
    window,
)
from hetflow.plan.model import Assignment, PlanNode

if TYPE_CHECKING:
    from hetflow.catalog import Catalog, Offer
    from hetflow.estimate.quality import Quality

CPU_CHIP = "cpu"
MODEL_OPS = ("reason", "zoom", "recurse.root", "recurse.sub")


@dataclass
class Context:
    """The optimizer's inputs that are not in the plan, and its working state."""

    catalog: Catalog
    # Source positions: node id -> {"step", "needs", "pin"}; None when not from a file.
    where: dict[str, dict[str, SourcePosition]] = field(default_factory=dict)
    budget_pos: SourcePosition | None = None
    deadline_pos: SourcePosition | None = None
    sources: dict[str, str] = field(default_factory=dict)
    time_limit: float | None = None
    # Measured quality (hetflow tune) and the target a measured step's placement meets;
    # a step's `with min_quality=` overrides the target.
    quality: Quality | None = None
    min_quality: float | None = None
    # Tuned workflows whose measurements predict the needs of steps nobody measured.
    learn_from: list[Quality] = field(default_factory=list)
    # Filled by the passes.
    candidates: dict[str, list[Offer]] = field(default_factory=dict)
    problem: Problem | None = None
    solution: Solution | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, pos: SourcePosition | None, *notes: str) -> None:
        """Record a diagnostic; without a position (a command-line value) it is one line."""
        if pos is None:
            raise HetError(message)
        self.diagnostics.append(Diagnostic("error", message, pos, tuple(notes)))

    def placed(self) -> tuple[Problem, list[int]]:
        """The problem and the choice the ``assign`` pass made, for the passes after it."""
        if self.problem is None or self.solution is None or self.solution.choice is None:
            raise RuntimeError("the assign pass has not placed the plan yet")
        return self.problem, self.solution.choice

    def raise_errors(self) -> None:
        if any(d.is_error for d in self.diagnostics):
            raise DiagnosticError(self.diagnostics, self.sources)


def is_model_node(node: PlanNode) -> bool:
    return node.op in MODEL_OPS


def work_of(node: PlanNode) -> Work:
    """The node's work as the estimator gave it (kept in the plan's estimate)."""
    e = node.estimate
    effort = (node.options or {}).get("reasoning_effort")
    return Work(
        e.rounds,
        e.parallel,
        e.input_tokens_per_call,
        e.output_tokens_per_call,
        e.cpu_s,
        effort=effort if isinstance(effort, str) else None,
        reasoning=tuple(e.reasoning_traced.items()),
        prefill_tokens=e.prefill_tokens_per_call,
    )


def to_assignment(catalog: Catalog, offer: Offer, work: Work | None = None):
    """The plan's record of an offer, with what the node costs and takes on it."""
    chip = catalog.chip_of(offer)
    a = Assignment(
        model=offer.model,
        chip=offer.chip,
        litellm=offer.litellm,
        offer=offer.id,
        provider=offer.provider,
        api_base=offer.api_base,
        api_key_env=offer.api_key_env,
        client=offer.client,
        **offer.figures(),
        handoff_ms=chip.handoff_ms,
        context=window(catalog, offer),
        structured_output=offer.structured_output,
        serve=offer.serve,
        gguf=offer.gguf,
        gguf_sha256=offer.gguf_sha256,
        n_ctx=offer.n_ctx,
        threads=offer.threads,
        port=offer.port,
    )
    if work is not None:
        a.cost_usd = node_cost(offer, work)
        a.latency_s = node_latency(offer, work)
        if offer.thinking is not None or work.reasoning:
            a.reasoning_tokens = reasoning_per_call(offer, work)
            a.reasoning_effort = offer.thinking.effort(work.effort) if offer.thinking else None
    return a


def build_problem(plan, catalog: Catalog, offers_of) -> Problem:
    """The plan as numbers: ``offers_of(node)`` lists a model node's offers."""
    ids = [n.id for n in plan.nodes]
    index = {node_id: i for i, node_id in enumerate(ids)}
    options = []
    for node in plan.nodes:
        w = work_of(node)
        if not is_model_node(node):
            options.append([Option(0.0, w.cpu_s, CPU_CHIP)])
            continue
        options.append(
            [Option(node_cost(o, w), node_latency(o, w), o.chip, o.id) for o in offers_of(node)]
        )
    edges = [(index[u], index[v]) for u, v in plan.edges if u in index and v in index]
    handoff = {name: chip.handoff_ms / 1000.0 for name, chip in catalog.chips.items()}
    return Problem(options, edges, handoff, ids)
