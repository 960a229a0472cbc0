"""What each plan node does once its inputs are ready: one function per operation.

``extract``/``reduce`` run a builtin (no model); ``reason`` renders its prompt and asks
its model; ``zoom`` asks a vision model for a box and crops; ``recurse.root`` drives
the recursion loop, every level's calls going through the same call path on that
level's assignment.  A prompt that renders an image sends it as an image part
(``data:`` URL) after the text, and the text names it ``[image N]`` where it stood.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from hetflow.builtins.table import BUILTINS
from hetflow.errors import HetError
from hetflow.plan.model import Plan, PlanNode
from hetflow.runtime import structured, zoom
from hetflow.runtime.values import Image
from hetflow.syntax.templates import RenderError, render

if TYPE_CHECKING:
    from hetflow.runtime.calls import Caller


class CallLimitReached(Exception):
    """A ``recurse`` asked for more sub-calls than its ``with max_calls=N``."""


class CallLimit:
    """``with max_calls=N`` of a ``recurse``: at most N sub-calls reach a model.

    A sub-call past the limit waits for the allowed ones still in flight (they are paid
    for: their answers are journaled) and then fails; the sandbox ends the recursion on
    a failed sub-call, so the step fails saying so.
    """

    def __init__(self, limit: int | None):
        self.limit, self.made, self._busy = limit, 0, 0
        self._idle: asyncio.Event | None = None

    async def call(self, make: Callable[[], Awaitable[Any]]) -> Any:
        if self.limit is None:
            return await make()
        if self.made >= self.limit:
            while self._busy:
                if self._idle is None:
                    self._idle = asyncio.Event()
                await self._idle.wait()
            task = asyncio.current_task()
            if task is not None:  # a batch's other refusals: seen, not logged as lost
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise CallLimitReached(f"max_calls={self.limit} reached: no more sub-calls")
        self.made += 1
        self._busy += 1
        try:
            return await make()
        finally:
            self._busy -= 1
            if not self._busy and self._idle is not None:
                self._idle.set()
                self._idle = None


class StepError(Exception):
    """A node failed for a reason in the workflow's data (template, builtin, value)."""


def arg_value(arg: Any, values: dict[str, Any]) -> Any:
    """A builtin argument from the plan: ``{"ref": name}``, ``{"value": v}`` or plain."""
    if isinstance(arg, dict) and len(arg) == 1:
        ((kind, v),) = arg.items()
        if kind == "ref":
            return values[v]
        if kind == "value":
            return arg_value(v, values) if isinstance(v, (list, dict)) else v
        if kind in ("list", "items"):
            return [arg_value(a, values) for a in v]
    if isinstance(arg, list):
        return [arg_value(a, values) for a in arg]
    return arg


def run_builtin(node: PlanNode, values: dict[str, Any]) -> Any:
    spec = node.builtin or {}
    name = spec.get("name")
    if name not in BUILTINS:
        raise StepError(f"unknown builtin {name!r}")
    args = [arg_value(a, values) for a in spec.get("args", [])]
    kwargs = {k: arg_value(v, values) for k, v in (spec.get("kwargs") or {}).items()}
    try:
        return BUILTINS[name].run(*args, **kwargs)
    except HetError as exc:
        raise StepError(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise StepError(f"{name}: {exc}") from None


_PLAIN = frozenset({str, int, float, bool, type(None)})  # values shown as they are


def prompt_content(template: str, values: dict[str, Any]) -> str | list[dict]:
    """The rendered prompt: text, or text and image parts when it renders images."""
    for v in values.values():
        if type(v) not in _PLAIN:
            break
    else:  # no image can hide in these: render the values themselves, uncopied
        try:
            return render(template, values)
        except RenderError as exc:
            raise StepError(f"template: {exc}") from None
    images: list[Image] = []

    def swap(v: Any) -> Any:
        if isinstance(v, Image):
            images.append(v)
            return f"[image {len(images)}]"
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [swap(x) for x in v]
        return v

    shown = {k: swap(v) for k, v in values.items()}
    try:
        text = render(template, shown)
    except RenderError as exc:
        raise StepError(f"template: {exc}") from None
    if not images:
        return text
    return [{"type": "text", "text": text}] + [
        {"type": "image_url", "image_url": {"url": im.data_url()}} for im in images
    ]


async def reason(
    caller: Caller, plan: Plan, node: PlanNode, item: str, values: dict[str, Any]
) -> Any:
    content = prompt_content(node.prompt or "", values)
    schema = structured.schema_for(node, plan)
    messages = [{"role": "user", "content": content}]
    if schema is None:
        return await caller.ask(node, item, messages)
    return await caller.ask(node, item, messages, schema=schema, parse=structured.parse)


async def zoom_step(
    caller: Caller, plan: Plan, node: PlanNode, item: str, values: dict[str, Any]
) -> Image:
    image = values.get(node.input or "")
    if not isinstance(image, Image):
        raise StepError(f"zoom: '{node.input}' is not an image")
    goal = prompt_content(
        node.prompt or "", {k: v for k, v in values.items() if not isinstance(v, Image)}
    )
    goal_text = goal if isinstance(goal, str) else goal[0]["text"]
    try:
        messages = zoom.messages(image, goal_text)
    except Exception as exc:
        raise StepError(f"zoom: cannot read the image: {exc}") from None
    box = await caller.ask(node, item, messages, schema=zoom.BOX_SCHEMA, parse=structured.parse)
    scale = (node.options or {}).get("scale")
    return zoom.crop(image, box, float(scale) if scale else None)


def sandbox_limits(policy: str) -> Any:
    """The sandbox limits for a `recurse` step under Settings.sandbox ("strict", "weak")."""
    from hetflow.recurse import SandboxLimits  # the sandbox: ~0.1 s to import, recurse only

    if policy == "strict":
        return SandboxLimits()
    if policy == "weak":
        return SandboxLimits(required=())
    raise StepError(f"recurse: unknown sandbox policy {policy!r} (strict or weak)")


async def recurse(
    caller: Caller, plan: Plan, node: PlanNode, item: str, values: dict[str, Any]
) -> Any:
    from hetflow.recurse import run_recursion  # the sandbox: ~0.1 s to import

    step = node.step
    levels = {0: node}
    for other in plan.nodes:
        if other.step == step and other.op == "recurse.sub" and other.level:
            levels[other.level] = other
    depth = node.depth or max(1, max(levels))
    task = prompt_content(node.prompt or "", values)
    if not isinstance(task, str):
        raise StepError("recurse: the task cannot show an image")
    context = values.get(node.input or "")
    schema = structured.schema_for(node, plan)

    opts = node.options or {}
    limit = CallLimit(int(opts["max_calls"]) if "max_calls" in opts else None)

    async def call_model(level: int, messages: list[dict]) -> str:
        target = levels.get(level) or levels[max(levels)]
        if level == 0:  # the root's turns: bounded by max_iterations
            return await caller.ask(target, item, messages)
        return await limit.call(lambda: caller.ask(target, item, messages))

    validate = None
    if schema is not None:

        def validate(value: Any) -> Any:
            text = value if isinstance(value, str) else json.dumps(value)
            return structured.parse(text, schema, False)

    from hetflow.estimate.sizes import RECURSE_ITERATIONS

    # Without `with max_iterations=`, the cap is the turns the estimate planned for (it was
    # 12 here while compile assumed 6, so a long recursion ran twice what was priced).
    kwargs: dict[str, Any] = {
        "limits": sandbox_limits(caller.settings.sandbox),
        "max_iterations": int(opts.get("max_iterations", RECURSE_ITERATIONS)),
    }
    try:
        result = await run_recursion(
            task, context, depth=depth, call_model=call_model, validate=validate, **kwargs
        )
    except HetError as exc:  # no valid answer, or the sandbox could not start
        raise StepError(str(exc)) from None
    except CallLimitReached as exc:  # the model's code asked for more than allowed
        raise StepError(f"recurse: {exc} ({limit.made} made)") from None
    value = result.value
    if schema is None and not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    return value
