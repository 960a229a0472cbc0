"""The scheduler: run a plan's nodes as soon as what they read is ready.

Every name (an input, a step, a map item) is an asyncio future in a *scope*; each node
is a task that awaits the futures of the names it reads, runs, and resolves its own.
A ``map`` is a task too: once its list is ready it opens one child scope per item, in
which the body's nodes run as tasks of their own — so items run at once and a body node
of item 3 starts as soon as item 3's inputs are ready, whatever the other items do.
When every item is done, each name defined in the body resolves to the list of its
values in the enclosing scope.  Nothing here waits for anything the graph does not
ask it to; the only limits on what runs at once are each offer's concurrency (the
call path's semaphores) and the budget.

A node whose input failed is not run; a node whose value is in the journal is not run
again.  A node that fails does not stop the nodes that do not depend on it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hetflow.plan.model import Plan, PlanNode
from hetflow.runtime import ops
from hetflow.runtime.budget import BudgetExhausted
from hetflow.runtime.calls import Caller, NodeFailed
from hetflow.runtime.hooks import Hooks
from hetflow.runtime.journal import Journal, JournalWriteError, item_key


class Upstream(Exception):
    """A node was not run because a name it reads has no value."""


@dataclass
class Outcome:
    """What the scheduler saw: per node, finished / failed / not run, and timings."""

    failed: dict[str, str] = field(default_factory=dict)  # step -> one-line reason
    not_run: dict[str, str] = field(default_factory=dict)  # step -> why
    finished: set[str] = field(default_factory=set)  # steps with at least one value
    done_items: Counter = field(default_factory=Counter)  # step -> instances finished
    missed_items: Counter = field(default_factory=Counter)  # step -> instances not run
    failed_items: Counter = field(default_factory=Counter)  # step -> instances failed
    node_times: dict[str, list[float]] = field(default_factory=dict)  # id -> [start, end]
    stopped: bool = False  # the budget stopped the run


class Scope:
    """The futures of the names visible at one place: the top level or one map item."""

    __slots__ = ("parent", "path", "futures", "item")

    def __init__(self, parent: Scope | None, path: tuple[int, ...]):
        self.parent, self.path = parent, path
        self.futures: dict[str, asyncio.Future] = {}
        self.item = item_key(path)

    def get(self, name: str) -> asyncio.Future:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.futures:
                return scope.futures[name]
            scope = scope.parent
        raise KeyError(name)


class Executor:
    def __init__(
        self,
        plan: Plan,
        caller: Caller,
        *,
        journal: Journal | None,
        hooks: Hooks,
        done: dict[tuple[str, str], Any],
        on_node: Callable[[str], None] | None = None,
    ):
        self.plan, self.caller, self.journal, self.hooks = plan, caller, journal, hooks
        self.done = done  # journaled values of a resumed run
        self.on_node = on_node
        self.outcome = Outcome()
        self.watched = hooks.has("on_node_start") or hooks.has("on_node_end")
        self.t0 = time.monotonic()
        self._loop = asyncio.get_running_loop()
        # The block structure: top-level units, and each map's direct units.
        self.children: dict[str | None, list[tuple[str, Any]]] = {None: []}
        for m in plan.maps:
            self.children.setdefault(m.item, [])
        for m in plan.maps:
            self.children[m.parent].append(("map", m))
        for node in plan.nodes:
            if node.op in ("recurse.repl", "recurse.sub"):
                continue  # they run inside their root's recursion
            self.children[node.maps[-1] if node.maps else None].append(("node", node))
        by_id = {n.id: n for n in plan.nodes}
        self.defines: dict[str, list[str]] = {}
        for m in plan.maps:
            body = [by_id[n] for n in m.body if n in by_id]
            self.defines[m.item] = list(
                dict.fromkeys(n.step for n in body if n.op not in ("recurse.repl", "recurse.sub"))
            )
        # The names each block defines, in order: worked out once, not once per map item.
        self.block_names: dict[str | None, list[str]] = {
            item: [name for kind, unit in units for name in self._names(kind, unit)]
            for item, units in self.children.items()
        }

    # ---------------------------------------------------------------- blocks
    async def run(self, inputs: dict[str, Any]) -> Scope:
        top = Scope(None, ())
        for name, value in inputs.items():
            fut = self._loop.create_future()
            fut.set_result(value)
            top.futures[name] = fut
        await self._block(top, None)
        return top

    def _names(self, kind: str, unit: Any) -> list[str]:
        return [unit.step] if kind == "node" else self.defines[unit.item]

    async def _block(self, scope: Scope, item: str | None) -> None:
        units = self.children[item]
        futures, new = scope.futures, self._loop.create_future
        for name in self.block_names[item]:
            futures[name] = new()
        tasks = [self._node(scope, u) if k == "node" else self._map(scope, u) for k, u in units]
        if len(tasks) == 1:
            await tasks[0]
        else:
            await asyncio.gather(*tasks)

    async def _map(self, scope: Scope, m) -> None:
        names = self.defines[m.item]
        try:
            over = await scope.get(m.over)
        except Exception as exc:
            for name in names:
                self._fail_future(scope.futures[name], Upstream(m.over))
            self._not_run(names, f"'{m.over}' has no value", exc)
            return
        if not isinstance(over, (list, tuple)):
            reason = f"map over '{m.over}': expected a list, got {type(over).__name__}"
            for name in names:
                self._fail_future(scope.futures[name], Upstream(m.over))
                self.outcome.failed.setdefault(name, reason)
            return
        items = [Scope(scope, scope.path + (i,)) for i in range(len(over))]
        for child, value in zip(items, over, strict=True):
            fut = self._loop.create_future()
            fut.set_result(value)
            child.futures[m.item] = fut
        await asyncio.gather(*(self._block(child, m.item) for child in items))
        for name in names:
            futs = [child.futures[name] for child in items]
            bad = next((f.exception() for f in futs if f.exception() is not None), None)
            if bad is not None:
                self._fail_future(scope.futures[name], Upstream(name))
            else:
                scope.futures[name].set_result([f.result() for f in futs])

    # ---------------------------------------------------------------- nodes
    async def _node(self, scope: Scope, node: PlanNode) -> None:
        fut = scope.futures[node.step]
        item = scope.item
        values: dict[str, Any] = {}
        for name in node.reads:
            where: Scope | None = scope  # Scope.get, without a call per name
            while where is not None:
                ready = where.futures.get(name)
                if ready is not None:
                    break
                where = where.parent
            else:
                continue  # a name the plan lists but no scope defines (e.g. a schema)
            try:
                values[name] = await ready
            except Exception as exc:
                self._fail_future(fut, Upstream(name))
                self._not_run([node.step], f"'{name}' has no value", exc)
                return
        if self.done:
            key = (node.id, item)
            if key in self.done:
                fut.set_result(self.done[key])
                self._finished(node, item)
                return
        start = time.monotonic()
        if self.watched:
            self.hooks("on_node_start", node=node.id, step=node.step, item=item)
        try:
            if node.op == "reason":  # most nodes: no _execute coroutine in between
                value = await ops.reason(self.caller, self.plan, node, item, values)
            else:
                value = await self._execute(node, item, values)
        except BudgetExhausted:
            self.outcome.stopped = True
            self._fail_future(fut, Upstream(node.step))
            self.outcome.not_run.setdefault(
                node.step, self.caller.budget.halted or "the budget ran out"
            )
            self.outcome.missed_items[node.step] += 1
            self.hooks(
                "on_node_end", node=node.id, step=node.step, item=item, ok=False, error="budget"
            )
            return
        except Exception as exc:  # NodeFailed, StepError, or anything a value provoked
            if not isinstance(exc, (NodeFailed, ops.StepError)):
                exc = ops.StepError(f"{type(exc).__name__}: {exc}")
            self._fail_future(fut, exc)
            self._timed(node, start)  # a failure takes time too (its retries, its waits)
            at_item = f" (item {item})" if item else ""
            self.outcome.failed.setdefault(node.step, self.caller._redact(f"{exc}{at_item}"))
            self.outcome.failed_items[node.step] += 1
            self.hooks(
                "on_node_end", node=node.id, step=node.step, item=item, ok=False, error=str(exc)
            )
            return
        self._timed(node, start)
        if self.journal is not None:
            try:
                self.journal.node_done(node.id, item, value)
            except JournalWriteError as exc:  # the value stands; no new call starts
                self.caller.budget.halt(str(exc))
        fut.set_result(value)
        self._finished(node, item)
        if self.watched:
            self.hooks("on_node_end", node=node.id, step=node.step, item=item, ok=True, error=None)

    def _timed(self, node: PlanNode, start: float) -> None:
        """The node's time, from ``start`` to now; a map body node's runs from its first
        item's start to its last item's end."""
        began, ended = start - self.t0, time.monotonic() - self.t0
        times = self.outcome.node_times.get(node.id)
        if times is None:
            self.outcome.node_times[node.id] = [began, ended]
        else:
            if began < times[0]:
                times[0] = began
            if ended > times[1]:
                times[1] = ended

    async def _execute(self, node: PlanNode, item: str, values: dict[str, Any]) -> Any:
        op = node.op
        if op in ("extract", "reduce"):
            return await self.caller.backend.builtin(node, values)
        if op == "reason":
            return await ops.reason(self.caller, self.plan, node, item, values)
        if op == "zoom":
            return await ops.zoom_step(self.caller, self.plan, node, item, values)
        if op == "recurse.root":
            return await ops.recurse(self.caller, self.plan, node, item, values)
        raise ops.StepError(f"cannot run a node of op {op!r}")

    def _finished(self, node: PlanNode, item: str) -> None:
        outcome, step = self.outcome, node.step
        outcome.finished.add(step)
        outcome.done_items[step] = outcome.done_items.get(step, 0) + 1  # no __missing__
        if self.on_node is not None:
            self.on_node(node.step)

    def _fail_future(self, fut: asyncio.Future, exc: Exception) -> None:
        if not fut.done():
            fut.set_exception(exc)
            fut.exception()  # mark it retrieved: the scheduler reports failures itself

    def _not_run(self, steps: list[str], why: str, cause: Exception) -> None:
        for step in steps:
            self.outcome.missed_items[step] += 1
            if step not in self.outcome.failed:
                self.outcome.not_run.setdefault(step, why)
