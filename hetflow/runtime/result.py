"""What a run returns: its outputs, what it cost, and why it stopped if it did."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from hetflow.plan.model import Plan
from hetflow.runtime.trace import compare, summary_text


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
        if self.plan is None:
            return {}
        return compare(self.plan, self.trace, self.latency_s, self.node_times)

    @functools.cached_property
    def summary(self) -> str:
        """The end-of-run summary ``hetflow run`` prints on standard error."""
        if self.plan is None:
            return ""
        return summary_text(
            self.comparison,
            spent_before=self.spent_before,
            finished=self.ok,
            failures=[str(r["error"]) for r in self.trace if r.get("error")],
        )

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
