"""A live progress line on a terminal (rich); nothing at all when not a TTY."""

from __future__ import annotations

import sys
from typing import Any

from hetflow.units import printable


class Progress:
    """Steps with a result out of the plan's, calls made and dollars spent, redrawn a few
    times a second.  A map step counts once, however many items it runs (its items are
    counted apart), so the count never passes the total."""

    def __init__(self, enabled: bool, total_steps: int):
        self.enabled = enabled and sys.stderr.isatty()
        self.total = total_steps
        self.steps: set[str] = set()
        self.nodes = 0
        self.calls = 0
        self.cost = 0.0
        self._live: Any = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                self._text(), console=Console(stderr=True), refresh_per_second=8, transient=True
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def _text(self):
        from rich.text import Text

        return Text(self.line())

    def line(self) -> str:
        """``hetflow run: 3/5 steps · 14 results · 12 calls · $0.0012``"""
        return (
            f"hetflow run: {len(self.steps)}/{self.total} steps · {self.nodes} results"
            f" · {self.calls} calls · ${self.cost:.4f}"
        )

    def say(self, line: str) -> None:
        """A line of news (a slow call) above the live line, or on standard error."""
        line = printable(line)
        if self._live is not None:
            self._live.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=sys.stderr, flush=True)

    def node_done(self, step: str = "") -> None:
        self.nodes += 1
        self.steps.add(step)
        self._refresh()

    def call_done(self, *, cost_usd: float = 0.0, error: str | None = None, **_: Any) -> None:
        if not error:
            self.calls += 1
            self.cost += cost_usd
        self._refresh()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._text())
