"""The recursion loop: a root model writes code, the sandbox runs it, until FINAL.

Levels name who answers: level 0 is the root model (plan node ``NAME.root``), level 1
the sub-calls (``NAME.sub``), level 2 theirs (``NAME.sub2``)...  The runtime provides
one function, ``call_model(level, messages) -> reply text``, and keeps placement,
retries, budget, journal and trace to itself; this loop only decides what to ask.

>>> import asyncio
>>> async def model(level, messages):
...     if level == 0:
...         return "```python\\nFINAL(llm_query('capital of France?'))\\n```"
...     return "Paris"
>>> asyncio.run(run_recursion("Answer.", "ctx", depth=1, call_model=model)).value
'Paris'
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hetflow.errors import HetError
from hetflow.recurse.prompts import (
    FORCE_FINAL_PROMPT,
    NO_CODE_PROMPT,
    SYSTEM_PROMPT,
    cell_report,
    code_blocks,
    first_prompt,
    parse_answer,
)
from hetflow.recurse.sandbox import CellResult, Sandbox, SandboxLimits, SubCall, SubCallRefused

CallModel = Callable[[int, list[dict]], Awaitable[str]]

# Sandbox slots: one semaphore per (event loop, level, size), shared by every
# recursion in the process.  Per level, so a REPL waiting on its children never
# holds the slot they need (no deadlock whatever the fan-out).
_slots: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[int, int], asyncio.Semaphore]
]
_slots = weakref.WeakKeyDictionary()


def _slot(level: int, size: int) -> asyncio.Semaphore:
    per_loop = _slots.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault((level, size), asyncio.Semaphore(size))


@dataclass
class _Started:
    """Child REPLs started so far by one step's whole recursion tree."""

    count: int = 0


@dataclass
class Cell:
    """One code block the model wrote at `level`, in its `iteration`-th turn."""

    level: int
    iteration: int
    code: str
    result: CellResult


@dataclass
class RecursionResult:
    """The answer, how many model turns it took, and every cell that ran."""

    value: Any
    iterations: int
    cells: list[Cell]
    forced_final: bool
    messages: list[dict] = field(default_factory=list, repr=False)
    isolation: dict[str, str] = field(default_factory=dict, repr=False)


class RecursionFailed(HetError):
    """The recursion ended without an answer that passes validation."""


def _render(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


async def run_recursion(
    task: str,
    context: Any,
    *,
    depth: int,
    call_model: CallModel,
    max_iterations: int = 12,
    limits: SandboxLimits = SandboxLimits(),
    validate: Callable[[Any], Any] | None = None,
    level: int = 0,
    _started: _Started | None = None,
) -> RecursionResult:
    """Drive the model at `level` over `context` until it calls FINAL (or is made to answer).

    `depth` counts the levels that get a REPL: `rlm_query` at level L opens a child
    recursion while L + 1 < depth, and is a plain call of level L + 1 otherwise.
    """
    if depth < 1:
        raise ValueError("depth must be at least 1")
    if max_iterations < 1:
        raise ValueError("max_iterations must be at least 1")

    started = _started if _started is not None else _Started()

    async def on_call(sub: SubCall) -> str:
        below = level + 1
        if sub.kind == "rlm" and below < depth:
            if started.count >= limits.max_child_sandboxes:
                raise SubCallRefused(
                    f"rlm_query: this step already started {started.count} child REPLs, "
                    "its limit; use llm_query for the rest, or answer from what you have"
                )
            started.count += 1
            child = await run_recursion(
                sub.prompt,
                sub.context,
                depth=depth,
                call_model=call_model,
                max_iterations=max_iterations,
                limits=limits,
                level=below,
                _started=started,
            )
            return _render(child.value)
        content = sub.prompt
        if sub.context is not None:
            content += "\n\nContext:\n" + _render(sub.context)
        return await call_model(below, [{"role": "user", "content": content}])

    messages: list[dict] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": first_prompt(task, context)},
    ]
    cells: list[Cell] = []
    async with (
        _slot(level, limits.max_sandboxes),
        Sandbox(context, on_call=on_call, limits=limits) as box,
    ):
        for iteration in range(1, max_iterations + 1):
            reply = await call_model(level, list(messages))
            messages.append({"role": "assistant", "content": reply})
            blocks = code_blocks(reply)
            if not blocks:
                messages.append({"role": "user", "content": NO_CODE_PROMPT})
                continue
            reports = []
            for index, code in enumerate(blocks, 1):
                result = await box.run_cell(code)
                cells.append(Cell(level, iteration, code, result))
                if result.final:
                    try:
                        value = validate(result.final_value) if validate else result.final_value
                    except Exception as e:  # the validator's message is for the model
                        result.final = False
                        result.error = f"FINAL: the answer does not have the expected type: {e}"
                    else:
                        return RecursionResult(
                            value, iteration, cells, False, messages, dict(box.isolation)
                        )
                reports.append(cell_report(index, result.output, result.error, limits.output_chars))
                if result.error:
                    if index < len(blocks):
                        reports.append("(the blocks after it were not run)")
                    break
            reports.append(f"[turn {iteration} of {max_iterations} used]")
            messages.append({"role": "user", "content": "\n\n".join(reports)})
        isolation = dict(box.isolation)

    messages.append(
        {"role": "user", "content": FORCE_FINAL_PROMPT.format(iterations=max_iterations)}
    )
    value = parse_answer(await call_model(level, list(messages)))
    if validate is not None:
        try:
            value = validate(value)
        except Exception as e:
            raise RecursionFailed(
                f"recurse: no FINAL after {max_iterations} turns, and the forced answer "
                f"does not have the expected type: {str(e).splitlines()[0]}"
            ) from None
    return RecursionResult(value, max_iterations, cells, True, messages, isolation)
