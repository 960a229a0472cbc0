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

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hetflow.errors import Diagnostic, DiagnosticError, HetError

if TYPE_CHECKING:  # the stages load on first use (below), so `import hetflow` stays fast
    from typing_extensions import Unpack

    from hetflow.catalog import Catalog, load_catalog
    from hetflow.checks.checker import check
    from hetflow.compiler import compile
    from hetflow.plan.model import Plan
    from hetflow.runtime import PlanSource, RunOptions, RunResult
    from hetflow.syntax.ast import Program


def parse(source: str | os.PathLike[str]) -> Program:
    """A `.het` path or text → :class:`hetflow.syntax.ast.Program`; raises DiagnosticError on errors."""
    from hetflow.syntax.loader import load_or_raise

    return load_or_raise(source)


async def run(
    source: PlanSource,
    inputs: Mapping[str, Any] | None = None,
    *,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    workflow: str | None = None,
    **options: Unpack[RunOptions],
) -> RunResult:
    """Run a plan (a Plan, a plan dict or JSON file) or a ``.het`` file, compiled first.

    ``options`` are :func:`hetflow.runtime.run`'s: ``resume``, ``journal``, ``cache``,
    ``trace_path``, ``budget``, ``input_bound`` (``"strict"`` or ``"typical"``: see
    docs/runtime.md, *Budget*), ``hooks``, ``settings``, ``backend`` ...
    """
    from hetflow.compiler import plan_for_run
    from hetflow.runtime import run as run_plan

    plan = plan_for_run(source, catalog=catalog, inputs=inputs, workflow=workflow)
    return await run_plan(plan, inputs, **options)


def run_sync(
    source: PlanSource,
    inputs: Mapping[str, Any] | None = None,
    *,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    workflow: str | None = None,
    **options: Unpack[RunOptions],
) -> RunResult:
    """:func:`run` for code that is not async (it starts its own event loop)."""
    from hetflow.compiler import plan_for_run
    from hetflow.runtime import run_sync as run_plan_sync

    plan = plan_for_run(source, catalog=catalog, inputs=inputs, workflow=workflow)
    return run_plan_sync(plan, inputs, **options)


def __getattr__(name: str) -> object:
    # Heavier stages load on first use so `import hetflow` stays fast.
    if name == "check":
        from hetflow.checks.checker import check

        return check
    if name == "compile":
        from hetflow.compiler import compile

        return compile
    if name == "Plan":
        from hetflow.plan.model import Plan

        return Plan
    if name == "load_catalog":
        from hetflow.catalog import load_catalog

        return load_catalog
    raise AttributeError(f"module 'hetflow' has no attribute {name!r}")
