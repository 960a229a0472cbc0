"""Every public docstring example runs (sqlglot style): the docs cannot drift from the code."""

import doctest
import importlib
import pkgutil

import pytest

import hetflow

MODULES = sorted(m.name for m in pkgutil.walk_packages(hetflow.__path__, "hetflow."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
