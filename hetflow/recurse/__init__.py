"""Recursion for `recurse` steps: a sandboxed REPL and the loop that drives a root model.

The runtime plugs in one function, ``call_model(level, messages) -> reply text``; this
package does the rest: it starts the sandbox over the context, runs the root model's
code blocks, turns ``llm_query``/``rlm_query`` into calls at the next level, and stops
at ``FINAL`` or after a forced final answer.
"""

from hetflow.recurse.loop import Cell, RecursionFailed, RecursionResult, run_recursion
from hetflow.recurse.sandbox import (
    LAYERS,
    CellResult,
    Sandbox,
    SandboxError,
    SandboxLimits,
    SubCall,
    SubCallRefused,
)

__all__ = [
    "LAYERS",
    "Cell",
    "CellResult",
    "RecursionFailed",
    "RecursionResult",
    "Sandbox",
    "SandboxError",
    "SandboxLimits",
    "SubCall",
    "SubCallRefused",
    "run_recursion",
]
