"""Fixtures shared by the runtime's tests (import them into a test module to use them)."""

from __future__ import annotations

import pytest

from tests.support.openai_server import OpenAIServer

__all__ = ["server", "home"]


@pytest.fixture
def server():
    """A fresh local OpenAI-compatible server, stopped after the test."""
    with OpenAIServer() as srv:
        yield srv


@pytest.fixture(autouse=False)
def home(tmp_path, monkeypatch):
    """Journal and cache directories of this test only (platformdirs follows XDG)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path
