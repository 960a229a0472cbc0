"""Run a compiled plan: every step on its model, concurrently, within the budget.

>>> from hetflow.plan import Plan, PlanNode, PlanInput
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
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hetflow.errors import HetError
from hetflow.plan import Plan

from .calls import Settings
from .values import Image

__all__ = ["run", "run_sync", "RunResult", "Settings", "Image", "load_plan"]


@dataclass
class RunResult:
    """What a run produced and what it cost.

    ``outputs`` holds every output that finished (even when the run failed or was
    stopped); ``stopped`` says why the budget stopped the run, ``failed`` maps each
    failed step to its one-line reason, ``not_run`` each step that never ran.
    """

    outputs: dict[str, Any]
    cost_usd: float
    latency_s: float
    trace: list[dict[str, Any]]
    stopped: str | None = None
    failed: dict[str, str] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)
    plan: Plan | None = field(default=None, repr=False)
    node_times: dict[str, float] = field(default_factory=dict, repr=False)
    run_id: int | None = None
    journal: str | None = None
    spent_before: float = 0.0  # a resumed run's spend before this invocation

    @functools.cached_property
    def comparison(self) -> dict[str, Any]:
        """Predicted vs actual: cost, time, calls and tokens, and the steps off by >25%."""
        from .trace import compare

        if self.plan is None:
            return {}
        return compare(self.plan, self.trace, self.latency_s, self.node_times)

    @functools.cached_property
    def summary(self) -> str:
        """The end-of-run summary ``hetflow run`` prints on standard error."""
        from .trace import summary_text

        if self.plan is None:
            return ""
        return summary_text(self.comparison, spent_before=self.spent_before)

    @property
    def ok(self) -> bool:
        return not self.stopped and not self.failed and not self.not_run

    @property
    def reason(self) -> str | None:
        """One line saying why the run did not finish, or None."""
        if self.stopped:
            return self.stopped
        if self.failed:
            step, why = next(iter(self.failed.items()))
            more = len(self.failed) - 1
            return f"step '{step}' failed: {why}" + (f" (and {more} more)" if more else "")
        if self.not_run:
            return "not run: " + ", ".join(self.not_run)
        return None


def load_plan(
    source: Any,
    *,
    catalog: Any = None,
    inputs: dict[str, Any] | None = None,
    workflow: str | None = None,
) -> Plan:
    """A Plan from a Plan, a plan dict, a plan JSON file, or a ``.het`` file (compiled)."""
    if isinstance(source, Plan):
        return source
    if isinstance(source, dict):
        return Plan.from_dict(source)
    path = Path(source)
    if path.suffix == ".json":
        return _load_json(path)
    if path.suffix == ".het" or not path.exists():
        from .inputs import for_sizing

        try:
            from hetflow.compiler import compile as compile_het
        except ImportError:
            raise HetError("this hetflow cannot compile .het files yet; pass a plan JSON") from None
        real = for_sizing(inputs or {})
        return compile_het(str(source), catalog=catalog, inputs=real or None, workflow=workflow)
    return _load_json(path)


def _load_json(path: Path) -> Plan:
    try:
        return Plan.load(path)
    except RecursionError:  # json's parser on absurdly nested input
        raise HetError(f"{path}: not a plan file (nested too deeply)") from None


async def run(
    plan: Any,
    inputs: dict[str, Any] | None = None,
    *,
    resume: bool = False,
    journal: Any = None,
    cache: Any = True,
    trace_path: Any = None,
    budget: float | None = None,
    hooks: Any = None,
    catalog: Any = None,
    settings: Settings | None = None,
    progress: bool = False,
    backend: Any = None,
    ray_address: str | None = None,
    ray_strict: bool = False,
) -> RunResult:
    """Execute a plan (or a ``.het`` file, compiled first) and return its results.

    ``journal``: None for the default journal (the user's data directory), False for
    none, or a path.  ``cache``: True (the user's cache directory), False, or a path.
    ``budget`` overrides the plan's.  ``hooks``: see :mod:`hetflow.runtime.hooks`.
    ``backend``: ``"local"`` (default), ``"ray"`` (``ray_address``, ``ray_strict``: see
    ``docs/ray.md``) or a :class:`~hetflow.runtime.backends.Backend`.
    """
    from .orchestrate import execute

    plan = load_plan(plan, catalog=catalog, inputs=inputs)
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
    )


def run_sync(plan: Any, inputs: dict[str, Any] | None = None, **kwargs: Any) -> RunResult:
    """:func:`run` for code that is not async (it starts its own event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run(plan, inputs, **kwargs))
    raise HetError(
        "run_sync cannot run inside a running event loop (a notebook, an async "
        "app): use `await hetflow.run(...)` there"
    )
