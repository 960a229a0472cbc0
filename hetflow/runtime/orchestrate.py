"""One run from start to end: check keys, open the journal and cache, execute, report.

Kept apart from the scheduler so that the scheduler only schedules: this module owns
the resources of a run (journal, cache, trace file, progress display) and turns the
scheduler's outcome into a :class:`~hetflow.runtime.RunResult` with its one-line
reasons.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from hetflow.errors import HetError
from hetflow.plan.model import Plan
from hetflow.runtime import keys, llm, openai_path, tokens
from hetflow.runtime.backends import get
from hetflow.runtime.budget import Budget, Prices
from hetflow.runtime.cache import Cache
from hetflow.runtime.calls import Caller, Settings
from hetflow.runtime.executor import Executor, Outcome
from hetflow.runtime.hooks import Hooks
from hetflow.runtime.inputs import coerce_inputs
from hetflow.runtime.journal import (
    Journal,
    JournalWriteError,
    default_path,
    plan_hash,
    run_key,
)
from hetflow.runtime.progress import Progress
from hetflow.runtime.result import RunResult
from hetflow.runtime.trace import Trace, new_run_id
from hetflow.units import exact_money


def _open_journal(journal: Any) -> Journal | None:
    if journal is False:
        return None
    if isinstance(journal, Journal):
        return journal
    return Journal(default_path() if journal in (None, True) else Path(journal))


def _open_cache(cache: Any) -> Cache | None:
    if cache is False or cache is None:
        return None
    if isinstance(cache, Cache):
        return cache
    opened = Cache(None if cache is True else Path(cache))
    if opened.unusable:  # a warning, not an error: a cache only saves calls
        print(
            f"hetflow: warning: the call cache {opened.path} cannot be used "
            f"({opened.unusable}); the run goes on without it (remove the file, or "
            "run with --no-cache)",
            file=sys.stderr,
        )
    return opened


def _listing(names: list[str], limit: int = 8) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _preload(plan: Plan, offers: dict, mocked: bool, budgeted: bool) -> None:
    """Import the clients the plan's offers need before the clock starts, not mid-run:
    litellm (seconds) only if an offer needs it, the openai SDK if an offer takes the
    lean path."""
    used = [o for chain in offers.values() for o in chain]
    if not used:
        return
    if mocked or not all(llm.lean(o) for o in used):
        llm.litellm()
    if any(llm.lean(o) for o in used):
        openai_path.preload()
    if budgeted:  # the tokenizers that size reservations (a quarter second each)
        tokens.preload([o.litellm for o in used if not Prices.of(o).free])


async def execute(plan: Plan, given: dict[str, Any], *, backend: Any = None, **kw: Any) -> Any:
    """One run on a backend (``local``, ``ray`` or a Backend), released when it ends."""
    the_backend = get(backend, **(kw.pop("backend_options", None) or {}))
    openai_path.hold()  # the lean path's connections stay open while a run uses them
    try:
        return await _execute(plan, given, backend=the_backend, **kw)
    finally:
        the_backend.close()
        await openai_path.aclose()


async def _execute(
    plan: Plan,
    given: dict[str, Any],
    *,
    resume: bool,
    journal: Any,
    cache: Any,
    trace_path: Any,
    budget: float | None,
    hooks: Any,
    settings: Settings,
    progress: bool,
    backend: Any,
    input_bound: str | None = None,
) -> Any:
    inputs = coerce_inputs(plan, given)
    limit = budget if budget is not None else plan.budget_usd
    if limit is not None and limit < 0:
        raise HetError(f"budget ${limit} is negative")
    if input_bound is not None and input_bound not in tokens.MODES:
        raise HetError(
            f"input_bound {input_bound!r} is not one of {', '.join(map(repr, tokens.MODES))}"
        )
    mocked = "mock_response" in settings.llm_extra
    if mocked and backend.name == "local":  # mocked calls need no key
        offers = {n.id: [n.assignment, *n.alternatives] for n in plan.nodes if n.assignment}
    else:
        offers = backend.start(plan)
    secrets = keys.secret_values(plan)
    _preload(plan, offers, mocked, limit is not None)
    the_hooks = Hooks(hooks)

    jr = _open_journal(journal)
    ca = _open_cache(cache)
    trace = Trace(trace_path, run=new_run_id())  # one id per run: see docs/runtime.md
    spent_before = 0.0
    done: dict = {}
    try:
        if jr is not None:
            jr.start(
                run_key(plan_hash(plan), inputs),
                plan.workflow,
                resume=resume,
                settings={"input_bound": input_bound or "strict"},
            )
            if jr.resumed:
                done = jr.finished_nodes()
                spent_before = jr.spent()
                kept = jr.settings.get("input_bound")
                if input_bound is None:  # a resumed run reserves as its first run did
                    input_bound = kept if kept in tokens.MODES else None
                elif kept != input_bound:  # ... unless told otherwise, which is kept
                    jr.keep_settings({**jr.settings, "input_bound": input_bound})
        input_bound = input_bound or "strict"
        the_budget = Budget(limit, spent=spent_before)
        t0 = time.monotonic()
        caller = Caller(
            plan,
            offers,
            budget=the_budget,
            journal=jr,
            cache=ca,
            trace=trace,
            hooks=the_hooks,
            settings=settings,
            secrets=secrets,
            t0=t0,
            backend=backend,
            input_bound=input_bound,
        )
        steps = {n.step for n in plan.nodes}
        with Progress(progress, len(steps)) as bar:
            if progress:
                caller.say = bar.say
            if bar.enabled:
                trace_add = trace.add

                def add(record: dict) -> None:
                    trace_add(record)
                    bar.call_done(**record)

                trace.add = add  # type: ignore[method-assign]
            the_hooks("on_run_start", plan=plan, run_id=jr.run_id if jr else None)
            executor = Executor(
                plan,
                caller,
                journal=jr,
                hooks=the_hooks,
                done=done,
                on_node=bar.node_done if bar.enabled else None,
            )
            status = "interrupted"
            try:
                top = await executor.run(inputs)
                status = "done"
            finally:
                if jr is not None:
                    try:
                        jr.finish(status)
                    except JournalWriteError as exc:
                        the_budget.halt(str(exc))
                await llm.settle()
        latency = time.monotonic() - t0
    finally:
        trace.close()
        if ca is not None:
            ca.close()

    outcome = executor.outcome
    outputs: dict[str, Any] = {}
    for name in plan.outputs:
        try:
            fut = top.get(name)
        except KeyError:
            continue
        if fut.done() and fut.exception() is None:
            outputs[name] = fut.result()
    all_steps = list(dict.fromkeys(n.step for n in plan.nodes))
    not_run = {s: why for s, why in outcome.not_run.items() if s not in outcome.failed}
    for s in all_steps:
        if s not in outcome.finished and s not in outcome.failed and s not in not_run:
            not_run[s] = "not reached"
    stopped = None
    if outcome.stopped or the_budget.halted:
        in_map = {n.step for n in plan.nodes if n.maps}

        def counted(step: str, counts) -> str:
            return f"{step} ({counts[step]} items)" if step in in_map and counts[step] else step

        finished = [counted(s, outcome.done_items) for s in all_steps if s in outcome.finished]
        missed = [counted(s, outcome.missed_items) for s in not_run]
        stopped = (
            f"budget {exact_money(limit or 0.0)} reached after {the_budget.calls} "
            f"call{'s' * (the_budget.calls != 1)}"
            + (f": {the_budget.refused}" if the_budget.refused else "")
            if the_budget.halted is None
            else the_budget.halted
        ) + f"; finished: {_listing(finished)}; not run: {_listing(missed)}"
    if the_budget.overrun > 0 and limit is not None:  # a provider billed past its reservation
        stopped = (
            f"budget {exact_money(limit)} passed by ${the_budget.overrun:.6f} "
            f"(spent ${the_budget.spent:.6f}): "
            + (the_budget.passed or "a provider wrote past the max_tokens it was sent")
            + "; no call started after that"
            + (f"; {stopped.partition('; ')[2]}" if stopped else "")
        )
    result = RunResult(
        outputs=outputs,
        cost_usd=the_budget.spent - spent_before,
        latency_s=latency,
        trace=trace.records,
        stopped=stopped,
        failed={s: _with_count(why, s, outcome) for s, why in outcome.failed.items()},
        not_run=not_run if (outcome.failed or stopped) else {},
        plan=plan,
        node_times={k: v[1] - v[0] for k, v in outcome.node_times.items()},
        run_id=jr.run_id if jr else None,
        journal=str(jr.path) if jr else None,
        spent_before=spent_before,
    )
    if jr is not None and journal is not False and not isinstance(journal, Journal):
        jr.close()
    the_hooks(
        "on_run_end",
        outputs=outputs,
        cost_usd=result.cost_usd,
        latency_s=latency,
        stopped=stopped,
        failed=result.failed,
    )
    return result


def _with_count(why: str, step: str, outcome: Outcome) -> str:
    """A step's first failure, and how many of its items failed when more than one."""
    failed = outcome.failed_items[step]
    if failed <= 1:
        return why
    total = failed + outcome.done_items[step]
    return f"{why}; {failed} of {total} items failed"
