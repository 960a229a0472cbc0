"""Where a run's work happens: in this process (``local``) or on a Ray cluster (``ray``).

The driver — the scheduler, budget reservations, journal, cache, trace, retries and
fallback decisions — is the same for every backend: it must be exact and single-writer.
A backend only decides where the *work* runs: each model call (``complete``) and each
CPU operation (``builtin``).  ``local`` is the default and never imports Ray;
``ray`` lives in :mod:`hetflow.runtime.ray_backend` and is imported only when asked for.
"""

from __future__ import annotations

from typing import Any, Protocol

from hetflow.errors import HetError
from hetflow.plan.model import Assignment, Plan, PlanNode
from hetflow.runtime import keys, llm
from hetflow.runtime.ops import run_builtin
from hetflow.runtime.ray_backend import RayBackend

NAMES = ("local", "ray")


class Backend(Protocol):
    """What the driver asks of a backend."""

    name: str

    def start(self, plan: Plan) -> dict[str, list[Assignment]]:
        """Get ready for a plan; returns each model node's usable offers, in order."""

    async def complete(self, offer: Assignment, messages: list[dict], **kwargs: Any) -> Any:
        """One model call (``llm.complete``'s arguments); returns an ``llm.Reply``."""

    async def builtin(self, node: PlanNode, values: dict[str, Any]) -> Any:
        """An ``extract``/``reduce`` builtin on its inputs' values."""

    def close(self) -> None:
        """Release what :meth:`start` took (a Ray connection this backend opened)."""


class LocalBackend:
    """Everything in this process, on the run's own event loop.

    Local offers (``serve = "local"``) are checked in :meth:`start`, before any call;
    each one's llama.cpp server starts on its first call and stops in :meth:`close`.
    """

    name = "local"

    def __init__(self) -> None:
        self.servers: Any = None  # hetflow.runtime.local.server.LocalServers, when used

    def start(self, plan: Plan) -> dict[str, list[Assignment]]:
        offers = keys.check_keys(plan)
        local = [o for chain in offers.values() for o in chain if o.serve == "local"]
        if local:
            self._servers().check(local)
        return offers

    def _servers(self) -> Any:
        if self.servers is None:
            from hetflow.runtime.local.server import LocalServers

            self.servers = LocalServers()
        return self.servers

    async def complete(self, offer: Assignment, messages: list[dict], **kwargs: Any) -> Any:
        if offer.serve == "local":
            base = await self._servers().api_base(offer)
            offer = offer.model_copy(update={"api_base": base})
        return await llm.complete(offer, messages, **kwargs)

    async def builtin(self, node: PlanNode, values: dict[str, Any]) -> Any:
        return run_builtin(node, values)

    def close(self) -> None:
        if self.servers is not None:
            self.servers.close()


def get(backend: Any = None, *, address: str | None = None, strict: bool = False) -> Backend:
    """A backend from a name (``"local"``, ``"ray"``), a Backend, or None (local)."""
    if backend is None or backend == "local":
        return LocalBackend()
    if backend == "ray":
        return RayBackend(address=address, strict=strict)
    if isinstance(backend, str):
        raise HetError(f"unknown backend {backend!r}: use one of {', '.join(NAMES)}")
    return backend
