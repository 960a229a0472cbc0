"""The typed, immutable syntax tree of a `.het` file.

Every node carries the :class:`~hetflow.errors.SourcePosition` it came from, so every
later stage can point at the user's text.  Nodes are frozen dataclasses; change one with
:func:`dataclasses.replace`.

>>> t = TypeRef("list", item=TypeRef("text"))
>>> str(t)
'list[text]'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from hetflow.errors import NOWHERE, SourcePosition

PRIMITIVE_TYPES = ("text", "number", "bool", "image", "json")
OBJECTIVES = ("cost", "latency", "balanced")
RESERVED = frozenset(
    "workflow schema use input output objective budget deadline "
    "extract reason zoom recurse map reduce".split()
)


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A type as written: a primitive, a schema's name, ``list[T]`` or ``enum(...)``."""

    name: str
    item: TypeRef | None = None
    enum: tuple[str, ...] | None = None
    pos: SourcePosition = field(default=NOWHERE, compare=False)

    def __str__(self) -> str:
        if self.name == "list":
            return f"list[{self.item}]"
        if self.name == "enum":
            return f"enum({', '.join(self.enum or ())})"
        return self.name

    @property
    def is_list(self) -> bool:
        return self.name == "list"


TEXT = TypeRef("text")
IMAGE = TypeRef("image")
NUMBER = TypeRef("number")
JSON = TypeRef("json")


def list_of(t: TypeRef) -> TypeRef:
    return TypeRef("list", item=t, pos=t.pos)


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: TypeRef
    optional: bool
    pos: SourcePosition = field(compare=False)


@dataclass(frozen=True, slots=True)
class Schema:
    name: str
    fields: tuple[Field, ...]
    pos: SourcePosition = field(compare=False)
    span: SourcePosition = field(default=NOWHERE, compare=False)  # the whole construct

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


# ---------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Size:
    """A size: ``128k tokens`` is ``Size(128000, "tokens")``; the unit may be absent."""

    value: float
    unit: Literal["tokens", "items"] | None
    pos: SourcePosition = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Ref:
    """A use of a name: an input, a step, a map item."""

    name: str
    pos: SourcePosition = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Const:
    """A literal value: a string, a number, a bool, money (dollars) or a duration (seconds)."""

    value: Any
    kind: Literal["string", "number", "bool", "money", "duration", "size"]
    pos: SourcePosition = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class ListValue:
    items: tuple[Value, ...]
    pos: SourcePosition = field(default=NOWHERE, compare=False)


Value = Ref | Const | ListValue


@dataclass(frozen=True, slots=True)
class Call:
    """A builtin call: ``split(contract, sep="\\n\\n")``."""

    name: str
    args: tuple[Value, ...]
    kwargs: tuple[tuple[str, Value], ...]
    pos: SourcePosition = field(default=NOWHERE, compare=False)

    def kwarg(self, key: str) -> Value | None:
        return next((v for k, v in self.kwargs if k == key), None)


@dataclass(frozen=True, slots=True)
class TemplateRef:
    """A name a template refers to (``{{ clause }}`` or ``{{ tally.count }}``)."""

    name: str
    attrs: tuple[str, ...]
    pos: SourcePosition = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Text:
    """A prompt or task: inline (dedented if triple-quoted) or read from a file."""

    template: str
    refs: tuple[TemplateRef, ...]
    path: str | None = None
    pos: SourcePosition = field(default=NOWHERE, compare=False)


# ---------------------------------------------------------------- clauses


@dataclass(frozen=True, slots=True)
class Requirement:
    """``reasoning >= 3`` (level) or ``context >= 64k`` (tokens)."""

    key: str
    amount: float
    pos: SourcePosition = field(default=NOWHERE, compare=False)
    unit: str | None = field(default=None, compare=False)  # as written: tokens, items, none


@dataclass(frozen=True, slots=True)
class Pin:
    model: str | None
    chip: str | None
    pos: SourcePosition = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Option:
    key: str
    value: Any
    pos: SourcePosition = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Clauses:
    """What a model step asks for: needs, a pin and call options."""

    needs: tuple[Requirement, ...] = ()
    pin: Pin | None = None
    options: tuple[Option, ...] = ()

    def option(self, key: str, default: Any = None) -> Any:
        return next((o.value for o in self.options if o.key == key), default)


# ---------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class Extract:
    name: str
    type: TypeRef | None
    call: Call
    pos: SourcePosition = field(compare=False)
    span: SourcePosition = field(default=NOWHERE, compare=False)  # the whole construct
    op = "extract"


@dataclass(frozen=True, slots=True)
class Reduce:
    name: str
    type: TypeRef | None
    call: Call
    pos: SourcePosition = field(compare=False)
    span: SourcePosition = field(default=NOWHERE, compare=False)  # the whole construct
    op = "reduce"


@dataclass(frozen=True, slots=True)
class Reason:
    name: str
    type: TypeRef | None
    prompt: Text
    clauses: Clauses
    pos: SourcePosition = field(compare=False)
    span: SourcePosition = field(default=NOWHERE, compare=False)  # the whole construct
    op = "reason"


@dataclass(frozen=True, slots=True)
class Zoom:
    name: str
    type: TypeRef | None
    image: Ref
    goal: Text
    clauses: Clauses
    pos: SourcePosition = field(compare=False)
    span: SourcePosition = field(default=NOWHERE, compare=False)  # the whole construct
    op = "zoom"


@dataclass(frozen=True, slots=True)
class Recurse:
    name: str
    type: TypeRef | None
    over: Ref
    depth: int
    task: Text | None
    root: Clauses
    sub: Clauses
    clauses: Clauses
    pos: SourcePosition = field(compare=False)
    span: SourcePosition = field(default=NOWHERE, compare=False)  # the whole construct
    op = "recurse"


@dataclass(frozen=True, slots=True)
class Map:
    item: str
    over: Ref
    body: tuple[Step, ...]
    pos: SourcePosition = field(compare=False)
    span: SourcePosition = field(default=NOWHERE, compare=False)  # the whole construct
    op = "map"

    @property
    def name(self) -> str:
        return self.item


Step = Extract | Reduce | Reason | Zoom | Recurse | Map


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True, slots=True)
class Input:
    name: str
    type: TypeRef
    size: Size | None
    pos: SourcePosition = field(compare=False)


@dataclass(frozen=True, slots=True)
class Setting:
    """``objective``, ``budget`` or ``deadline`` with its value and position."""

    value: Any
    pos: SourcePosition = field(compare=False)


@dataclass(frozen=True, slots=True)
class Output:
    names: tuple[Ref, ...]
    pos: SourcePosition = field(compare=False)


@dataclass(frozen=True, slots=True)
class Workflow:
    name: str
    inputs: tuple[Input, ...]
    steps: tuple[Step, ...]
    outputs: tuple[Output, ...]
    pos: SourcePosition = field(compare=False)
    objective: Setting | None = None
    budget: Setting | None = None
    deadline: Setting | None = None
    span: SourcePosition = field(default=NOWHERE, compare=False)  # the whole workflow

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(r.name for o in self.outputs for r in o.names)


@dataclass(frozen=True, slots=True)
class Use:
    path: str
    pos: SourcePosition = field(compare=False)


@dataclass(frozen=True, slots=True)
class Program:
    """One file's declarations, plus (after loading) those its `use` lines bring in."""

    file: str
    uses: tuple[Use, ...]
    schemas: tuple[Schema, ...]
    workflows: tuple[Workflow, ...]
    source: str = field(default="", repr=False, compare=False)

    def schema(self, name: str) -> Schema | None:
        return next((s for s in self.schemas if s.name == name), None)

    def workflow(self, name: str | None = None) -> Workflow | None:
        if name is None:
            return self.workflows[0] if self.workflows else None
        return next((w for w in self.workflows if w.name == name), None)


def walk_steps(steps: tuple[Step, ...], scope: tuple[Map, ...] = ()):
    """Every step, depth first, with the maps that enclose it (outermost first)."""
    for step in steps:
        yield step, scope
        if isinstance(step, Map):
            yield from walk_steps(step.body, scope + (step,))


def value_refs(value: Value):
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, ListValue):
        for item in value.items:
            yield from value_refs(item)


def reads(step: Step) -> list[Ref]:
    """The names a step uses, each with the position of its use (map bodies excluded).

    These uses are the edges of the workflow's graph.
    """
    return [u if u.__class__ is Ref else Ref(u.name, u.pos) for u in read_refs(step)]


def read_names(step: Step) -> list[str]:
    """The names of :func:`reads`, in its order (without making a Ref per template use)."""
    return [u.name for u in read_refs(step)]


def read_refs(step: Step) -> list[Ref | TemplateRef]:
    """What :func:`reads` is made of: Refs, and a template's own TemplateRefs (both have
    ``name`` and ``pos``), for a caller that needs no Ref of its own."""
    out: list[Ref | TemplateRef] = []
    if isinstance(step, (Extract, Reduce)):
        for v in step.call.args:
            out.extend(value_refs(v))
        for _, v in step.call.kwargs:
            out.extend(value_refs(v))
    elif isinstance(step, Reason):
        out.extend(step.prompt.refs)
    elif isinstance(step, Zoom):
        out.append(step.image)
        out.extend(step.goal.refs)
    elif isinstance(step, Recurse):
        out.append(step.over)
        if step.task is not None:
            out.extend(step.task.refs)
    elif isinstance(step, Map):
        out.append(step.over)
    return out
