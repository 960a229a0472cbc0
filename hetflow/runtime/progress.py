"""A live progress line on a terminal (rich); nothing at all when not a TTY."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """Steps finished, calls made and dollars spent, redrawn a few times a second."""

    def __init__(self, enabled: bool, total_nodes: int):
        self.enabled = enabled and sys.stderr.isatty()
        self.total = total_nodes
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

        return Text(
            f"hetflow run: {self.nodes} nodes done ({self.total} steps in the plan)"
            f" · {self.calls} calls · ${self.cost:.4f}"
        )

    def node_done(self) -> None:
        self.nodes += 1
        self._refresh()

    def call_done(self, *, cost_usd: float = 0.0, error: str | None = None, **_: Any) -> None:
        if not error:
            self.calls += 1
            self.cost += cost_usd
        self._refresh()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._text())
