"""The journal: every finished node (and map item, and model call) of a run, on disk.

A run is keyed by its plan's hash and its inputs' hash.  Each node's value is written
to SQLite as soon as the node finishes — per map item inside a ``map`` — and so is each
model call's reply, so a run that crashed or was killed resumes with ``--resume``: the
finished nodes are not run again, and a node cut off midway (a ``recurse`` with many
calls) replays its finished calls from the journal instead of paying for them twice.
Rows are committed one by one in WAL mode, so a ``kill -9`` loses at most the call that
was in flight.  Nothing here ever holds an API key: the values are the workflow's data.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from hetflow.errors import HetError
from hetflow.runtime.values import from_json, to_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    workflow TEXT NOT NULL,
    started REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'running'
);
CREATE INDEX IF NOT EXISTS runs_key ON runs(key);
CREATE TABLE IF NOT EXISTS nodes (
    run INTEGER NOT NULL,
    node TEXT NOT NULL,
    item TEXT NOT NULL,
    value TEXT NOT NULL,
    finished REAL NOT NULL,
    PRIMARY KEY (run, node, item)
);
CREATE TABLE IF NOT EXISTS calls (
    run INTEGER NOT NULL,
    call TEXT NOT NULL,
    reply TEXT NOT NULL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost REAL NOT NULL,
    PRIMARY KEY (run, call)
);
"""


def default_path() -> Path:
    """``journal.sqlite`` in the user's data directory (platformdirs)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("hetflow", appauthor=False)) / "journal.sqlite"


def item_key(path: tuple[int, ...]) -> str:
    """A map item's place: ``""`` outside any map, ``"3"``, ``"3/1"`` in nested maps."""
    return "/".join(map(str, path))


class Journal:
    """One SQLite file holding many runs; one instance follows one run."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise HetError(f"journal {self.path}: {exc}") from None
        except OSError as exc:
            raise HetError(f"journal {self.path}: {exc.strerror}") from None
        self.run_id: int | None = None
        self.resumed = False

    def start(self, key: str, workflow: str, *, resume: bool) -> int:
        """Begin a run, or with ``resume`` continue the latest run with the same key."""
        if resume:
            row = self.db.execute(
                "SELECT id FROM runs WHERE key=? ORDER BY id DESC LIMIT 1", (key,)
            ).fetchone()
            if row:
                self.run_id, self.resumed = row[0], True
                self.db.execute("UPDATE runs SET status='running' WHERE id=?", (self.run_id,))
                return self.run_id
        cur = self.db.execute(
            "INSERT INTO runs (key, workflow, started) VALUES (?, ?, ?)",
            (key, workflow, time.time()),
        )
        assert cur.lastrowid is not None  # set by an INSERT
        self.run_id = cur.lastrowid
        return self.run_id

    def finish(self, status: str) -> None:
        self.db.execute("UPDATE runs SET status=? WHERE id=?", (status, self.run_id))

    # ---------------------------------------------------------------- nodes
    def finished_nodes(self) -> dict[tuple[str, str], Any]:
        """Every node value already journaled for this run, by (node, item)."""
        rows = self.db.execute("SELECT node, item, value FROM nodes WHERE run=?", (self.run_id,))
        return {(node, item): from_json(value) for node, item, value in rows}

    def node_done(self, node: str, item: str, value: Any) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO nodes VALUES (?, ?, ?, ?, ?)",
            (self.run_id, node, item, to_json(value), time.time()),
        )

    # ---------------------------------------------------------------- calls
    def call(self, call_hash: str) -> tuple[str, int | None, int | None, float] | None:
        return self.db.execute(
            "SELECT reply, input_tokens, output_tokens, cost FROM calls WHERE run=? AND call=?",
            (self.run_id, call_hash),
        ).fetchone()

    def call_done(
        self,
        call_hash: str,
        reply: str,
        input_tokens: int | None,
        output_tokens: int | None,
        cost: float,
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?)",
            (self.run_id, call_hash, reply, input_tokens, output_tokens, cost),
        )

    def spent(self) -> float:
        """What this run's journaled calls cost (counted against a resumed run's budget)."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(cost), 0) FROM calls WHERE run=?", (self.run_id,)
        ).fetchone()
        return float(row[0])

    def close(self) -> None:
        self.db.close()


def run_key(plan_hash: str, inputs: dict[str, Any]) -> str:
    """The journal key: the plan's hash and a hash of the inputs' values."""
    digest = hashlib.sha256(to_json(inputs).encode()).hexdigest()
    return f"{plan_hash[:32]}:{digest[:32]}"


def plan_hash(plan) -> str:
    """A hash of what a plan does (not of timings or estimates, which vary by compile)."""
    data = plan.model_dump(
        mode="json", exclude={"optimizer", "estimate", "baseline", "warnings", "hetflow_version"}
    )
    for node in data.get("nodes", []):
        node.pop("estimate", None)
        node.pop("source", None)
        node.pop("needs_why", None)
        for alt in [node.get("assignment")] + list(node.get("alternatives") or []):
            if alt:
                alt.pop("cost_usd", None)
                alt.pop("latency_s", None)
                if alt.get("client") is None:  # plans from before the key hash the same
                    alt.pop("client", None)
    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
