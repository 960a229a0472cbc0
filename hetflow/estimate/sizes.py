"""Sizes, token counts and call counts for every node, before any model is called.

Sizes flow from the inputs (``input x: text ~ 128k tokens``, real values, or the
command line's ``--input-size``) through the builtins' own ``estimate`` rules and the
prompt templates to every node's *work*: how many calls it makes, how many of them can
run side by side, and how many tokens go in and come out of each.  The optimizer prices
that work on every offer.  Every constant below is a rule of thumb, stated once and
documented in ``docs/optimizer.md``; none is hidden in the code.

>>> from hetflow.syntax.loader import load_or_raise
>>> from hetflow.plan.graph import build_graph
>>> prog = load_or_raise('workflow w {\\n input x: text ~ 8k tokens\\n'
...                      ' reason y = prompt "Sum up {{ x }}"\\n output y\\n}')
>>> wf = prog.workflows[0]
>>> est = estimate(wf, build_graph(wf), {}, prog.schemas)
>>> w = est.work["y"]
>>> (w.calls, w.input_tokens, w.output_tokens)
(1.0, 8012.0, 300.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hetflow.builtins.table import BUILTINS, Est, count_tokens
from hetflow.plan.json_schema import instruction, json_schema, wire_schema
from hetflow.syntax import ast

if TYPE_CHECKING:  # networkx is imported by estimate() alone: the runtime reads
    import networkx as nx  # request_tokens from here and should not pay for it

# -------------------------------------------------------------- the table (docs/optimizer.md)
DEFAULT_TEXT_TOKENS = 2_000  # an input text without a size hint
DEFAULT_LIST_ITEMS = 20  # an input list without a size hint
DEFAULT_ITEM_TOKENS = 150  # one text item of a list
IMAGE_TOKENS = 1_500  # an image in a vision prompt (and a zoom's crop)
SMALL_TOKENS = 2  # a number, a bool, an enum value (1-3 tokens in o200k/cl100k)
JSON_TOKENS = 200  # an untyped json value
FIELD_TEXT_TOKENS = 50  # a text field of a schema
RECORD_OVERHEAD_TOKENS = 1  # a JSON record's braces
FIELD_OVERHEAD_TOKENS = 3  # a field's quotes, colon and comma (+ its name's length / 4)
OUTPUT_TEXT_TOKENS = 300  # a reason step's text answer
OUTPUT_LIST_ITEMS = 10  # a model's list answer
ZOOM_OUTPUT_TOKENS = 40  # the box a zoom's model answers
CHAT_FRAME_TOKENS = 10  # a call's chat template: role markers around its messages
ZOOM_PROMPT_TOKENS = 65  # a zoom's fixed words around its goal (the image size, the box)
RECURSE_ITERATIONS = 6  # root turns of a recursion (capped by `with max_iterations=`)
RECURSE_SYSTEM_TOKENS = 339  # the REPL instructions the root model reads each turn
RECURSE_PREVIEW_TOKENS = 180  # the first prompt's context description and 600-char preview
RECURSE_CODE_TOKENS = 400  # code a root model writes per turn
RECURSE_REPL_TOKENS = 500  # REPL output fed back per turn
SUB_CHUNK_TOKENS = 8_000  # the piece of context one leaf sub-call reads
SUB_SPLIT = 4  # an inner level's piece is SUB_SPLIT x its children's
SUB_TURNS = 3  # turns of an inner level's own small recursion
SUB_PROMPT_TOKENS = 200  # the instruction around a sub-call's piece
SUB_OUTPUT_TOKENS = 200  # a sub-call's answer
CPU_STEP_S = 0.002  # a builtin's fixed time on the CPU
CPU_S_PER_TOKEN = 1e-7  # ... plus this per token it reads (10M tokens/s)
REPL_S_PER_TURN = 0.2  # running one cell of the REPL sandbox
PRIOR_CALLS = 1  # calibration: the rule of thumb weighs as much as this many traced calls

_TEMPLATE_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


@dataclass(frozen=True)
class Work:
    """What a node does: ``rounds`` one after another, each of ``parallel`` calls at once.

    Token counts are per call.  A CPU node has no calls and takes ``cpu_s`` seconds.
    ``output_tokens`` are the visible answer; hidden reasoning depends on the model, so
    the optimizer adds it per offer (at ``effort``, the step's ``reasoning_effort``), or
    takes it from ``reasoning``: tokens per call traced on a model, as (model, tokens).
    """

    rounds: float = 0.0
    parallel: float = 0.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    cpu_s: float = 0.0
    effort: str | None = None
    reasoning: tuple[tuple[str, float], ...] = ()
    # Per call, the input tokens not in a prefix the server saw on an earlier call of
    # the same conversation (a recursion's turns); None: all of ``input_tokens``.
    prefill_tokens: float | None = None

    @property
    def calls(self) -> float:
        return self.rounds * self.parallel


@dataclass
class Estimates:
    """Every node's work, every name's size, every map's cardinality."""

    work: dict[str, Work] = field(default_factory=dict)
    values: dict[str, Est] = field(default_factory=dict)  # as seen after every map
    cardinality: dict[str, float] = field(default_factory=dict)  # items per parent item
    input_sizes: dict[str, Est] = field(default_factory=dict)
    calibrated: dict[str, int] = field(default_factory=dict)  # node -> traced runs behind it
    calibrated_maps: dict[str, int] = field(default_factory=dict)  # map -> traced runs
    # node -> model -> hidden reasoning tokens per call, as traced
    reasoning: dict[str, dict[str, float]] = field(default_factory=dict)


# -------------------------------------------------------------- sizes of types


def type_tokens(
    t: ast.TypeRef | None,
    schemas: Mapping[str, ast.Schema],
    items: float = OUTPUT_LIST_ITEMS,
    _seen: frozenset = frozenset(),
) -> float:
    """The usual size of a value of a type, in tokens (a list: ``items`` items).

    >>> type_tokens(ast.TypeRef("list", item=ast.NUMBER), {}, items=4)
    8.0
    """
    if t is None or t.name == "text":
        return float(FIELD_TEXT_TOKENS if _seen else OUTPUT_TEXT_TOKENS)
    if t.name in ("number", "bool", "enum"):
        return float(SMALL_TOKENS)
    if t.name == "image":
        return float(IMAGE_TOKENS)
    if t.name == "list":
        return items * type_tokens(t.item, schemas, items, _seen | {"list"})
    schema = schemas.get(t.name)
    if schema is None or t.name in _seen:
        return float(JSON_TOKENS)
    inner = _seen | {t.name}
    return RECORD_OVERHEAD_TOKENS + sum(
        FIELD_OVERHEAD_TOKENS + float(len(f.name)) / 4 + type_tokens(f.type, schemas, items, inner)
        for f in schema.fields
    )


# the {"value": ...} a typed answer that is not a record is wrapped in on the wire
WRAPPER_TOKENS = RECORD_OVERHEAD_TOKENS + FIELD_OVERHEAD_TOKENS + len("value") / 4


def output_tokens(
    t: ast.TypeRef | None, clauses: ast.Clauses, schemas: Mapping[str, ast.Schema]
) -> float:
    """A model call's answer: the type's usual size, at most ``with max_tokens=``.

    ``max_tokens`` is a cap, not a length: real answers measured on local and hosted
    models came to about half of it, so estimating every call at its cap overstated
    output tokens (and the latency they drive) about twofold.
    """
    usual = type_tokens(t, schemas)
    if t is not None and t.name != "text" and t.name not in schemas:
        usual += WRAPPER_TOKENS  # a number, list, enum ... answers {"value": ...}
    cap = clauses.option("max_tokens")
    if isinstance(cap, (int, float)) and not isinstance(cap, bool) and cap > 0:
        return min(float(cap), usual)
    return usual


def default_size(t: ast.TypeRef, schemas: Mapping[str, ast.Schema]) -> Est:
    """The size of an input that says nothing about its size."""
    if t.name == "list":
        per = (
            DEFAULT_ITEM_TOKENS
            if t.item is None or t.item.name == "text"
            else type_tokens(t.item, schemas)
        )
        return Est(DEFAULT_LIST_ITEMS * per, DEFAULT_LIST_ITEMS)
    if t.name == "text":
        return Est(DEFAULT_TEXT_TOKENS)
    if t.name == "json":
        return Est(JSON_TOKENS)
    return Est(type_tokens(t, schemas, _seen=frozenset({"input"})))


def hinted_size(
    t: ast.TypeRef, amount: float, unit: str | None, schemas: Mapping[str, ast.Schema]
) -> Est:
    """An input's size from a hint: ``~ 128k tokens`` or ``~ 40 items``.

    A list is counted in items unless the hint says ``tokens``: ``~ 40`` on a list is 40
    items (docs/language.md); on anything else a size is tokens.
    """
    if t.name != "list":
        return Est(float(amount))
    per = default_size(t, schemas)
    per_item = per.tokens / (per.items or 1)
    if unit != "tokens":
        return Est(amount * per_item, float(amount))
    return Est(float(amount), max(1.0, amount / per_item))


def measured_size(value: Any) -> Est:
    """The size of a real input value (a list counts its items)."""
    if isinstance(value, (bytes, bytearray)):
        return Est(IMAGE_TOKENS)
    if isinstance(value, (list, tuple)):
        return Est(float(count_tokens(list(value))), float(len(value)))
    return Est(float(count_tokens(value)))


def instruction_tokens(t: ast.TypeRef | None, schemas: Mapping[str, ast.Schema]) -> float:
    """The JSON instruction a typed step's prompt ends with (the runtime adds it: the
    schema, in JSON, and a sentence); 0 for a text answer.

    >>> instruction_tokens(ast.NUMBER, {}), instruction_tokens(ast.TEXT, {})
    (51, 0)
    """
    if t is None or t.name in ("text", "image"):
        return 0
    wire, _ = wire_schema(json_schema(t, schemas))
    return count_tokens(instruction(wire))


def template_tokens(text: ast.Text | None, read: Any) -> float:
    """A prompt's size: its own words plus the size of every name it renders."""
    if text is None:
        return 0.0
    own = count_tokens(_TEMPLATE_CODE.sub("", text.template))
    total = float(own)
    for ref in text.refs:
        est = read(ref.name)
        total += est.tokens * (0.3 if ref.attrs else 1.0)
    return total


def request_tokens(messages: list[dict]) -> int:
    """A request as these rules count it (four characters a token, an image
    ``IMAGE_TOKENS``, the chat frame once): what the estimate would say of this very
    call.  The runtime traces it next to the tokens the model reported, so calibration
    can learn the gap (the model's tokenizer and chat template) per step.

    >>> request_tokens([{"role": "user", "content": "abcdefgh"}])
    12
    """
    total = CHAT_FRAME_TOKENS
    for m in messages:
        content = m.get("content")
        parts = content if isinstance(content, list) else [{"text": content or ""}]
        for part in parts:
            if isinstance(part, dict) and part.get("type") == "image_url":
                total += IMAGE_TOKENS
            elif isinstance(part, dict):
                total += count_tokens(str(part.get("text") or ""))
    return total


def cpu_seconds(tokens: float) -> float:
    return CPU_STEP_S + CPU_S_PER_TOKEN * tokens


# -------------------------------------------------------------- the walk


class _Walk:
    """Visits the graph's nodes in dataflow order, keeping each name's per-item size."""

    def __init__(
        self,
        wf: ast.Workflow,
        g: nx.DiGraph,
        sizes: Mapping[str, Est],
        schemas: Mapping[str, ast.Schema],
        types: Mapping[str, ast.TypeRef],
        calibration: Any = None,
    ):
        self.g, self.schemas, self.types = g, schemas, types
        self.calibration = calibration
        self.known: dict[str, Any] = {}  # name -> its real value (real inputs, and what
        # the extracts outside maps made of them)
        self.maps = g.graph.get("maps", {})
        self.out = Estimates()
        self.scope_of: dict[str, tuple[str, ...]] = {}  # name -> map items it is per
        self.per_item: dict[str, Est] = {}  # name -> size of one value
        # names whose size rests on an input's default size, not on a real value, a
        # size or a hint: a trace's observations replace those (calibration)
        self.guessed: set[str] = set()
        for inp in wf.inputs:
            self.per_item[inp.name] = sizes.get(inp.name) or default_size(inp.type, schemas)
            self.scope_of[inp.name] = ()
            self.out.input_sizes[inp.name] = self.per_item[inp.name]
            if inp.name not in sizes and inp.type.name in ("text", "list"):
                self.guessed.add(inp.name)

    # a name's size as seen from a scope: per item inside its map, a list outside
    def read(self, name: str, scope: tuple[str, ...]) -> Est:
        if name in self.maps and name not in self.per_item:
            self.card(name)
        if name not in self.per_item:
            return Est(float(DEFAULT_TEXT_TOKENS))
        est, own = self.per_item[name], self.scope_of[name]
        extra = own[_common(own, scope) :]
        for item in reversed(extra):
            n = self.cardinality(item)
            est = Est(est.tokens * n, n)
        return est

    def cardinality(self, item: str) -> float:
        if item not in self.out.cardinality:
            self.card(item)
        return self.out.cardinality[item]

    def card(self, item: str) -> None:
        """A map's items per parent item, and the size of one item.  A list whose size
        was guessed takes the item count traced runs saw, when a trace is given."""
        info = self.maps[item]
        scope = self._map_scope(item)
        over = self.read(info.over, scope)
        n = over.items if over.items is not None else float(DEFAULT_LIST_ITEMS)
        if info.over in self.guessed:
            self.guessed.add(item)
            traced = (
                self.calibration.items_per_parent(info.body, len(scope))
                if self.calibration is not None
                else None
            )
            if traced:
                n = traced
                self.out.calibrated_maps[item] = self.calibration.runs_of(info.body)
        n = max(1.0, n)
        self.out.cardinality[item] = n
        self.per_item[item] = Est(over.tokens / n)
        self.scope_of[item] = scope + (item,)

    def _map_scope(self, item: str) -> tuple[str, ...]:
        chain = []
        parent = self.maps[item].parent
        while parent is not None:
            chain.append(parent)
            parent = self.maps[parent].parent
        return tuple(reversed(chain))

    def fan_out(self, scope: tuple[str, ...]) -> float:
        return math.prod(self.cardinality(item) for item in scope)

    def item_type(
        self, name: str, declared: ast.TypeRef | None, scope: tuple[str, ...]
    ) -> ast.TypeRef | None:
        """A step's type per call: the checker's type seen from outside its maps is a
        list per map, one call answers one item."""
        t = self.types.get(name, declared)
        for _ in scope:
            if t is not None and t.is_list:
                t = t.item
        return t

    def define(self, name: str, scope: tuple[str, ...], est: Est) -> None:
        self.per_item[name] = est
        self.scope_of[name] = scope

    def value_of(self, v: ast.Value, scope: tuple[str, ...]) -> Any:
        if isinstance(v, ast.Ref):
            return self.read(v.name, scope)
        if isinstance(v, ast.ListValue):
            return [self.value_of(x, scope) for x in v.items]
        if isinstance(v, ast.Size):
            return v.value
        return v.value

    # ---- one node
    def visit(self, node_id: str) -> None:
        data = self.g.nodes[node_id]
        op, step, scope = data["op"], data["step"], tuple(data["maps"])
        if op == "input":
            return
        read = lambda name: self.read(name, scope)  # noqa: E731
        n = self.fan_out(scope)
        if op in ("extract", "reduce"):
            b = BUILTINS.get(step.call.name)
            args = [self.value_of(a, scope) for a in step.call.args]
            kwargs = {k: self.value_of(v, scope) for k, v in step.call.kwargs}
            try:
                est = b.estimate(args, kwargs) if b else Est(float(DEFAULT_TEXT_TOKENS))
            except (TypeError, ValueError, ZeroDivisionError, IndexError):
                est = Est(float(DEFAULT_TEXT_TOKENS))
            if b is not None and op == "extract" and not scope:
                est = self.measured(step, b) or est
            read_tokens = sum(a.tokens for a in args if isinstance(a, Est))
            self.define(step.name, scope, est)
            self.out.work[node_id] = Work(cpu_s=cpu_seconds(read_tokens * n))
        elif op in ("reason", "zoom"):
            text = step.prompt if op == "reason" else step.goal
            tokens_in = CHAT_FRAME_TOKENS + template_tokens(text, read)
            if op == "zoom":
                tokens_in += ZOOM_PROMPT_TOKENS + read(step.image.name).tokens
                out, value = float(ZOOM_OUTPUT_TOKENS), Est(float(IMAGE_TOKENS))
            else:
                t = self.item_type(step.name, step.type, scope)
                tokens_in += instruction_tokens(t, self.schemas)
                out = output_tokens(t, step.clauses, self.schemas)
            rounds = 1.0
            cal = self.calibration.nodes.get(node_id) if self.calibration else None
            if cal is not None:
                tokens_in, out, rounds = self.calibrated_call(cal, step, tokens_in, out)
                if cal.tokens_in_mean and self.reads_guessed(data):
                    tokens_in = cal.tokens_in_mean  # what it read in the traced runs
                self.out.calibrated[node_id] = cal.runs
            if op == "reason":
                value = Est(out, OUTPUT_LIST_ITEMS if t is not None and t.is_list else None)
            self.define(step.name, scope, value)
            self.out.work[node_id] = Work(rounds, n, tokens_in, out)
        elif op.startswith("recurse."):
            self.recurse_part(node_id, data, scope, n, read)
        name = data.get("step_name", node_id)
        if name not in self.known and self.reads_guessed(data):
            self.guessed.add(name)

    def reads_guessed(self, data: Mapping[str, Any]) -> bool:
        """Whether a node reads a name whose size was guessed (after its reads)."""
        return any(name in self.guessed for name in data.get("reads", ()))

    def calibrated_call(
        self, cal: Any, step: Any, tokens_in: float, out: float
    ) -> tuple[float, float, float]:
        """A reason/zoom call's input, answer and calls per instance from traced runs
        (docs/optimizer.md, "Calibration"): each traced figure weighs ``k / (k + 1)``
        against the rule of thumb, k its traced calls, so more runs count more."""
        weight = cal.calls / (cal.calls + PRIOR_CALLS)
        if cal.fitted_in:
            tokens_in = cal.tokens_in(tokens_in)
        out += weight * (cal.tokens_out - out)
        cap = step.clauses.option("max_tokens")
        if isinstance(cap, (int, float)) and not isinstance(cap, bool) and cap > 0:
            out = min(out, float(cap))
        return tokens_in, out, 1.0 + weight * max(0.0, cal.attempts - 1.0)

    def measured(self, step: ast.Extract, b: Any) -> Est | None:
        """The size of an extract run on real values, or None if it reads another kind."""

        def real(v: ast.Value) -> Any:
            if isinstance(v, ast.Ref):
                return self.known[v.name]  # KeyError: not a real value
            if isinstance(v, ast.ListValue):
                return [real(x) for x in v.items]
            return v.value

        try:
            args = [real(a) for a in step.call.args]
            kwargs = {k: real(v) for k, v in step.call.kwargs}
            value = b.run(*args, **kwargs)
        except Exception:  # not real, or the run will say what is wrong with it
            return None
        self.known[step.name] = value
        return measured_size(value)

    def recurse_part(self, node_id, data, scope, n, read) -> None:
        step: ast.Recurse = data["step"]
        context = read(step.over.name).tokens
        cal = self.calibration.steps.get(step.name) if self.calibration else None
        if cal is not None and 0 in cal.levels:
            self.calibrated_part(node_id, data, step, cal, context, n)
        else:
            self.constant_part(node_id, data, step, context, n, read)
        if data["op"] == "recurse.sub" and data["level"] == step.depth:
            t = self.item_type(step.name, step.type, scope)
            out = type_tokens(t, self.schemas)
            self.define(
                step.name,
                scope,
                Est(out, OUTPUT_LIST_ITEMS if t is not None and t.is_list else None),
            )

    def calibrated_part(self, node_id, data, step, cal, context, n) -> None:
        """A recurse node's work from traced runs (docs/optimizer.md, "Calibration")."""
        subs, leaf = calibrated_levels(cal, step.depth, context)
        root = cal.levels[0]
        iterations = root.calls
        cap = step.clauses.option("max_iterations")
        if isinstance(cap, (int, float)) and not isinstance(cap, bool) and cap >= 1:
            iterations = min(iterations, float(cap) + 1)  # + the forced final call
        if data["op"] == "recurse.root":
            work = Work(iterations, n, root.tokens_in, root.tokens_out, prefill_tokens=root.prefill)
            self.out.reasoning[node_id] = dict(root.reasoning)
        elif data["op"] == "recurse.repl":  # a cell per root turn and per inner turn
            turns = iterations + sum(subs[lvl].rounds for lvl in subs if lvl < leaf)
            work = Work(cpu_s=REPL_S_PER_TURN * turns)
        else:
            w = subs[data["level"]]
            work = Work(w.rounds, w.parallel * n, w.input_tokens, w.output_tokens)
            traced = cal.levels.get(data["level"])
            if traced is not None:
                self.out.reasoning[node_id] = dict(traced.reasoning)
        self.out.work[node_id] = work
        self.out.calibrated[node_id] = cal.runs

    def constant_part(self, node_id, data, step, context, n, read) -> None:
        iterations = float(RECURSE_ITERATIONS)
        calls = iterations
        cap = step.clauses.option("max_iterations")
        if isinstance(cap, (int, float)) and not isinstance(cap, bool) and cap >= 1:
            if cap < iterations:  # a recursion that needs more turns uses them all, then
                iterations, calls = float(cap), float(cap) + 1  # is made to answer
        # a root turn writes its code, at most the step's `with max_tokens=`
        code = float(RECURSE_CODE_TOKENS)
        limit = step.clauses.option("max_tokens")
        if isinstance(limit, (int, float)) and not isinstance(limit, bool) and limit > 0:
            code = min(code, float(limit))
        turn = code + RECURSE_REPL_TOKENS  # what each turn adds to the conversation
        if data["op"] == "recurse.root":
            first = (
                CHAT_FRAME_TOKENS
                + RECURSE_SYSTEM_TOKENS
                + template_tokens(step.task, read)
                + min(context, RECURSE_PREVIEW_TOKENS)
            )
            # call k (0-based) re-sends the k turns before it: on average (calls-1)/2
            tokens_in = first + (calls - 1) / 2 * turn
            # a server that keeps the conversation's prefix reads only what is new
            fresh = (first + (calls - 1) * turn) / calls
            self.out.work[node_id] = Work(calls, n, tokens_in, code, prefill_tokens=fresh)
            return
        if data["op"] == "recurse.repl":
            turns = iterations + SUB_TURNS * max(0, step.depth - 1)
            self.out.work[node_id] = Work(cpu_s=REPL_S_PER_TURN * turns)
            return
        level, depth = data["level"], step.depth
        chunk = SUB_CHUNK_TOKENS * SUB_SPLIT ** (depth - level)
        pieces = max(1.0, math.ceil(context / chunk))
        if level == depth:  # a leaf: reads its piece, answers
            piece = min(context, float(chunk))
            work = Work(1.0, pieces * n, SUB_PROMPT_TOKENS + piece, SUB_OUTPUT_TOKENS)
        else:  # an inner level runs its own short recursion over its piece
            inner_turn = RECURSE_CODE_TOKENS + RECURSE_REPL_TOKENS
            first = (
                CHAT_FRAME_TOKENS
                + RECURSE_SYSTEM_TOKENS
                + SUB_PROMPT_TOKENS
                + min(float(chunk), context, RECURSE_PREVIEW_TOKENS)
            )
            work = Work(
                float(SUB_TURNS),
                pieces * n,
                first + (SUB_TURNS - 1) / 2 * inner_turn,
                RECURSE_CODE_TOKENS,
                prefill_tokens=(first + (SUB_TURNS - 1) * inner_turn) / SUB_TURNS,
            )
        self.out.work[node_id] = work


def calibrated_levels(cal: Any, depth: int, context: float) -> tuple[dict[int, Work], int]:
    """Each sub level's work for one recursion over ``context`` tokens, from a trace.

    The deepest level the traces called is the leaf: ``ceil(context / piece)`` calls of
    the observed piece (:meth:`~hetflow.estimate.calibrate.StepCalibration.piece`).  A level
    above it runs the observed turns per piece over pieces ``SUB_SPLIT`` times its
    children's; the traced runs' context is what their leaves read between them (calls
    x piece), which gives their pieces and so their turns per piece.  A level deeper
    than any traced call makes no calls.  Returns the works and the leaf level (0: the
    root called no sub-model).

    >>> from hetflow.estimate.calibrate import Level, StepCalibration
    >>> cal = StepCalibration("t", 2, 2, {0: Level(4, 3e3, 400),
    ...                                   1: Level(6, 1800, 300), 2: Level(16, 8200, 90)})
    >>> works, leaf = calibrated_levels(cal, 2, 4 * 128_000)
    >>> leaf, works[2].calls, works[1].rounds, works[1].parallel
    (2, 64.0, 1.5, 16.0)
    """
    called = [lvl for lvl in cal.levels if 1 <= lvl <= depth]
    leaf = max(called, default=0)
    works: dict[int, Work] = {}
    for level in range(1, depth + 1):
        if level > leaf:  # never called in the traces
            works[level] = Work(1.0, 0.0, float(SUB_PROMPT_TOKENS), float(SUB_OUTPUT_TOKENS))
            continue
        piece = cal.piece(leaf) * SUB_SPLIT ** (leaf - level)
        pieces = max(1.0, float(math.ceil(context / piece)))
        seen = cal.levels.get(level)
        if level == leaf:  # reads its piece and answers
            overhead = seen.tokens_in - piece
            works[level] = Work(1.0, pieces, overhead + min(context, piece), seen.tokens_out)
            continue
        if seen is None:  # skipped in the traces: the root went straight to deeper calls
            works[level] = Work(1.0, 0.0, float(SUB_PROMPT_TOKENS), float(SUB_OUTPUT_TOKENS))
            continue
        traced_pieces = max(1.0, float(math.ceil(cal.levels[leaf].calls * cal.piece(leaf) / piece)))
        turns = max(1.0, seen.calls / traced_pieces)
        works[level] = Work(turns, pieces, seen.tokens_in, seen.tokens_out)
    return works, leaf


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        i += 1
    return i


def estimate(
    wf: ast.Workflow,
    g: nx.DiGraph,
    sizes: Mapping[str, Est],
    schemas: Mapping[str, ast.Schema] | tuple,
    types: Mapping[str, ast.TypeRef] | None = None,
    calibration: Any = None,
    values: Mapping[str, Any] | None = None,
) -> Estimates:
    """Every node's :class:`Work`, every name's size and every map's cardinality.

    ``sizes`` maps input names to their size (from hints, real values or the command
    line); inputs missing there take their ``~ SIZE`` hint or the type's default.  A
    :class:`~hetflow.estimate.calibrate.Calibration` replaces the constants of the ``recurse``
    steps it measured (``Estimates.calibrated`` lists their nodes).  ``values``: the real
    inputs, where known; an ``extract`` outside any map that reads only real values is
    run on them, so its size (and the fan-out of a map over it) is measured, not guessed.
    """
    import networkx as nx

    if not isinstance(schemas, Mapping):
        schemas = {s.name: s for s in schemas}
    hinted = dict(sizes)
    for inp in wf.inputs:
        if inp.name not in hinted and inp.size is not None:
            hinted[inp.name] = hinted_size(inp.type, inp.size.value, inp.size.unit, schemas)
    walk = _Walk(wf, g, hinted, schemas, types or {}, calibration)
    for inp in wf.inputs:
        value = (values or {}).get(inp.name)
        if isinstance(value, str) if inp.type.name == "text" else isinstance(value, list):
            walk.known[inp.name] = value
    for node_id in nx.topological_sort(g):
        walk.visit(node_id)
    for name in list(walk.per_item):
        walk.out.values[name] = walk.read(name, ())
    for item in walk.maps:
        walk.cardinality(item)
    return walk.out
