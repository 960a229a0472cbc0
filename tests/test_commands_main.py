"""`hetflow`'s argument parser: every command is there, and a broken one is an error."""

import sys

import pytest

from hetflow.commands import main as cli


def test_every_listed_command_is_registered():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert sorted(subparsers.choices) == sorted(cli.COMMANDS)


def test_a_command_module_that_fails_to_import_is_an_error_not_a_missing_command(monkeypatch):
    # Deleting commands/graph.py once turned 19 contract tests into silent skips.
    monkeypatch.setitem(sys.modules, "hetflow.commands.graph", None)  # import raises
    with pytest.raises(ImportError):
        cli.build_parser()
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "no_such_command"))
    monkeypatch.delitem(sys.modules, "hetflow.commands.graph")
    with pytest.raises(ModuleNotFoundError, match="no_such_command"):
        cli.build_parser()
