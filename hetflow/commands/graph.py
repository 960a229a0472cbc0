"""``hetflow graph FILE|PLAN.json``: draw a workflow as Mermaid or Graphviz DOT.

A ``.het`` file is checked first (its errors print like ``hetflow check``); a plan is
drawn with each node's ``model @ chip`` and its critical path marked.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="draw a workflow or a plan (Mermaid or Graphviz DOT)",
        description="Print the workflow's graph: steps, recurse parts, map bodies, inputs. "
        "Given a PLAN.json, label each node with its model @ chip and mark the critical path.",
    )
    parser.add_argument(
        "file", metavar="FILE|PLAN.json", help="a .het workflow, or a plan from hetflow compile"
    )
    parser.add_argument(
        "--workflow", metavar="NAME", help="which workflow of the file (default: the file's first)"
    )
    parser.add_argument(
        "--format", choices=("mermaid", "dot"), default="mermaid", help="mermaid (default) or dot"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hetflow.plan import render

    source = load_drawable(args.file, args.workflow)
    draw = render.dot if args.format == "dot" else render.mermaid
    sys.stdout.write(draw(source))
    return 0


def is_plan_file(path: str) -> bool:
    """A plan is JSON: told by its extension, or by its first character."""
    if path.lower().endswith(".json"):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


def load_drawable(path: str, workflow: str | None):
    """A plan (from JSON) or the checked workflow's graph (from a ``.het`` file)."""
    from hetflow.errors import HetError

    if is_plan_file(path):
        from hetflow.plan.model import Plan

        plan = Plan.load(path)
        if workflow is not None and workflow != plan.workflow:
            raise HetError(f"{path}: is a plan of workflow '{plan.workflow}', not '{workflow}'")
        return plan
    from hetflow.plan.graph import build_graph

    return build_graph(checked_workflow(path, workflow))


def checked_workflow(path: str, name: str | None):
    """Load and check a `.het` file; raise its diagnostics, print its warnings."""
    from hetflow.checks.checker import check_source
    from hetflow.errors import DiagnosticError, render_all
    from hetflow.syntax.loader import load_or_raise, pick_workflow

    diagnostics, sources = check_source(path)
    if any(d.is_error for d in diagnostics):
        raise DiagnosticError(diagnostics, sources)
    if diagnostics:
        from hetflow.commands.output import say

        say(render_all(diagnostics, sources))
    return pick_workflow(load_or_raise(path), name)
