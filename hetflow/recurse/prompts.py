"""What the root model is told: the REPL's rules, the task, and what the context is.

The REPL surface described here is a contract (DESIGN.md, "recurse"): prompts and
outside tests rely on these names.  The code-block extraction lives here too, since
it is the other half of the same conversation format.
"""

from __future__ import annotations

import json
import re
from typing import Any

CHARS_PER_TOKEN = 4  # the usual estimate for English text

SYSTEM_PROMPT = """\
You are answering a task over a context that is too large to read at once. You work \
in a Python REPL that holds the context; you see it only through the code you run.

Write Python in fenced code blocks (```python ... ```); ```repl blocks work too. Each \
block runs in the REPL, in order, and what it prints comes back to you (long output \
is cut, so print summaries, not the whole context). Variables persist between blocks \
and between your turns.

In the REPL:
- `context` holds the context.
- `llm_query(prompt: str) -> str` asks a sub-model one question; it sees only `prompt`, \
so put the piece of context it needs into the prompt (keep each piece to a few \
thousand lines at most).
- `llm_query_batched(prompts: list[str]) -> list[str]` asks many questions at once; \
they run concurrently, so prefer it to a loop of `llm_query` calls.
- `rlm_query(prompt: str, sub_context) -> str` hands `sub_context` to a recursive \
model with its own REPL, for a piece that is itself too large to read at once.
- `FINAL(value)` ends the task with `value` as the answer; `FINAL_VAR("name")` \
answers with the variable `name`.

The REPL has no network, no files outside its working directory, and no subprocesses. \
Start by looking at the context (its size, a few lines), then split it, query \
sub-models on the pieces, aggregate in Python, and call FINAL when you are sure."""

FORCE_FINAL_PROMPT = """\
You have used all {iterations} turns. Reply now with your final answer only: no code, \
no explanation. If the answer is structured, reply with JSON."""

NO_CODE_PROMPT = """\
Your reply had no ```python code block. Write code to work on the context, and call \
FINAL(answer) in a code block when you have the answer."""

_BLOCK = re.compile(r"```(?:python|repl|py)[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def code_blocks(reply: str) -> list[str]:
    """The ```python / ```repl blocks of a reply, in order.

    >>> code_blocks("Let me look.\\n```python\\nprint(1)\\n```\\n```repl\\nx = 2\\n```")
    ['print(1)\\n', 'x = 2\\n']
    """
    return [m.group(1) for m in _BLOCK.finditer(reply)]


def describe_context(context: Any, preview_chars: int = 600) -> str:
    """Type, size and a preview of the context, so the root model knows what it holds.

    >>> print(describe_context("a\\nb"))  # doctest: +NORMALIZE_WHITESPACE
    `context` is a str of 3 characters (about 1 tokens), 2 lines. It starts:
    a
    b
    """
    if isinstance(context, str):
        text, kind = context, f"a str of {len(context):,} characters"
        lines = context.count("\n") + 1
        kind += f" (about {len(context) // CHARS_PER_TOKEN or 1:,} tokens), {lines:,} lines"
    else:
        text = json.dumps(context, default=str)
        kind = f"a {type(context).__name__}"
        if isinstance(context, (list, tuple, dict)):
            kind += f" of {len(context):,} items"
        kind += (
            f" ({len(text):,} characters as JSON, about {len(text) // CHARS_PER_TOKEN:,} tokens)"
        )
    preview = text[:preview_chars]
    more = " ..." if len(text) > preview_chars else ""
    return f"`context` is {kind}. It starts:\n{preview}{more}"


def first_prompt(task: str, context: Any) -> str:
    return f"Task:\n{task.strip()}\n\n{describe_context(context)}\n\nWrite your first code block."


def cell_report(index: int, output: str, error: str | None, limit: int) -> str:
    """One cell's outcome, as the next user message shows it."""
    text = output if len(output) <= limit else output[:limit] + "\n... [truncated]"
    parts = [f"[cell {index} output]\n{text.rstrip() or '(nothing printed)'}"]
    if error:
        parts.append(f"[cell {index} error]\n{error}")
    return "\n".join(parts)


def parse_answer(reply: str) -> Any:
    """A forced final reply as a value: JSON if it parses, else the stripped text.

    >>> parse_answer('```json\\n{"a": 1}\\n```'), parse_answer(" location ")
    ({'a': 1}, 'location')
    """
    text = reply.strip()
    fenced = re.fullmatch(r"```[a-zA-Z]*\s*\n(.*?)\n?```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return json.loads(text)
    except ValueError:
        return text
