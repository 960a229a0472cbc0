"""The Ray backend: each model call and each CPU operation runs as a Ray task on a node
holding its chip, while the driver keeps everything that must be exact.

Chips are Ray custom resources named ``hetflow-chip:<chip>`` (the catalog's chip key):
an operator starts a node with ``ray start --resources='{"hetflow-chip:nvidia-h100": 8}'``
and every call placed on ``nvidia-h100`` asks for a sliver (0.01) of that resource, so
it runs on such a node (up to 100 calls at once per unit; the plan's per-offer
``concurrency`` still bounds them, in the driver).  A chip no node offers: by default
its calls run on any node (an API-served chip is reachable from anywhere) after a
warning; ``strict=True`` (``--ray-strict``) refuses the run instead.

Keys never travel in a task's arguments (Ray shows those in its dashboard and state
API): a task gets the offer's *variable name* and the worker reads the value from its
own environment.  Set keys on the nodes, or pass ``runtime_env={"env_vars": {...}}``
yourself to opt in to Ray shipping them.  The worker redacts its own key values from
any error before the error leaves the node.

Ray is imported only here, and only when a run asks for ``backend="ray"``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from types import SimpleNamespace
from typing import Any

from hetflow.errors import HetError
from hetflow.plan.model import Assignment, Plan, PlanNode
from hetflow.runtime import keys, llm
from hetflow.runtime.llm import Reply
from hetflow.runtime.ops import StepError, run_builtin

PREFIX = "hetflow-chip:"
CPU_CHIP = "cpu"  # extract/reduce builtins ask for this chip's resource when a node has it
SHARE = 0.01  # how much of a chip resource one call holds
OFFER_FIELDS = (
    "model",
    "chip",
    "litellm",
    "offer",
    "provider",
    "api_base",
    "api_key_env",
    "client",
    "concurrency",
)


def resource(chip: str) -> str:
    """The Ray custom resource that marks a node holding ``chip``."""
    return PREFIX + chip


class RemoteCallError(Exception):
    """A model call that failed on a Ray node, as the driver's retry loop needs to see it:
    ``transient`` (retry the same offer?), ``status_code``, a redacted ``description``
    and the provider's ``Retry-After`` (as ``response.headers``)."""

    def __init__(
        self,
        description: str,
        *,
        transient: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(description)
        self.description, self.transient, self.status_code = description, transient, status_code
        headers = {"retry-after": str(retry_after)} if retry_after else {}
        self.response = SimpleNamespace(headers=headers)


class RayBackend:
    """Runs the work of a run on a Ray cluster; see the module's docstring."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        strict: bool = False,
        runtime_env: dict | None = None,
        share: float = SHARE,
    ):
        self.address, self.strict, self.runtime_env, self.share = (
            address,
            strict,
            runtime_env,
            share,
        )
        self.warnings: list[str] = []
        self.offered: set[str] = set()  # chip resources some node holds
        self._owned = False
        self._call: Any = None  # the Ray remote functions, made in start()
        self._cpu: Any = None

    # The driver's side -------------------------------------------------------------

    def start(self, plan: Plan) -> dict[str, list[Assignment]]:
        """Connect (or start a local Ray), check every planned chip has a node, and
        return every offer.  A Ray of its own shares this process's environment, so its
        keys are checked here, before Ray starts; a cluster's are checked on the node
        where each call runs."""
        local = sorted(
            {o.offer for n in plan.nodes for o in [n.assignment, *n.alternatives] if o and o.serve}
        )
        if local:
            raise HetError(
                f"local offers ({', '.join(local)}) are served in hetflow's own process:"
                " run them with --backend local"
            )
        try:
            import ray
        except ImportError:
            raise HetError(
                "the ray backend needs Ray: pip install 'hetflow[ray]' (or use --backend local)"
            ) from None
        checked: dict[str, list[Assignment]] | None = None
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            alone: dict[str, Any] = {}
            if self.address is None and not os.environ.get("RAY_ADDRESS"):
                # Its nodes are this process's children and see its environment: a
                # missing key is said now, before Ray starts (a cluster's nodes have
                # their own environment, checked where each call runs).
                checked = keys.check_keys(plan)
                # A Ray of its own on this machine: loopback only, no dashboard.
                alone = {"_node_ip_address": "127.0.0.1", "include_dashboard": False}
            try:
                ray.init(
                    address=self.address,
                    runtime_env=self.runtime_env,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    **alone,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "a local Ray"
                raise HetError(f"cannot reach Ray at {where}: {_first_line(exc)}") from None
            self._owned = True
        self._call = ray.remote(num_cpus=0, max_retries=0)(remote_complete)
        self._cpu = ray.remote(max_retries=0)(remote_builtin)
        self.offered = {k[len(PREFIX) :] for k in ray.cluster_resources() if k.startswith(PREFIX)}
        chips = {
            n.assignment.chip
            for n in plan.nodes
            if n.assignment is not None and n.assignment.chip not in self.offered
        }  # planned chips; an alternative on a chip no node holds runs anywhere
        if chips:
            names = ", ".join(sorted(chips))
            how = "start one with: ray start --resources='{\"" + resource(min(chips)) + "\": 8}'"
            if self.strict:
                raise HetError(f"no Ray node holds chip {names} (--ray-strict); {how}")
            message = (
                f"no Ray node holds chip {names}: its calls run on any node "
                f"(use --ray-strict to refuse); {how}"
            )
            self.warnings.append(message)
            print(f"hetflow: warning: {message}", file=sys.stderr)
        chains = checked or {
            n.id: [n.assignment, *n.alternatives] for n in plan.nodes if n.assignment
        }
        return {
            node: [o for o in chain if o is chain[0] or not self.strict or o.chip in self.offered]
            for node, chain in chains.items()
        }

    def _resources(self, chip: str) -> dict[str, float]:
        return {resource(chip): self.share} if chip in self.offered else {}

    async def complete(self, offer: Assignment, messages: list[dict], **kwargs: Any) -> Any:
        """One model call as a Ray task on a node holding the offer's chip."""
        import ray

        shipped = {f: getattr(offer, f) for f in OFFER_FIELDS}
        ref = self._call.options(resources=self._resources(offer.chip)).remote(
            shipped, messages, kwargs
        )
        try:
            out = await ref
        except asyncio.CancelledError:
            ray.cancel(ref)
            raise
        except ray.exceptions.RayError as exc:  # a worker or node died mid-call
            raise RemoteCallError(f"Ray: {_first_line(exc)}", transient=True) from None
        if "error" in out:
            raise RemoteCallError(
                out["error"],
                transient=out["transient"],
                status_code=out.get("status"),
                retry_after=out.get("retry_after"),
            )
        reply = Reply(
            out["text"],
            out["input_tokens"],
            out["output_tokens"],
            out.get("reasoning_tokens"),
            out.get("finish_reason"),
        )
        reply.ray_node = out["node"]  # type: ignore[attr-defined]
        return reply

    async def builtin(self, node: PlanNode, values: dict[str, Any]) -> Any:
        """An extract/reduce builtin as a Ray task (on a ``cpu`` node if there is one)."""
        out = await self._cpu.options(resources=self._resources(CPU_CHIP)).remote(node, values)
        if "error" in out:
            raise StepError(out["error"])
        return out["value"]

    def close(self) -> None:
        if self._owned:
            import ray

            ray.shutdown()
            self._owned = False


# The worker's side --------------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _worker_loop() -> asyncio.AbstractEventLoop:
    """One event loop per worker process, kept running in a thread: litellm's async
    clients are bound to the loop that made them, so every call shares this one."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, daemon=True).start()
        return _loop


def remote_complete(offer: dict, messages: list[dict], kwargs: dict) -> dict:
    """Runs in a Ray worker: the key comes from this node's environment, never the args."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    the_offer = Assignment(**offer)
    var = the_offer.api_key_env
    if var and not os.environ.get(var):
        return {
            "error": f"{var} is not set on Ray node {node[:12]} (set it on the node)",
            "transient": False,
            "node": node,
        }
    call = llm.complete(the_offer, messages, **kwargs)
    try:
        reply = asyncio.run_coroutine_threadsafe(call, _worker_loop()).result()
    except Exception as exc:
        secrets = keys.secret_values(None)
        if var and os.environ.get(var):
            secrets.append(os.environ[var])
        retry_after = llm.retry_after(exc)  # litellm's litellm_response_headers
        status = getattr(exc, "status_code", None)
        return {
            "error": keys.redact(llm.describe(exc), secrets),
            "transient": llm.is_transient(exc),
            "status": status if isinstance(status, int) else None,
            "retry_after": retry_after or None,
            "node": node,
        }
    return {
        "text": reply.text,
        "input_tokens": reply.input_tokens,
        "output_tokens": reply.output_tokens,
        "reasoning_tokens": reply.reasoning_tokens,
        "finish_reason": reply.finish_reason,
        "node": node,
    }


def remote_builtin(node: PlanNode, values: dict[str, Any]) -> dict:
    """Runs in a Ray worker: a builtin's value, or its one-line error."""
    try:
        return {"value": run_builtin(node, values)}
    except StepError as exc:
        return {"error": str(exc)}


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__
