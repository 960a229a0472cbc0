"""Lifecycle hooks, Hamilton style: plain callables with keyword-only arguments.

A hook takes the keywords it cares about and ``**future_kwargs`` for the rest, so a
keyword added in a later hetflow never breaks it::

    def on_call_end(*, node, model, cost_usd, latency_s, **future_kwargs):
        print(node, model, cost_usd)

    hetflow.run_sync(plan, inputs, hooks={"on_call_end": on_call_end})

``hooks`` is a mapping of hook name to callable, or any object (or list of objects)
with methods of these names: ``on_run_start(plan, run_id)``, ``on_node_start(node,
step, item)``, ``on_node_end(node, step, item, ok, error)``, ``on_call_start(node,
step, item, model, chip, litellm)``, ``on_call_end(node, step, item, model, chip,
litellm, tokens_in, tokens_out, cost_usd, latency_s, retries, fallback, cached,
error)``, ``on_run_end(outputs, cost_usd, latency_s, stopped, failed)``.  A hook that
raises is reported once as a warning and does not stop the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

NAMES = (
    "on_run_start",
    "on_node_start",
    "on_node_end",
    "on_call_start",
    "on_call_end",
    "on_run_end",
)


class Hooks:
    def __init__(self, hooks: Mapping[str, Callable] | Iterable[Any] | Any | None = None):
        self._by_name: dict[str, list[Callable]] = {n: [] for n in NAMES}
        self._warned: set[str] = set()
        if hooks is None:
            return
        if isinstance(hooks, Mapping):
            for name, fn in hooks.items():
                if name not in self._by_name:
                    raise ValueError(f"unknown hook {name!r}; hooks are: {', '.join(NAMES)}")
                self._by_name[name].append(fn)
            return
        objects = hooks if isinstance(hooks, (list, tuple)) else [hooks]
        for obj in objects:
            for name in NAMES:
                fn = getattr(obj, name, None)
                if callable(fn):
                    self._by_name[name].append(fn)

    def __bool__(self) -> bool:
        return any(self._by_name.values())

    def has(self, name: str) -> bool:
        return bool(self._by_name[name])

    def __call__(self, name: str, **kwargs: Any) -> None:
        for fn in self._by_name[name]:
            try:
                fn(**kwargs)
            except Exception as exc:  # a user's hook must not break the run
                if name not in self._warned:
                    self._warned.add(name)
                    warnings.warn(
                        f"hook {name} raised {type(exc).__name__}: {exc}",
                        RuntimeWarning,
                        stacklevel=2,
                    )
