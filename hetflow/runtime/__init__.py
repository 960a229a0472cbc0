"""Run a compiled plan: every step on its model, concurrently, within the budget.

>>> from hetflow.plan.model import Plan, PlanNode, PlanInput
>>> plan = Plan(workflow="w", inputs=[PlanInput(name="x", type="text")], outputs=["n"],
...             nodes=[PlanNode(id="n", op="extract", step="n", reads=["x"],
...                             builtin={"name": "grep", "args": [{"ref": "x"}, {"value": "b"}]})],
...             edges=[])
>>> run_sync(plan, {"x": "a\\nb\\nbc"}, journal=False, cache=False).outputs
{'n': 'b\\nbc'}

See ``docs/runtime.md`` for how a run works: placement, concurrency, retries and
fallbacks, the budget, the journal and ``--resume``, the cache, the trace, keys, hooks.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from hetflow.errors import HetError
from hetflow.plan.model import Plan
from hetflow.runtime.calls import Settings
from hetflow.runtime.orchestrate import execute
from hetflow.runtime.result import RunResult
from hetflow.runtime.values import Image

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from hetflow.runtime.backends import Backend
    from hetflow.runtime.cache import Cache
    from hetflow.runtime.journal import Journal

__all__ = ["run", "run_sync", "RunResult", "RunOptions", "Settings", "Image", "load_plan"]

PlanSource = Plan | dict[str, Any] | str | os.PathLike[str]  # a Plan, its dict, its JSON file


class RunOptions(TypedDict, total=False):
    """The keyword arguments of :func:`run` (and of ``hetflow.run``, ``run_sync``)."""

    resume: bool
    journal: str | os.PathLike[str] | bool | Journal | None
    cache: str | os.PathLike[str] | bool | Cache | None
    trace_path: str | os.PathLike[str] | None
    budget: float | None
    hooks: object  # a mapping of hook names to functions, an object with on_* methods, a list
    settings: Settings | None
    progress: bool
    backend: str | Backend | None
    ray_address: str | None
    ray_strict: bool
    input_bound: str | None


def load_plan(source: PlanSource) -> Plan:
    """A Plan from a Plan, a plan dict or a plan JSON file.

    The runtime runs compiled plans only; ``hetflow.run`` compiles a ``.het`` file first.
    """
    if isinstance(source, Plan):
        return source
    if isinstance(source, dict):
        return Plan.from_dict(source)
    path = Path(source)
    if path.suffix == ".het":
        raise HetError(
            f"{path}: the runtime runs compiled plans; compile it first "
            "(hetflow.compile, or hetflow.run, which compiles a .het file)"
        )
    try:
        return Plan.load(path)
    except RecursionError:  # json's parser on absurdly nested input
        raise HetError(f"{path}: not a plan file (nested too deeply)") from None


async def run(
    plan: PlanSource,
    inputs: Mapping[str, Any] | None = None,
    *,
    resume: bool = False,
    journal: str | os.PathLike[str] | bool | Journal | None = None,
    cache: str | os.PathLike[str] | bool | Cache | None = True,
    trace_path: str | os.PathLike[str] | None = None,
    budget: float | None = None,
    hooks: object = None,
    settings: Settings | None = None,
    progress: bool = False,
    backend: str | Backend | None = None,
    ray_address: str | None = None,
    ray_strict: bool = False,
    input_bound: str | None = None,
) -> RunResult:
    """Execute a compiled plan and return its results.

    ``journal``: None for the default journal (the user's data directory), False for
    none, or a path.  ``cache``: True (the user's cache directory), False, or a path.
    ``budget`` overrides the plan's.  ``hooks``: see :mod:`hetflow.runtime.hooks`.
    ``backend``: ``"local"`` (default), ``"ray"`` (``ray_address``, ``ray_strict``: see
    ``docs/ray.md``) or a :class:`~hetflow.runtime.backends.Backend`.
    ``input_bound``: how a call on an offer whose tokenizer is not known reserves its
    input under a budget — ``"strict"`` (default: one token a byte, a bound) or
    ``"typical"`` (four bytes a token x1.5: a call may then cost more than it reserved,
    and the run stops saying by how much); a resumed run keeps its first run's choice
    unless given.  See ``docs/runtime.md``, *Budget*.
    """
    plan = load_plan(plan)
    return await execute(
        plan,
        dict(inputs or {}),
        resume=resume,
        journal=journal,
        cache=cache,
        trace_path=trace_path,
        budget=budget,
        hooks=hooks,
        settings=settings or Settings(),
        progress=progress,
        backend=backend,
        backend_options={"address": ray_address, "strict": ray_strict} if backend == "ray" else {},
        input_bound=input_bound,
    )


def run_sync(
    plan: PlanSource, inputs: Mapping[str, Any] | None = None, **kwargs: Unpack[RunOptions]
) -> RunResult:
    """:func:`run` for code that is not async (it starts its own event loop)."""
    if _in_event_loop():
        raise HetError(
            "run_sync cannot run inside a running event loop (a notebook, an async "
            "app): use `await hetflow.run(...)` there"
        )
    return asyncio.run(run(plan, inputs, **kwargs))


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
