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


def template_refs(source: str) -> tuple[list[tuple[str, tuple[str, ...]]], str | None]:
    """The free names of a template with the attribute chain used on each, in order.

    Returns ``(refs, problem)``; ``problem`` is Jinja's message if the template is invalid.
    """
    from jinja2 import TemplateSyntaxError, meta, nodes

    env = environment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [], f"{exc.message} (line {exc.lineno} of the template)"
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


def render(source: str, values: dict[str, Any]) -> str:
    """Render a template over values; an undefined name or a sandbox refusal raises."""
    return environment().from_string(source).render(values)
