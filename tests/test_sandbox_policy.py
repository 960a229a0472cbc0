"""The sandbox policy as a user meets it: strict by default, `--sandbox weak` to opt out.

A host lacking a confinement layer is simulated (``sandbox._SIMULATE``); a `recurse`
step must then refuse to run model code, naming the layer and the fix, unless the user
opted out, loudly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)

import hetflow
from hetflow.commands.main import main
from hetflow.recurse import sandbox as sandbox_module
from hetflow.runtime import Settings, run_sync

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

OOLONG = str(Path(__file__).parent.parent / "examples" / "oolong.het")
ROOT_CODE = """```python
FINAL([{"label": "numeric", "count": len(context.splitlines())}])
```"""
INPUTS = {"context": "a\nb\nc", "question": "How many numeric?"}


def _plan(server, home):
    server.script(
        "coder",
        reply=lambda body: ROOT_CODE if body["messages"][0]["role"] == "system" else "numeric",
    )
    server.script("small", reply="numeric")
    return hetflow.compile(OOLONG, catalog=str(local_catalog(home, server.url)))


@pytest.mark.parametrize("off", ["seccomp", "landlock", "namespaces"])
def test_a_run_refuses_a_recurse_step_when_a_layer_is_missing(server, home, monkeypatch, off):
    monkeypatch.setattr(sandbox_module, "_SIMULATE", {"disabled": [off]})
    result = run_sync(_plan(server, home), INPUTS, settings=Settings(backoff_s=0.01))
    assert not result.ok
    assert f"{off} is off" in result.reason and "fix:" in result.reason, result.reason
    assert "--sandbox weak" in result.reason
    # The root model was never asked: no model code ran unconfined.
    assert [r for r in result.trace if r["node"] == "tallies.root"] == []


def test_weak_runs_with_the_layer_missing(server, home, monkeypatch):
    monkeypatch.setattr(sandbox_module, "_SIMULATE", {"disabled": ["seccomp"]})
    monkeypatch.setattr(sandbox_module, "_warned", set())
    with pytest.warns(RuntimeWarning, match="seccomp is off"):
        result = run_sync(
            _plan(server, home), INPUTS, settings=Settings(backoff_s=0.01, sandbox="weak")
        )
    assert result.ok, result.reason


def test_an_unknown_policy_is_refused(server, home):
    result = run_sync(_plan(server, home), INPUTS, settings=Settings(sandbox="lax"))
    assert not result.ok and "unknown sandbox policy 'lax'" in result.reason


def test_the_cli_opt_out_is_loud_and_reaches_the_runtime(monkeypatch, capsys):
    import hetflow.runtime

    seen = {}

    def fake_run_sync(plan, given, **kwargs):
        seen.update(kwargs)
        raise SystemExit(0)

    monkeypatch.setattr(hetflow.runtime, "run_sync", fake_run_sync)
    args = ["run", OOLONG, "--input", "context=a", "--input", "question=q"]
    with pytest.raises(SystemExit):
        main([*args, "--sandbox", "weak"])
    assert seen["settings"].sandbox == "weak"
    assert "warning: --sandbox weak" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(args)
    assert seen["settings"].sandbox == "strict"
    assert "warning" not in capsys.readouterr().err
