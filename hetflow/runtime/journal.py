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
    status TEXT NOT NULL DEFAULT 'running',
    settings TEXT
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


class JournalWriteError(HetError):
    """The journal could not be written (a full disk, a read-only or vanished file): not
    a model's failure — the run stops starting calls, and says what to free."""


class Journal:
    """One SQLite file holding many runs; one instance follows one run."""

    def _write(self, sql: str, params: tuple) -> Any:
        try:
            return self.db.execute(sql, params)
        except (sqlite3.Error, OSError) as exc:
            raise JournalWriteError(
                f"cannot write the journal {self.path} ({exc}): make it writable or free "
                "space on its disk, or give --journal another path; no call started after "
                "that, and what was paid for before it is in the outputs"
            ) from None

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(runs)")}
            if "settings" not in columns:  # a journal from before run settings were kept
                self.db.execute("ALTER TABLE runs ADD COLUMN settings TEXT")
        except sqlite3.DatabaseError as exc:
            raise HetError(f"journal {self.path}: {exc}") from None
        except OSError as exc:
            raise HetError(f"journal {self.path}: {exc.strerror}") from None
        self.run_id: int | None = None
        self.resumed = False
        self.settings: dict[str, Any] = {}  # how the run was asked to run (input_bound)
        self._lock: int | None = None  # the fd holding this run's lock
        self._lock_path: Path | None = None

    def start(
        self, key: str, workflow: str, *, resume: bool, settings: dict[str, Any] | None = None
    ) -> int:
        """Begin a run, or with ``resume`` continue the latest run with the same key.

        A new run records ``settings``; a resumed one reads its own into :attr:`settings`.
        """
        if resume:
            row = self.db.execute(
                "SELECT id, settings FROM runs WHERE key=? ORDER BY id DESC LIMIT 1", (key,)
            ).fetchone()
            if row:
                self._hold(row[0])  # before anything is written: one run, one writer
                self.run_id, self.resumed = row[0], True
                try:
                    kept = json.loads(row[1]) if row[1] else {}
                except ValueError:
                    kept = {}
                self.settings = kept if isinstance(kept, dict) else {}
                self._write("UPDATE runs SET status='running' WHERE id=?", (self.run_id,))
                return self.run_id
        self.settings = dict(settings or {})
        cur = self._write(
            "INSERT INTO runs (key, workflow, started, settings) VALUES (?, ?, ?, ?)",
            (key, workflow, time.time(), json.dumps(self.settings, sort_keys=True)),
        )
        assert cur.lastrowid is not None  # set by an INSERT
        self._hold(cur.lastrowid)
        self.run_id = cur.lastrowid
        return self.run_id

    def keep_settings(self, settings: dict[str, Any]) -> None:
        """Record how this run runs, so that ``--resume`` runs it the same way."""
        self.settings = dict(settings)
        self._write(
            "UPDATE runs SET settings=? WHERE id=?",
            (json.dumps(self.settings, sort_keys=True), self.run_id),
        )

    def finish(self, status: str) -> None:
        try:
            self._write("UPDATE runs SET status=? WHERE id=?", (status, self.run_id))
        finally:
            self._release()

    # ---------------------------------------------------------------- the run's lock
    def _hold(self, run_id: int) -> None:
        """Lock a run for this process (an advisory ``flock`` on a file per run, next to
        the journal; the kernel drops it when the process dies, even by ``kill -9``).
        A run someone else holds is a one-line error naming the holder."""
        try:
            import fcntl
        except ImportError:  # no flock (Windows): no lock
            return
        folder = self.path.with_name(self.path.name + ".locks")
        path = folder / f"run-{run_id}.lock"
        while True:
            try:
                folder.mkdir(exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise HetError(
                    f"cannot lock run {run_id} of {self.path}: {folder}: "
                    f"{exc.strerror or exc} (the journal's lock folder must be a folder this "
                    "user can write; remove or fix it, or give another --journal)"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 512).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise HetError(
                    f"run {run_id} of {self.path} is being run by {holder}: one run, one "
                    "writer — wait for it to end, or stop it, then --resume"
                ) from None
            try:  # the file may have been removed by its last holder in between
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        import socket

        os.ftruncate(fd, 0)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()} since {since}".encode())
        self._lock, self._lock_path = fd, path

    def _release(self) -> None:
        if self._lock is None:
            return
        fd, path = self._lock, self._lock_path
        self._lock = self._lock_path = None
        try:
            if path is not None:
                path.unlink()  # before unlocking: a waiter then sees another inode, retries
        except OSError:
            pass
        os.close(fd)  # drops the lock

    # ---------------------------------------------------------------- nodes
    def finished_nodes(self) -> dict[tuple[str, str], Any]:
        """Every node value already journaled for this run, by (node, item)."""
        rows = self.db.execute("SELECT node, item, value FROM nodes WHERE run=?", (self.run_id,))
        return {(node, item): from_json(value) for node, item, value in rows}

    def node_done(self, node: str, item: str, value: Any) -> None:
        self._write(
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
        self._write(
            "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?)",
            (self.run_id, call_hash, reply, input_tokens, output_tokens, cost if cost > 0 else 0.0),
        )

    def spent(self) -> float:
        """What this run's journaled calls cost (counted against a resumed run's budget);
        never below zero, whatever an older journal holds, so a resume never starts in
        credit."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(MAX(cost, 0)), 0) FROM calls WHERE run=?", (self.run_id,)
        ).fetchone()
        return float(row[0])

    def close(self) -> None:
        self._release()
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
