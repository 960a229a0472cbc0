"""The tune loop: every candidate of every model step, on the samples, within a budget.

For one step it runs a sub-plan — the step and everything it reads, the other model
steps on their reference offer — once per sample and candidate. Upstream calls are the
same for every candidate, so after the first they come from the run cache: a step's
candidates are paid for their own calls only, and a second tune of the same samples pays
nothing. Candidates are compared round by round (successive halving, as the Abacus
optimizer does): after each round, one whose interval lies wholly below the best's is
dropped and runs no more samples.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from hetflow.catalog import Catalog, load_catalog
from hetflow.compiler import compile
from hetflow.errors import HetError
from hetflow.estimate.complexity import kind_of
from hetflow.estimate.quality import CandidateScore, Quality, StepQuality, wilson
from hetflow.optimize.candidates import SKILL_NAMES, offers_meeting, pin_filter
from hetflow.optimize.context import to_assignment, work_of
from hetflow.plan.model import Assignment, Plan, PlanNode
from hetflow.runtime import run as run_plan
from hetflow.runtime.inputs import coerce_inputs, for_sizing
from hetflow.tune.samples import Sample, load_samples
from hetflow.tune.score import score

TUNED_OPS = ("reason", "zoom")


@dataclass
class _Candidate:
    offer: Any  # a catalog Offer
    scores: list[float] = field(default_factory=list)
    kept: list[float] = field(default_factory=list)  # scores of answers it did not give up
    failed: int = 0
    cost: float = 0.0
    latency: float = 0.0
    pruned: bool = False

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else 0.0

    def interval(self) -> tuple[float, float]:
        return wilson(self.mean, len(self.scores))


@dataclass
class Progress:
    """What the command shows while tune runs: calls for each (step, offer, sample)."""

    total: int = 0
    done: int = 0
    spent: float = 0.0
    on_update: Callable[[Progress, str], None] | None = None

    def tick(self, what: str) -> None:
        self.done += 1
        if self.on_update:
            self.on_update(self, what)


def strength(cat: Catalog, offer, needs: dict[str, float]) -> tuple:
    """How strong an offer is for a step by the catalog: its skills where the step needs
    them (all skills when it states none), then its price (dearer first)."""
    model = cat.model_of(offer)
    keys = [k for k in SKILL_NAMES if needs.get(k)] or list(SKILL_NAMES)
    return (sum(model.skill(k) for k in keys), offer.output_per_mtok or 0.0)


def step_candidates(cat: Catalog, node: PlanNode) -> list:
    """What tune measures for a step: every offer that fits its window and pin and meets
    the needs the user gave (derived needs are what measuring replaces)."""
    w = work_of(node)
    tokens = math.ceil(w.input_tokens + w.output_tokens)
    given = node.needs if node.needs_source == "given" else {}
    return offers_meeting(cat, pin_filter(cat, node.pin), given, tokens)


def sub_plan(plan: Plan, step: PlanNode, placed: dict[str, Assignment]) -> Plan:
    """The step and everything it reads, with ``placed`` assignments and no fallbacks;
    its one output is the step."""
    by_step: dict[str, list[PlanNode]] = {}
    for n in plan.nodes:
        by_step.setdefault(n.step, []).append(n)
    scopes = {m.item: m for m in plan.maps}
    g = nx.DiGraph(plan.edges)
    keep: set[str] = set()
    todo = [step]
    while todo:
        n = todo.pop()
        if n.id in keep:
            continue
        keep.add(n.id)
        names = list(n.reads) + ([n.input] if n.input else [])
        for item in n.maps:  # a map body reads what its map (and any outer map) is over
            scope = scopes[item]
            names.append(scope.over)
        for name in names:
            todo.extend(by_step.get(name, []))
        if n.id in g:
            todo.extend(plan.node(a) for a in g.predecessors(n.id))
    data = plan.model_dump(mode="json")
    data["nodes"] = [d for d in data["nodes"] if d["id"] in keep]
    data["edges"] = [e for e in data["edges"] if e[0] in keep and e[1] in keep]
    steps = {d["step"] for d in data["nodes"]}
    used = {i for d in data["nodes"] for i in d["maps"]}
    data["maps"] = [
        {**m, "body": [b for b in m["body"] if b in keep or b in steps]}
        for m in data["maps"]
        if m["item"] in used
    ]
    data["outputs"] = [step.step]
    data["budget_usd"] = None
    for d in data["nodes"]:
        if d["id"] in placed:
            d["assignment"] = placed[d["id"]].model_dump(mode="json")
            d["alternatives"] = []
    return Plan.from_dict(data, f"the sub-plan of step '{step.step}'")


async def tune(
    source: str,
    samples_path: str,
    *,
    catalog: str | None = None,
    workflow: str | None = None,
    budget: float | None = None,
    reference: str | None = None,
    cache: Any = True,
    rounds: int = 3,
    progress: Progress | None = None,
) -> Quality:
    """Measure every model step's candidates on the samples; see the module's doc."""
    cat = load_catalog(catalog)
    first = compile(source, catalog=cat, workflow=workflow)
    samples = load_samples(samples_path, first)
    for s in samples:  # every sample must be runnable before a cent is spent
        try:
            coerce_inputs(first, s.inputs)
        except HetError as exc:
            raise HetError(f"{samples_path}:{s.line}: inputs: {exc}") from None
    plan = compile(source, catalog=cat, workflow=workflow, inputs=for_sizing(samples[0].inputs))
    steps = [n for n in plan.nodes if n.op in TUNED_OPS and n.assignment is not None]
    if not steps:
        raise HetError(f"{source}: no reason or zoom step to tune")
    cands = {n.id: step_candidates(cat, n) for n in steps}
    refs = {n.id: _reference(cat, n, cands[n.id], reference) for n in steps}
    placed = {n.id: to_assignment(cat, refs[n.id], work_of(n)) for n in steps}
    progress = progress or Progress()
    progress.total = sum(len(c) for c in cands.values()) * len(samples)
    quality = Quality(
        workflow=plan.workflow,
        source_sha256=plan.source.get("sha256", ""),
        catalog=cat.name,
        samples=len(samples),
    )
    spent = 0.0
    for node in steps:
        measured, cost = await _tune_step(
            plan,
            node,
            cands[node.id],
            refs[node.id],
            placed,
            samples,
            cat,
            budget=None if budget is None else budget - spent,
            cache=cache,
            rounds=rounds,
            progress=progress,
        )
        spent += cost
        quality.steps[node.step] = measured
        if budget is not None and spent >= budget:
            break
    quality.spent_usd = round(spent, 6)
    return quality


def _reference(cat: Catalog, node: PlanNode, offers: list, named: str | None):
    if not offers:
        raise HetError(f"step '{node.step}': no offer of the catalog fits it")
    if named:
        mine = [o for o in offers if o.model == named or o.id == named]
        if not mine:
            raise HetError(
                f"--reference {named}: not a candidate of step '{node.step}' "
                f"(its candidates: {', '.join(o.id for o in offers)})"
            )
        return min(mine, key=lambda o: o.output_per_mtok or 0.0)
    return max(offers, key=lambda o: strength(cat, o, node.needs))


async def _tune_step(
    plan: Plan,
    node: PlanNode,
    offers: list,
    ref,
    placed: dict[str, Assignment],
    samples: list[Sample],
    cat: Catalog,
    *,
    budget: float | None,
    cache: Any,
    rounds: int,
    progress: Progress,
) -> tuple[StepQuality, float]:
    expected_name = node.step
    against = "expect" if all(expected_name in s.expect for s in samples) else f"reference:{ref.id}"
    cands = {o.id: _Candidate(o) for o in offers}
    schema = node.output_schema
    spent = 0.0
    size = max(1, math.ceil(len(samples) / max(1, rounds)))
    stopped = False
    for start in range(0, len(samples), size):
        batch = samples[start : start + size]
        for sample in batch:
            if stopped or (budget is not None and spent >= budget):
                stopped = True
                break
            answers: dict[str, Any] = {}
            alive = [c for c in cands.values() if not c.pruned or c.offer.id == ref.id]
            alive.sort(key=lambda c: c.offer.id != ref.id)
            # The reference first, alone: it pays for the upstream calls the others
            # then find in the cache.
            left = None if budget is None else budget - spent
            first = await _answer(plan, node, ref, placed, sample, cat, cache, left)
            # the others run at once, each within its share of what is left: together
            # they never spend more than the budget
            if left is not None:
                left = (left - first[2]) / max(1, len(alive) - 1)
            results = [first]
            results += await asyncio.gather(
                *(_answer(plan, node, c.offer, placed, sample, cat, cache, left) for c in alive[1:])
            )
            if any(r[0] is None for r in results):
                # the budget stopped a call: this sample is not scored, and tune ends
                spent += sum(r[2] for r in results)
                stopped = True
                break
            for c, (ok, value, cost, latency) in zip(alive, results, strict=True):
                spent += cost
                c.cost += cost
                c.latency += latency
                progress.spent += cost
                progress.tick(f"{node.step} on {c.offer.id}")
                answers[c.offer.id] = (ok, value)
                if not ok:
                    c.failed += 1
            for c in alive:
                ok, value = answers[c.offer.id]
                if expected_name in sample.expect:
                    target = sample.expect[expected_name]
                else:
                    ref_ok, target = answers[ref.id]
                    if not ref_ok:
                        continue  # no reference answer to compare with: not scored
                    if c.offer.id == ref.id:
                        c.scores.append(1.0)
                        c.kept.append(1.0)
                        continue
                c.scores.append(score(target, value, schema) if ok else 0.0)
                if ok:
                    c.kept.append(c.scores[-1])
        # a cascade's first stage is judged by the answers it keeps, not those it gives up
        _prune(cands, keep=ref.id, kept=bool((node.options or {}).get("escalate")))
        if stopped:
            break
    out = []
    for c in cands.values():
        n = len(c.scores)
        low, high = c.interval()
        runs = max(1, n + (0 if n else c.failed))
        out.append(
            CandidateScore(
                offer=c.offer.id,
                model=c.offer.model,
                chip=c.offer.chip,
                score=round(c.mean, 6),
                n=n,
                low=round(low, 6),
                high=round(high, 6),
                escalation_rate=round(c.failed / runs, 6) if runs else 0.0,
                accepted_score=round(sum(c.kept) / len(c.kept), 6) if c.kept else 0.0,
                cost_usd=round(c.cost / runs, 8),
                latency_s=round(c.latency / runs, 4),
                pruned=c.pruned,
                reasoning=cat.model_of(c.offer).skill("reasoning"),
            )
        )
    w = work_of(node)
    return (
        StepQuality(
            step=node.step,
            kind=node.op,
            typed=schema is not None,
            tokens_per_call=round(w.input_tokens, 1),
            work=kind_of(node.prompt or ""),
            needs=dict(node.needs),
            against=against,
            candidates=sorted(out, key=lambda c: -c.score),
        ),
        spent,
    )


def _prune(cands: dict[str, _Candidate], keep: str, kept: bool = False) -> None:
    """Drop a candidate whose interval lies wholly below the best one's."""

    def interval(c: _Candidate) -> tuple[float, float]:
        if not kept:
            return c.interval()
        return wilson(sum(c.kept) / len(c.kept), len(c.kept)) if c.kept else (0.0, 1.0)

    scored = [c for c in cands.values() if c.scores and not c.pruned]
    if len(scored) < 2:
        return
    best_low = max(interval(c)[0] for c in scored)
    for c in scored:
        if c.offer.id != keep and interval(c)[1] < best_low:
            c.pruned = True


async def _answer(
    plan: Plan,
    node: PlanNode,
    offer,
    placed: dict[str, Assignment],
    sample: Sample,
    cat: Catalog,
    cache: Any,
    budget: float | None,
) -> tuple[bool | None, Any, float, float]:
    """The step's answer on ``offer`` for one sample: (ok, value, cost, latency); ok is
    None when the budget stopped the run (not the candidate's fault)."""
    mine = dict(placed)
    mine[node.id] = to_assignment(cat, offer, work_of(node))
    sub = sub_plan(plan, node, mine)
    if budget is not None and budget <= 0:
        return None, None, 0.0, 0.0
    result = await run_plan(sub, dict(sample.inputs), journal=False, cache=cache, budget=budget)
    mine_calls = [r for r in result.trace if r.get("step") == node.step]
    latency = sum(float(r.get("latency_s") or 0.0) for r in mine_calls)
    if result.stopped:
        return None, None, float(result.cost_usd), latency
    ok = node.step in result.outputs and not result.failed
    return ok, result.outputs.get(node.step), float(result.cost_usd), latency
