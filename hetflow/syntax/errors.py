"""Syntax errors in a user's words: what was expected at the spot, and the usual mistakes.

Lark reports what the parser could have taken as terminal names; this module turns
them into a phrase (``expected a step or 'output' here``) and recognizes the mistakes
people make most (a missing ``=`` or ``prompt``, ``>`` for ``>=``, an unclosed string,
a chip name with a space, a trailing comma, a misspelt keyword).

>>> expected_phrase({"EXTRACT", "REASON", "ZOOM", "RECURSE", "MAP", "REDUCE", "OUTPUT"})
"a step or 'output'"
"""

from __future__ import annotations

import re

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from hetflow.errors import Diagnostic, SourcePosition, closest
from hetflow.syntax.grammar import parser

# What a terminal is, in a user's words.
_WORDS = {
    "NAME": "a name",
    "STRING": "a string",
    "LONG_STRING": "a string",
    "NUMBER": "a number",
    "SIZE_NUMBER": "a size",
    "MONEY": "an amount like $0.50",
    "DURATION": "a duration like 30s or 5m",
    "UNIT": "'tokens' or 'items'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COLON": "':'",
    "COMMA": "','",
    "EQUAL": "'='",
    "TILDE": "'~'",
    "MORETHAN": "'>'",
    "__ANON_0": "'>='",
    "MINUS": "'-'",
    "QMARK": "'?'",
    "OPTIONAL": "'?'",
    "$END": "the end of the file",
}
_STEP_WORDS = {"EXTRACT", "REASON", "ZOOM", "RECURSE", "MAP", "REDUCE"}
_HEADER_WORDS = {"INPUT", "OBJECTIVE", "BUDGET", "DEADLINE"}
_CLAUSE_WORDS = {"NEEDS", "USING", "ON", "WITH"}


def _word(terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    try:
        pattern = parser().get_terminal(terminal).pattern
        if pattern.type == "str":
            return f"'{pattern.value}'"
    except (KeyError, AttributeError):
        pass
    return terminal.lower()


def expected_phrase(expected: set[str]) -> str:
    """Turn the set of terminals the parser could take into a phrase.

    >>> expected_phrase({"EXTRACT", "REASON", "ZOOM", "RECURSE", "MAP", "REDUCE", "OUTPUT", "RBRACE"})
    "a step or 'output'"
    """
    expected = set(expected)
    parts: list[str] = []
    if _STEP_WORDS <= expected:
        expected -= _STEP_WORDS | _HEADER_WORDS | {"RBRACE"}
        if "OUTPUT" in expected:
            expected.discard("OUTPUT")
            parts.append("a step or 'output'")
        else:
            parts.append("a step")
    if {"SCHEMA", "WORKFLOW"} <= expected:
        expected -= {"SCHEMA", "WORKFLOW", "USE", "$END"}
        parts.append("'workflow' or 'schema'")
    if {"NEEDS", "USING", "WITH"} <= expected:
        expected -= _CLAUSE_WORDS | _STEP_WORDS | _HEADER_WORDS | {"OUTPUT", "RBRACE", "COMMA"}
        parts.append("'needs', 'using', 'on', 'with' or the next step")
    if {"NUMBER", "SIZE_NUMBER"} <= expected:
        expected -= (
            {"NUMBER", "SIZE_NUMBER", "MONEY", "DURATION", "STRING", "LONG_STRING", "LSQB", "NAME"}
            if "LSQB" in expected
            else {"NUMBER", "SIZE_NUMBER"}
        )
        parts.append(
            "a value" if "LSQB" in expected or not parts and len(expected) > 3 else "a number"
        )
    if "STRING" in expected and "LONG_STRING" in expected:
        expected.discard("LONG_STRING")
    words = sorted({_word(t) for t in expected})
    parts.extend(words)
    if not parts:
        return "something else"
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    value = str(token)
    first = value.split("\n", 1)[0]
    if len(first) > 30 or first != value:
        value = first[:27] + "..."
    return f"'{value}'"


def syntax_diagnostic(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    line = getattr(exc, "line", 0) or 0
    column = getattr(exc, "column", 0) or 0
    end_column = column + 1
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
            end_column = column + 1
        else:
            end_column = (
                (token.end_column or column + 1) if token.end_line == token.line else column + 1
            )
        message = f"expected {expected_phrase(exc.expected)} here, found {_found(token)}"
        message, where = _refine(token, set(exc.expected), message, text)
        if where is not None:
            line, column, end_column = where.line, where.column, where.end_column
    elif isinstance(exc, UnexpectedCharacters):
        char = exc.char
        if text.startswith('"""', exc.pos_in_stream):
            message = 'this """ string is never closed'
            end_column = column + 3
        elif char == '"':
            message = "this string is not closed before the end of the line"
        elif char in "<>=!" and "__ANON_0" in (exc.allowed or ()):
            message = "a requirement is written with '>=' (a minimum), like reasoning >= 3"
            end_column = column + (2 if text[(exc.pos_in_stream or 0) + 1 :][:1] == "=" else 1)
        elif char == "$":
            message = "an amount of money needs digits after '$' (like $0.50)"
        else:
            message = f"unexpected character {char!r}"
            if exc.allowed:
                message += f"; expected {expected_phrase(set(exc.allowed))}"
    elif isinstance(exc, UnexpectedEOF):
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        end_column = column + 1
        message = f"unexpected end of the file; expected {expected_phrase(set(exc.expected))}"
    else:  # pragma: no cover - Lark has no other kinds
        message = str(exc).splitlines()[0]
    if line <= 0:
        line, column = 1, 1
    pos = SourcePosition(file, line, max(column, 1), line, max(end_column, column + 1))
    return Diagnostic("error", message, pos)


_STEP_KINDS = ("extract", "reason", "zoom", "recurse", "map", "reduce")
_KEYWORDS = _STEP_KINDS + ("input", "objective", "budget", "deadline", "output")


def _refine(token: Token, expected: set[str], message: str, text: str):
    """Sharper wording for the mistakes people make most: ``(message, position or None)``."""
    value = str(token)
    before = _line_before(token, text)
    if token.type == "$END" and "RBRACE" in expected:
        return "a '{' is never closed: expected '}' before the end of the file", None
    if _CLAUSE_WORDS <= expected and re.search(r"\bon\s+[\w-]+\s+$", before):
        return ("a chip name has no spaces: write it with '-' (cerebras-wse3) or quote it", None)
    if _STEP_WORDS <= expected and token.type == "NAME":
        if value in {"step", "let", "def", "call", "llm", "prompt"}:
            return (
                f"'{value}' is not a step kind; a step starts with extract, reason, "
                "zoom, recurse, map or reduce"
            ), None
        clauses = [w.lower() for w in sorted(_CLAUSE_WORDS & expected)]
        hint = closest(value, _KEYWORDS + tuple(clauses))
        if hint in clauses:  # `neds reasoning >= 2` after a step
            return (
                f"expected 'needs', 'using', 'on', 'with' or the next step here, "
                f"found '{value}'; did you mean '{hint}'?",
                None,
            )
        if hint:
            return (
                f"expected a step or 'output' here, found '{value}'; did you mean '{hint}'?",
                None,
            )
        return (
            f"expected a step or 'output' here, found '{value}' (a step starts with "
            "extract, reason, zoom, recurse, map or reduce)"
        ), None
    if {"SCHEMA", "WORKFLOW"} <= expected:
        if token.type == "RBRACE":
            return "this '}' closes nothing (one '}' too many?)", None
        hint = closest(value, ("workflow", "schema", "use"))
        if hint and token.type == "NAME":
            return (
                f"expected 'workflow' or 'schema' here, found '{value}'; did you mean '{hint}'?",
                None,
            )
    words = before.split()
    if expected == {"__ANON_0"} and words and words[-1] in _KEYWORDS:
        return (
            f"a ',' ends the needs list before '{words[-1]}': remove it, or add a "
            "requirement after it",
            _last_comma(token, text),
        )
    if expected == {"__ANON_0"}:
        return (
            f"expected '>=' here (a requirement is like reasoning >= 3), found {_found(token)}",
            None,
        )
    if "PROMPT" in expected and len(expected) <= 2 and token.type in ("STRING", "LONG_STRING"):
        return "expected 'prompt' before the text: reason NAME = prompt \"...\"", None
    if (
        "EQUAL" in expected
        and "RPAR" not in expected
        and len(expected) <= 3
        and (token.type != "$END")
    ):
        return f"expected '=' here, found {_found(token)}", None
    if "DURATION" in expected and token.type in ("NUMBER", "SIZE_NUMBER"):
        return ("a duration needs its unit right after the number: 500ms, 30s, 5m or 1h", None)
    if "MONEY" in expected and token.type in ("NUMBER", "SIZE_NUMBER"):
        return f"write money with a '$': ${value}", None
    if "RPAR" in expected and token.line != _prev_line(token, text):
        return f"expected ')' or ',' here, found {_found(token)}: is a '(' left open?", None
    if token.type == "NAME":  # a misspelt keyword: `promt`, `neds`, `ovr`
        keywords = [w for w in (_word(t).strip("'") for t in expected) if w.isalpha()]
        hint = closest(value, keywords)
        if hint and hint != value:
            return f"{message}; did you mean '{hint}'?", None
    return message, None


def _line_before(token: Token, text: str) -> str:
    """The text between the start of the token's line and the token."""
    if token.type == "$END" or token.start_pos is None:
        return ""
    start = text.rfind("\n", 0, token.start_pos) + 1
    return text[start : token.start_pos]


def _prev_line(token: Token, text: str) -> int | None:
    """The line of the last non-blank, non-comment text before the token."""
    if token.start_pos is None:
        return None
    head = re.sub(r"#[^\n]*", "", text[: token.start_pos]).rstrip()
    return head.count("\n") + 1


def _last_comma(token: Token, text: str) -> SourcePosition | None:
    at = text.rfind(",", 0, token.start_pos or 0)
    if at < 0:
        return None
    line = text.count("\n", 0, at) + 1
    col = at - text.rfind("\n", 0, at)
    return SourcePosition("", line, col, line, col + 1)
