"""The compiled plan: a versioned, self-contained JSON artifact.

A plan holds everything the runtime needs — every node's operation, template or
builtin call, output schema, assignment (model + chip + litellm string), ranked
alternatives, estimates — so running it needs no `.het` file.  It never holds a secret:
an offer names the *variable* that holds its key (``api_key_env``), never the key.

Its JSON is a contract (tools and outside tests read it); ``plan_version`` is bumped on
any incompatible change and :func:`upgrade` brings older plans forward.

>>> p = Plan(workflow="w", objective="cost", nodes=[], edges=[])
>>> Plan.model_validate_json(p.model_dump_json()).plan_version == PLAN_VERSION
True
"""

from __future__ import annotations

import json
import os
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hetflow.errors import HetError

PLAN_VERSION = 1

NodeOp = Literal[
    "extract", "reduce", "reason", "zoom", "recurse.root", "recurse.repl", "recurse.sub"
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=False)


class Assignment(_Model):
    """An offer chosen for a node: a model served on a chip, and how to reach it.

    The figures are copied from the catalog so that the runtime (budget, concurrency)
    and ``hetflow simulate`` need only the plan.
    """

    model: str
    chip: str
    litellm: str
    offer: str = ""  # "MODEL@CHIP"
    provider: str | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    client: str | None = None  # "openai" | "litellm"; None: by provider
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    per_hour: float | None = None
    output_tps: float = 0.0
    prefill_tps: float = 0.0
    ttft_ms: float = 0.0
    concurrency: int = 1
    # Output tokens a second summed over k requests in flight, measured (None: it scales)
    throughput: dict[int, float] | None = None
    prefix_cache: bool = False  # the server keeps a conversation's prefix (hetflow.perf)
    handoff_ms: float = 0.0
    context: int = 0
    structured_output: str | None = None  # json_schema | json_object | none; None: by provider
    # A local offer (served by hetflow in this process): see docs/catalog.md.
    serve: str | None = None
    gguf: str | None = None
    gguf_sha256: str | None = None
    n_ctx: int | None = None
    threads: int | None = None
    port: int | None = None
    # What this node would cost and take on this offer (set on alternatives for explain).
    cost_usd: float | None = None
    latency_s: float | None = None
    # Hidden reasoning on this offer: the effort its calls run at (None: the model does
    # not reason) and the typical reasoning tokens of one call, billed as output.
    reasoning_effort: str | None = None
    reasoning_tokens: float = 0.0


class Considered(_Model):
    """An offer the optimizer considered for a node, with the node's figures on it.

    Kept in the plan so that ``hetflow explain`` needs no catalog: a plan explains itself
    with the catalog it was compiled with.
    """

    offer: str
    model: str
    chip: str
    litellm: str = ""
    cost_usd: float = 0.0
    latency_s: float = 0.0
    context: int = 0


class Estimate(_Model):
    """A node's estimate; tokens are totals over all of the node's calls."""

    calls: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    # How the calls run (the optimizer's model): `rounds` one after another, each of
    # `parallel` calls at once (in waves of the offer's concurrency); tokens per call.
    rounds: float = 0.0
    parallel: float = 0.0
    input_tokens_per_call: float = 0.0
    output_tokens_per_call: float = 0.0
    # Of each call's input, the tokens a server that keeps the conversation's prefix
    # cached must still read (a recursion's later turns re-send the earlier ones); None:
    # every input token is read afresh.  Only an offer with `prefix_cache` uses it.
    prefill_tokens_per_call: float | None = None
    cpu_s: float = 0.0  # a CPU node's time
    start_s: float = 0.0  # when the node starts in the optimizer's schedule
    # A recurse node whose work was measured from traced runs (`--calibrate`): how many
    # runs; None when the work comes from the estimator's constants.
    calibrated_from_runs: int | None = None
    # Hidden reasoning: tokens on the assigned offer (all calls; output_tokens are the
    # visible answer), and per model the tokens per call traced (--calibrate).
    reasoning_tokens: float = 0.0
    reasoning_traced: dict[str, float] = Field(default_factory=dict)


class SourceRef(_Model):
    file: str = ""
    line: int = 0
    column: int = 0


class PlanNode(_Model):
    id: str
    op: NodeOp
    step: str  # the .het step's name (a recurse part's step)
    level: int | None = None  # recurse parts: 0 = root, 1.. = sub-call depth level
    maps: list[str] = Field(default_factory=list)  # enclosing map items, outermost first
    reads: list[str] = Field(default_factory=list)  # names it uses
    type: str = "text"  # the output type as written
    output_schema: dict[str, Any] | None = None  # JSON schema for typed output
    prompt: str | None = None  # reason: prompt; zoom: goal; recurse.root: task
    builtin: dict[str, Any] | None = None  # {"name", "args": [...], "kwargs": {...}}
    input: str | None = None  # zoom: the image's name; recurse: the `over` name
    depth: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # `with` options
    needs: dict[str, float] = Field(default_factory=dict)
    needs_source: Literal["given", "derived", "none"] = "none"
    needs_why: str | None = None
    pin: dict[str, str | None] | None = None
    assignment: Assignment | None = None  # None: runs on the CPU, no model
    alternatives: list[Assignment] = Field(default_factory=list)
    candidates: list[Considered] = Field(default_factory=list)  # every offer considered
    estimate: Estimate = Field(default_factory=Estimate)
    source: SourceRef = Field(default_factory=SourceRef)
    why: str | None = None  # why the optimizer chose this assignment (hetflow explain)
    # measured quality (hetflow tune) that decided the candidates: target, against,
    # and per offer {score, n, low}; None when the step was placed by skill levels
    quality: dict[str, Any] | None = None


class PlanInput(_Model):
    name: str
    type: str
    size_tokens: float | None = None
    json_schema: dict[str, Any] | None = None


class MapScope(_Model):
    item: str
    over: str
    parent: str | None = None
    body: list[str] = Field(default_factory=list)
    cardinality: float = 1.0
    # traced runs its cardinality was taken from (its list's size was only assumed)
    calibrated_from_runs: int | None = None


class PlanEstimate(_Model):
    cost_usd: float = 0.0
    latency_s: float = 0.0
    critical_path: list[str] = Field(default_factory=list)
    calls: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    reasoning_tokens: float = 0.0  # hidden, billed as output, not in output_tokens


class Baseline(_Model):
    """The same workflow with every model step on the single strongest offer."""

    model: str = ""
    chip: str = ""
    litellm: str = ""
    cost_usd: float = 0.0
    latency_s: float = 0.0
    cheaper_x: float | None = None  # baseline cost / plan cost
    faster_x: float | None = None  # baseline latency / plan latency
    reasoning_effort: str | None = None  # where a step sets none (None: no reasoning)
    reasoning_tokens: float = 0.0  # hidden reasoning of the whole baseline run


class Plan(_Model):
    plan_version: int = PLAN_VERSION
    hetflow_version: str = ""
    workflow: str
    objective: Literal["cost", "latency", "balanced"] = "balanced"
    budget_usd: float | None = None
    deadline_s: float | None = None
    source: dict[str, str] = Field(default_factory=dict)  # file, sha256
    catalog: dict[str, str] = Field(default_factory=dict)  # name, sha256
    # Offers whose speeds --calibrate fitted to traced calls: offer id -> how
    calibrated_offers: dict[str, str] = Field(default_factory=dict)
    optimizer: dict[str, Any] = Field(default_factory=dict)  # method, exact, gap, time_s
    inputs: list[PlanInput] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    schemas: dict[str, dict[str, Any]] = Field(default_factory=dict)
    maps: list[MapScope] = Field(default_factory=list)
    nodes: list[PlanNode]
    edges: list[tuple[str, str]]
    estimate: PlanEstimate = Field(default_factory=PlanEstimate)
    baseline: Baseline = Field(default_factory=Baseline)
    warnings: list[str] = Field(default_factory=list)

    # ------------------------------------------------------------ access
    def node(self, node_id: str) -> PlanNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def map_scope(self, item: str) -> MapScope:
        for m in self.maps:
            if m.item == item:
                return m
        raise KeyError(item)

    def comparison(self) -> str:
        """``6.8x cheaper, 4.9x faster than all on gpt-5 @ nvidia-h100``; a ratio that
        rounds to 1.0x is said as the same (``the same cost and speed as all on ...``)."""
        b = self.baseline
        if not b.model:
            return "no model steps: nothing to compare"

        def ratio(x: float | None, word: str, inverse: str) -> str | None:
            if x is None or x <= 0 or round(x, 1) == 1.0 or round(1 / x, 1) == 1.0:
                return None  # the same
            return f"{x:.1f}x {word}" if x >= 1 else f"{1 / x:.1f}x {inverse}"

        effort = ""
        if b.reasoning_effort:
            effort = f" at reasoning effort {b.reasoning_effort}"
            if any((n.options or {}).get("reasoning_effort") for n in self.nodes):
                effort += " (or the step's own)"
        cost = ratio(b.cheaper_x, "cheaper", "costlier")
        speed = ratio(b.faster_x, "faster", "slower")
        where = f"all on {b.model} @ {b.chip}{effort}"
        if cost and speed:
            return f"{cost}, {speed} than {where}"
        if cost:
            return f"{cost} than {where}, at the same speed"
        if speed:
            return f"{speed} than {where}, at the same cost"
        return f"the same cost and speed as {where}"

    # ------------------------------------------------------------ disk
    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_none=False)

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Plan:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise HetError(f"{p}: no such plan file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HetError(f"{p}: not a plan file ({exc})") from None
        except RecursionError:
            raise HetError(f"{p}: not a plan file (nested too deeply)") from None
        return cls.from_dict(data, str(p))

    @classmethod
    def from_dict(cls, data: Any, where: str = "plan") -> Plan:
        if not isinstance(data, dict) or "plan_version" not in data:
            raise HetError(f"{where}: not a hetflow plan (no plan_version)")
        data = upgrade(data, where)
        try:
            plan = cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(x) for x in first["loc"])
            raise HetError(f"{where}: invalid plan at '{loc}': {first['msg']}") from None
        problem = plan.broken_link() or plan.bad_schema()
        if problem:
            raise HetError(f"{where}: invalid plan: {problem}")
        return plan

    def broken_link(self) -> str | None:
        """What in the plan refers to something it does not hold, or depends on itself.

        A compiled plan never does; a plan file edited by hand (or damaged) may, and the
        commands that read one say so instead of failing somewhere inside.
        """
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            return f"node '{next(i for i in ids if ids.count(i) > 1)}' appears twice"
        items = {m.item for m in self.maps}
        steps = {n.step for n in self.nodes}
        known = {i.name for i in self.inputs} | steps | items

        def unknown(names) -> str | None:
            return next((x for x in names if x not in known), None)

        for m in self.maps:
            if m.over not in known:
                return f"map '{m.item}' is over '{m.over}', which nothing defines"
            if m.parent is not None and m.parent not in items:
                return f"map '{m.item}' is inside '{m.parent}', which is no map"
            stray = next((b for b in m.body if b not in steps and b not in ids), None)
            if stray is not None:
                return f"map '{m.item}' holds '{stray}', which is no node of the plan"
        for n in self.nodes:
            refs = [a["ref"] for a in self._builtin_args(n) if isinstance(a, dict) and "ref" in a]
            name = unknown([*n.reads, *refs, *([n.input] if n.input else [])])
            if name is not None:
                return f"node '{n.id}' reads '{name}', which nothing defines"
            if any(i not in items for i in n.maps):
                return (
                    f"node '{n.id}' is inside '{next(i for i in n.maps if i not in items)}', no map"
                )
        for a, b in self.edges:
            if a not in ids or b not in ids:
                return f"edge {a} -> {b} names a node the plan does not hold"
        name = next((o for o in self.outputs if o not in known), None)
        if name is not None:
            return f"output '{name}' is nothing the plan defines"
        of_step: dict[str, list[str]] = {}
        for n in self.nodes:
            of_step.setdefault(n.step, []).append(n.id)
        graph: dict[str, set[str]] = {}
        for n in self.nodes:
            needs = graph.setdefault(n.id, set())
            for x in n.reads:
                if x != n.step:  # a recurse part and its own step's other parts
                    needs.update(of_step.get(x, ()))
        for a, b in self.edges:
            graph.setdefault(b, set()).add(a)
        try:
            TopologicalSorter(graph).prepare()
        except CycleError as exc:
            return "its steps depend on each other in a cycle: " + " -> ".join(exc.args[1])
        return None

    def bad_schema(self) -> str | None:
        """The first JSON schema of the plan that is not a valid JSON schema."""
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        held = [(f"input '{i.name}'", i.json_schema) for i in self.inputs]
        held += [(f"node '{n.id}'", n.output_schema) for n in self.nodes]
        held += [(f"schema '{name}'", schema) for name, schema in self.schemas.items()]
        for what, schema in held:
            if schema is None:
                continue
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                return f"the JSON schema of {what} is not valid ({exc.message})"
        return None

    @staticmethod
    def _builtin_args(node: PlanNode) -> list:
        b = node.builtin or {}
        args = b.get("args")
        kwargs = b.get("kwargs")
        return [
            *(args if isinstance(args, list) else []),
            *(kwargs.values() if isinstance(kwargs, dict) else []),
        ]


def upgrade(data: dict[str, Any], where: str = "plan") -> dict[str, Any]:
    """Bring a plan written by an older hetflow to the current version."""
    version = data.get("plan_version")
    if not isinstance(version, int):
        raise HetError(f"{where}: plan_version must be a whole number")
    if version > PLAN_VERSION:
        raise HetError(
            f"{where}: plan_version {version} is newer than this hetflow reads "
            f"({PLAN_VERSION}); upgrade hetflow"
        )
    return data


def json_schema() -> dict[str, Any]:
    """The plan's JSON schema (checked in under docs/plan.schema.json)."""
    return Plan.model_json_schema()
