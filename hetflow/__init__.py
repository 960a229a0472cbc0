"""hetflow: compile multi-step LLM workflows onto the right model and the right chip.

The stages each have a function here, so each can be used on its own::

    program = hetflow.parse("flow.het")          # text or path -> AST
    diagnostics = hetflow.check("flow.het")      # every static check, all at once
    plan = hetflow.compile("flow.het", catalog=None, objective="cost")
    result = hetflow.run_sync(plan, inputs={...})
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "parse",
    "check",
    "compile",
    "run",
    "run_sync",
    "Plan",
    "load_catalog",
    "HetError",
    "DiagnosticError",
    "Diagnostic",
    "__version__",
]

from .errors import Diagnostic, DiagnosticError, HetError


def parse(source):
    """A `.het` path or text → :class:`hetflow.ast.Program`; raises DiagnosticError on errors."""
    from .loader import load_or_raise

    return load_or_raise(source)


def __getattr__(name):
    # Heavier stages load on first use so `import hetflow` stays fast.
    if name == "check":
        from .checker import check

        return check
    if name == "compile":
        from .compiler import compile

        return compile
    if name in ("run", "run_sync"):
        from . import runtime

        return getattr(runtime, name)
    if name == "Plan":
        from .plan import Plan

        return Plan
    if name == "load_catalog":
        from .catalog import load_catalog

        return load_catalog
    raise AttributeError(f"module 'hetflow' has no attribute {name!r}")
