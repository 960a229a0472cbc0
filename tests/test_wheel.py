"""The wheel carries the grammar: build it, install it apart from the source, check an example."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    wheels = list(out.glob("hetflow-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_contains_grammar_and_default_catalog(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "hetflow/grammar/het.lark" in names
    assert any(n.startswith("hetflow/catalog/") and n.endswith(".toml") for n in names)


def test_installed_wheel_checks_an_example(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    # A fresh interpreter that sees the wheel's copy first (dependencies from this env).
    env = dict(os.environ, PYTHONPATH=str(target))
    example = ROOT / "examples" / "contract_review.het"
    code = (
        "import hetflow, sys; from hetflow.checks.checker import check;"
        f"assert hetflow.__file__.startswith({str(target)!r}), hetflow.__file__;"
        f"d = check({str(example)!r}); sys.exit(1 if any(x.is_error for x in d) else 0)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
