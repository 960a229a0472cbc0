"""The call cache: a model's reply to the very same request, served across runs.

The key is content-addressed — a SHA-256 of the litellm model string, its endpoint,
the rendered messages and every parameter that shapes the reply (temperature,
max_tokens, response format) — so a changed prompt or model is a miss, never a stale
hit.  It lives in the user's cache directory (platformdirs) and is turned off with
``--no-cache`` / ``cache=False``.  A cached reply costs nothing and the trace says
``cached: true``.  The key never includes an API key, and no row holds one.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any


def default_path() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("hetflow", appauthor=False)) / "calls.sqlite"


def call_hash(
    litellm_model: str, api_base: str | None, messages: list[dict], params: dict[str, Any]
) -> str:
    """The content address of a call (what the model sees and how it is asked)."""
    blob = json.dumps(
        {
            "model": litellm_model,
            "api_base": api_base or "",
            "messages": messages,
            "params": params,
        },
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class Cache:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_path()
        self.db: sqlite3.Connection | None = None
        self.unusable: str | None = None  # why the cache could not be opened
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, "
                "reply TEXT NOT NULL, input_tokens INTEGER, output_tokens INTEGER, "
                "created REAL NOT NULL)"
            )
        except (OSError, sqlite3.DatabaseError) as exc:
            self.db = None  # a cache that cannot open is no cache, never an error
            self.unusable = str(exc)

    def get(self, key: str) -> tuple[str, int | None, int | None] | None:
        if self.db is None:
            return None
        try:
            return self.db.execute(
                "SELECT reply, input_tokens, output_tokens FROM calls WHERE key=?", (key,)
            ).fetchone()
        except sqlite3.DatabaseError:
            return None

    def put(
        self, key: str, reply: str, input_tokens: int | None, output_tokens: int | None
    ) -> None:
        if self.db is None:
            return
        try:
            self.db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?)",
                (key, reply, input_tokens, output_tokens, time.time()),
            )
        except sqlite3.DatabaseError:
            pass

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
