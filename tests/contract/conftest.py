"""Fixtures of the contract tests that run plans: a local OpenAI-compatible server and a
catalog whose offers point at it (keys and journal/cache directories of this test only).
"""

from __future__ import annotations

import pytest
from run_support import KEY_ENV, RUN_CATALOG, SECRET, _worker
from support.openai_server import OpenAIServer


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        srv.script("worker", reply=_worker)
        yield srv


@pytest.fixture
def catalog(tmp_path, server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "run.toml"
    path.write_text(RUN_CATALOG.format(url=server.url, key_env=KEY_ENV))
    return path
