"""Prompt templates: the names they refer to, and rendering them safely.

Prompts are Jinja templates rendered in Jinja's immutable sandbox: no attribute access
beyond a value's fields, no file or module access.  Values (inputs, model outputs) are
passed as data and never rendered as templates themselves.

>>> template_refs("Clause: {{ clause }} hits {{ hits.n }}")
([('clause', ()), ('hits', ('n',))], None)
>>> render("Hello {{ who.name }}", {"who": {"name": "Ada"}})
'Hello Ada'
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any


@functools.lru_cache(maxsize=1)
def environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    env.finalize = _show
    return env


def _show(value: Any) -> Any:
    """How a value reads inside a prompt: text as is, structures as JSON."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


_BLOCK = re.compile(r"\{\{(.*?)\}\}", re.S)
_PLAIN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*")
# Words Jinja reads as constants or operators, not as names.
_JINJA_WORDS = frozenset(
    "true false none True False None and or not in is if else elif for endfor recursive "
    "block extends include import from with without context set macro call filter raw".split()
)


def _simple_refs(source: str) -> list[tuple[str, tuple[str, ...]]] | None:
    """The refs of a template made only of text and ``{{ name.field }}`` blocks, or None.

    Most prompts are that simple; reading them without Jinja keeps `hetflow check` fast
    (Jinja's import and parser cost more than the rest of the check).  Anything else —
    statements, comments, filters, expressions — goes to Jinja's own parser.
    """
    if "{%" in source or "{#" in source:
        return None
    refs: list[tuple[str, tuple[str, ...]]] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    end = 0
    for m in _BLOCK.finditer(source):
        if source.find("{{", end, m.start()) >= 0:
            return None  # an unclosed block: let Jinja say what is wrong
        inner = _PLAIN.fullmatch(source, m.start(1), m.end(1))
        if inner is None:
            return None
        name, *attrs = inner.group(1).split(".")
        if name in _JINJA_WORDS or (attrs and not _JINJA_WORDS.isdisjoint(attrs)):
            return None
        ref = (name, tuple(attrs))
        if ref not in seen:
            seen.add(ref)
            refs.append(ref)
        end = m.end()
    if source.find("{{", end) >= 0:
        return None  # an unclosed block: let Jinja say what is wrong
    return refs


def template_refs(source: str) -> tuple[list[tuple[str, tuple[str, ...]]], str | None]:
    """The free names of a template with the attribute chain used on each, in order.

    Returns ``(refs, problem)``; ``problem`` is Jinja's message if the template is invalid.
    """
    simple = _simple_refs(source)
    if simple is not None:
        return simple, None
    from jinja2 import TemplateSyntaxError, meta, nodes

    env = environment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [], f"{exc.message} (line {exc.lineno} of the template)"
    except RecursionError:
        return [], "it is nested too deeply"
    free = meta.find_undeclared_variables(tree)
    refs: list[tuple[str, tuple[str, ...]]] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()

    def chain(node) -> tuple[str, tuple[str, ...]] | None:
        attrs: list[str] = []
        while isinstance(node, (nodes.Getattr, nodes.Getitem)):
            if isinstance(node, nodes.Getattr):
                attrs.append(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                attrs.append(node.arg.value)
            else:
                attrs.clear()
            node = node.node
        if isinstance(node, nodes.Name) and node.name in free:
            return node.name, tuple(reversed(attrs))
        return None

    def visit(node) -> None:
        if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
            found = chain(node)
            if found:
                if found not in seen:
                    seen.add(found)
                    refs.append(found)
                if isinstance(node, nodes.Getitem):
                    visit(node.arg)
                return
        for child in node.iter_child_nodes():
            visit(child)

    visit(tree)
    return refs, None


_SIMPLE_REF = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")


class RenderError(Exception):
    """A template could not render: an undefined name, or the sandbox refused."""


@functools.lru_cache(maxsize=4096)
def _compiled(template: str):
    """A template's parts when it only substitutes names, else its compiled Jinja form.

    Compiling a Jinja template costs about a millisecond; most prompts only substitute
    ``{{ name }}`` and ``{{ name.field }}``, which are rendered here with Jinja's own
    finalizer (the same text); anything richer goes to the sandboxed Jinja.
    """
    if template.endswith("\n"):  # Jinja drops one trailing newline
        template = template[:-1]
    parts: list[Any] = []
    last = 0
    for m in _SIMPLE_REF.finditer(template):
        parts.append(template[last : m.start()])
        parts.append(tuple(m.group(1).split(".")))
        last = m.end()
    parts.append(template[last:])
    literal = "".join(p for p in parts if isinstance(p, str))
    if "{{" in literal or "{%" in literal or "{#" in literal:
        return environment().from_string(template)
    return parts


def _jinja(template: str, values: dict[str, Any]) -> str:
    try:
        return _compiled_jinja(template).render(values)
    except Exception as exc:  # undefined names, sandbox refusals: the template's fault
        raise RenderError(str(exc)) from None


@functools.lru_cache(maxsize=1024)
def _compiled_jinja(template: str):
    return environment().from_string(template)


def render(source: str, values: dict[str, Any]) -> str:
    """Render a template over values in the sandbox; raises :class:`RenderError`.

    Values are data: a value that looks like a template is never rendered itself.

    >>> render("{{ a }} and {{ b.c }}", {"a": "{{ b }}", "b": {"c": [1, 2]}})
    '{{ b }} and [1, 2]'
    """
    compiled = _compiled(source)
    if not isinstance(compiled, list):
        return _jinja(source, values)
    out = []
    for part in compiled:
        if isinstance(part, str):
            out.append(part)
            continue
        name, *path = part
        if name not in values:
            raise RenderError(f"'{name}' is undefined")
        value = values[name]
        for attr in path:
            if isinstance(value, dict) and attr in value and not hasattr(dict, attr):
                value = value[attr]
            else:  # anything else exactly as the sandboxed Jinja does it
                return _jinja(source, values)
        shown = _show(value)
        out.append(shown if isinstance(shown, str) else str(shown))
    return "".join(out)
