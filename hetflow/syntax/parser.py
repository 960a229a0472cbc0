"""Text → Lark syntax tree, with syntax errors a user can read.

The grammar is the single file ``grammar/het.lark`` (inside the wheel it is
``hetflow/grammar/het.lark``).  The parser is LALR, strict, and built once.

A correct file takes the fast path (:func:`fast_parse`): Lark's own tables, driven by
a plain loop that hands each reduction to the builder.  A file with an error goes
through Lark itself (:func:`parse_tree`), whose exceptions are worded here.
``HETFLOW_SLOW_PARSE=1`` turns the fast path off (to compare, or to rule it out).

>>> tree = parse_tree('workflow w { input x: text\\n output x }', "w.het")
>>> tree.data
'start'
"""

from __future__ import annotations

import functools
import os
import re

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from hetflow.errors import Diagnostic, DiagnosticError, SourcePosition
from hetflow.syntax.errors import expected_phrase, syntax_diagnostic
from hetflow.syntax.grammar import grammar_path, parser
from hetflow.syntax.lexer import SKIP, Unreadable, state_lexers
from hetflow.syntax.lexer import Tok as _Tok

__all__ = [
    "grammar_path",
    "parser",
    "parse_tree",
    "fast_parse",
    "expected_phrase",
    "syntax_diagnostic",
]


def parse_tree(text: str, file: str = "<string>") -> Tree:
    """Parse text into Lark's tree, or raise :class:`DiagnosticError` saying what was expected.

    After a syntax error the parser resynchronizes at the next line that starts a step,
    a declaration or closes a block, so one run reports the independent errors of a
    file, not only the first.
    """
    deep = _too_deep(text)
    if deep is not None:
        line = text.count("\n", 0, deep) + 1
        column = deep - text.rfind("\n", 0, deep)
        pos = SourcePosition(file, line, column, line, column + 1)
        message = f"this is nested more than {MAX_NESTING} levels deep"
        raise DiagnosticError([Diagnostic("error", message, pos)], {file: text})
    recovery = _Recovery(text, file)
    try:
        tree = parser().parse(text, on_error=recovery)
    except UnexpectedInput as exc:
        recovery.record(exc)
        tree = None
    if recovery.found:
        found = recovery.found
        if tree is not None:  # what parsed around the errors is checked where it can be
            found = sorted(
                found + _unknown_types(tree, text, file),
                key=lambda d: (d.pos.line, d.pos.column),
            )
        raise DiagnosticError(found, {file: text})
    if tree is None:  # an exception was recorded: found is not empty
        raise DiagnosticError(recovery.found, {file: text})
    return tree


def _unknown_types(tree: Tree, text: str, file: str) -> list[Diagnostic]:
    """Type names that name no type, in the parts of a file with syntax errors that did
    parse: so ``input q: txt`` is reported with the syntax errors, not after their fix.

    Only when the file uses no other file (whose schemas it could name).
    """
    from hetflow.errors import closest
    from hetflow.syntax.ast import PRIMITIVE_TYPES

    if any(True for _ in tree.find_data("use_decl")) or re.search(r"^\s*use\b", text, re.M):
        return []
    schemas = {str(t.children[0]) for t in tree.find_data("schema") if t.children}
    # A schema whose header an error swallowed is still a name the file defines.
    schemas |= set(re.findall(r"^\s*schema\s+([A-Za-z_]\w*)", text, re.M))
    known = [*PRIMITIVE_TYPES, *sorted(schemas)]
    out = []
    for node in tree.find_data("named_type"):
        token = node.children[0] if node.children else None
        if not isinstance(token, Token) or token in known or token in ("list", "enum"):
            continue
        hint = closest(str(token), known)
        more = f"; did you mean '{hint}'?" if hint else ""
        pos = SourcePosition(
            file, token.line or 1, token.column or 1, token.line or 1, token.end_column or 1
        )
        out.append(Diagnostic("error", f"unknown type '{token}'{more}", pos))
    return out


MAX_NESTING = 64
_BRACKETS = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*|[\[\](){}]')


def _too_deep(text: str) -> int | None:
    """The offset where brackets nest deeper than MAX_NESTING (the parser would recurse)."""
    if text.count("[") + text.count("(") + text.count("{") <= MAX_NESTING:
        return None
    depth = 0
    for m in _BRACKETS.finditer(text):
        c = m.group()
        if c in "[({":
            depth += 1
            if depth > MAX_NESTING:
                return m.start()
        elif c in "])}":
            depth = max(0, depth - 1)
    return None


# Tokens at which parsing can start again after an error.
_SYNC = {
    "EXTRACT",
    "REASON",
    "ZOOM",
    "RECURSE",
    "MAP",
    "REDUCE",
    "INPUT",
    "OBJECTIVE",
    "BUDGET",
    "DEADLINE",
    "OUTPUT",
    "WORKFLOW",
    "SCHEMA",
    "RBRACE",
}
MAX_SYNTAX_ERRORS = 20
_SYNC_LINE = re.compile(
    r"^[ \t]*(extract|reason|zoom|recurse|map|reduce|input|objective|budget|deadline|output"
    r"|workflow|schema|\})\b",
    re.M,
)


def _starts_line(text: str, token: Token) -> bool:
    start = token.start_pos or 0
    return not text[text.rfind("\n", 0, start) + 1 : start].strip()


class _Recovery:
    """Lark's ``on_error`` hook: record the error, then skip to a synchronizing token."""

    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        self.found: list[Diagnostic] = []
        self.recovering = False
        self.last = 0
        self.seen: set[tuple[int, int]] = set()

    def record(self, exc: UnexpectedInput) -> None:
        at = getattr(exc, "pos_in_stream", None)
        if at is None:
            at = len(self.text)
        if self.recovering and self.found and not _SYNC_LINE.search(self.text, self.last, at):
            return  # a consequence of the previous error, not a new one
        where = (getattr(exc, "line", 0), getattr(exc, "column", 0))
        if where in self.seen:
            return
        self.seen.add(where)
        self.last = at
        self.found.append(syntax_diagnostic(exc, self.text, self.file))

    def __call__(self, exc: UnexpectedInput) -> bool:
        if self.recovering and self._misspelt_step(exc):
            return True
        self.record(exc)
        self.recovering = True
        if len(self.found) >= MAX_SYNTAX_ERRORS:
            return False
        if isinstance(exc, UnexpectedCharacters):
            return True  # Lark skips the character
        assert isinstance(exc, (UnexpectedToken, UnexpectedEOF))
        token = exc.token
        if token.type == "$END":
            return False
        if token.type not in _SYNC or not _starts_line(self.text, token):
            return True  # drop the token; keep dropping until a synchronizing one
        ip = exc.interactive_parser
        state = ip.parser_state
        while len(state.state_stack) > 1:
            trial = ip.copy()
            try:
                trial.feed_token(token)
            except UnexpectedInput:
                state.state_stack.pop()
                state.value_stack.pop()
                continue
            ip.feed_token(token)
            self.recovering = False
            return True
        return False

    def _misspelt_step(self, exc: UnexpectedInput) -> bool:
        """While skipping after an error: a line that starts with a misspelt step keyword
        and a name (``extrct b = ...``) is an error of its own, not debris of the last.

        It is reported with its did-you-mean, the parser is brought back to where a step
        may start, and the rest of the line is skipped.
        """
        token = getattr(exc, "token", None)
        if not isinstance(token, Token) or token.type != "NAME":
            return False
        if not _starts_line(self.text, token) or token.start_pos is None:
            return False
        hint = _closest_keyword(str(token))
        rest = self.text[token.end_pos : self.text.find("\n", token.end_pos) % (len(self.text) + 1)]
        if hint is None or not re.match(r"\s+[A-Za-z_]", rest):
            return False
        ip = exc.interactive_parser
        state = ip.parser_state
        table = state.parse_conf.parse_table.states
        stack = state.state_stack
        depth = next((i for i in range(len(stack) - 1, 0, -1) if "EXTRACT" in table[stack[i]]), 0)
        if depth == 0:
            return False
        del stack[depth + 1 :]
        del state.value_stack[depth:]
        line, column = token.line or 1, token.column or 1
        pos = SourcePosition(self.file, line, column, line, token.end_column or column + 1)
        message = f"expected a step or 'output' here, found '{token}'; did you mean '{hint}'?"
        self.found.append(Diagnostic("error", message, pos))
        self.seen.add((line, column))
        self.last = token.start_pos
        return True


_STEP_KEYWORDS = ("extract", "reason", "zoom", "recurse", "map", "reduce", "input", "output")


def _closest_keyword(word: str) -> str | None:
    from hetflow.errors import closest

    if word in _STEP_KEYWORDS:
        return None
    return closest(word, _STEP_KEYWORDS)


# ------------------------------------------------------------------ the fast path
# A correct program is parsed by a plain loop over Lark's own LALR table and per-state
# lexers (hetflow.syntax.lexer), calling the builder at each reduction with the rule's span as
# character offsets: no Lark tokens, trees or position propagation.  Any error ends the
# fast path; the caller then runs Lark itself (parse_tree), which words the diagnostics.


def fast_parse(text: str, target, record: list | None = None):
    """Parse ``text`` calling ``target.<rule>(span, children)`` per rule, or None on any error.

    ``span`` is ``(start, end)`` offsets (None for an empty rule); children are what
    Lark's tree would hold after ``?rule``, ``_rule`` and anonymous-token shaping: the
    values the target returned for subrules, and :class:`~hetflow.syntax.lexer.Tok` tokens.
    ``record`` (for tests) receives every token as ``(type, text, start, end)``.
    """
    tables = _tables()
    if tables is None:
        return None
    lexers, actions, rules, kept, start_state, end_state, brackets = tables
    try:
        return _loop(
            text, target, record, lexers, actions, rules, kept, start_state, end_state, brackets
        )
    except Unreadable:  # another Lark version: parse with Lark alone
        return None


def _loop(text, target, record, lexers, actions, rules, kept, start_state, end_state, brackets):
    methods = {}
    for info in rules:
        name = info[3]
        if name not in methods:
            methods[name] = getattr(target, name, None)
    states = [start_state]
    values: list = []
    state = start_state
    pos, n, depth = 0, len(text), 0
    while True:
        match, keywords_at = lexers[state]
        m = match(text, pos)
        if m is not None:
            typ = m.lastgroup
            value = m.group(typ)
            end = m.end()
            start = end - len(value)
            keywords = keywords_at.get(typ)
            if keywords is not None:
                typ = keywords.get(value, typ)
            if record is not None:
                record.append((typ, value, start, end))
        elif SKIP.match(text, pos).end() == n:  # type: ignore[union-attr]  # SKIP matches ''
            typ, value, start, end = "$END", "", n, n
        else:
            return None
        act = actions[state].get(typ)
        while act is not None and act < 0:  # reduce, as often as the table says
            size, origin, spec, name, mode = rules[~act]
            if mode == _PASS:  # `?rule: x` or `_rule: _x`: the value is the child's
                state = actions[states[-2]][origin]
                states[-1] = state
                if typ == "$END" and state == end_state:
                    return values[-1][0]
                act = actions[state].get(typ)
                continue
            if spec is _ONE:  # one child, kept: replace the top of the stacks in place
                value_, first, last = values[-1]
                if mode == _INLINE:
                    result = [value_]
                else:
                    method = methods[name]
                    if method is None:
                        return None
                    result = method(None if first is None else (first, last), [value_])
                state = actions[states[-2]][origin]
                states[-1] = state
                values[-1] = (result, first, last)
                if typ == "$END" and state == end_state:
                    return result
                act = actions[state].get(typ)
                continue
            if size:
                kids = values[-size:]
                del values[-size:]
                del states[-size:]
                first = kids[0][1]
                last = kids[-1][2]
                if first is None or last is None:
                    first, last = _span(kids)
                if spec.__class__ is tuple:  # no splicing: only indices to keep
                    children = [kids[i][0] for i in spec]
                else:
                    children = _children(kids, spec)
            else:
                first = last = None
                children = []
            if mode == _EXPAND1 and len(children) == 1:
                result = children[0]
            elif mode == _INLINE:
                result = children
            else:
                method = methods[name]
                if method is None:
                    return None  # a rule the target does not build: leave it to Lark
                result = method(None if first is None else (first, last), children)
            state = actions[states[-1]][origin]
            states.append(state)
            values.append((result, first, last))
            if typ == "$END" and state == end_state:
                return result
            act = actions[state].get(typ)
        if act is None or typ == "$END":
            return None
        step = brackets.get(typ)
        if step is not None:
            depth += step
            if depth > MAX_NESTING:
                return None  # parse_tree says where, before any syntax error
        state = act
        states.append(state)
        values.append((_Tok(typ, value, start, end) if typ in kept else None, start, end))
        pos = end


def _span(kids):
    """The span from the first to the last child that has one (an empty rule has none)."""
    starts = [kid[1] for kid in kids if kid[1] is not None]
    ends = [kid[2] for kid in kids if kid[2] is not None]
    return (starts[0], ends[-1]) if starts else (None, None)


def _children(kids, spec):
    """The children Lark's tree would keep: anonymous tokens out, ``_rule`` values spliced."""
    children: list = []
    for i, splice in spec:
        if splice:
            if children:
                children.extend(kids[i][0])
            else:  # a left-recursive list grows in place, as Lark's does
                children = kids[i][0]
        else:
            children.append(kids[i][0])
    return children


_CALL, _INLINE, _EXPAND1, _PASS = 0, 1, 2, 3
_ONE = (0,)  # the spec of a rule of one child that is kept (most rules: `size: NUMBER`)
_FAST_OFF = os.environ.get("HETFLOW_SLOW_PARSE") == "1"


@functools.lru_cache(maxsize=1)
def _tables():
    """The fast path's tables, read from the Lark parser; None if they cannot be read."""
    if _FAST_OFF:
        return None
    lark = parser()
    lexers = state_lexers(lark)
    if lexers is None:
        return None
    try:
        table = lark.parser.parser.parser.parse_table
        start_state = table.start_states["start"]
        end_state = table.end_states["start"]
        rules: list[tuple] = []
        index: dict = {}
        actions: dict[int, dict[str, int]] = {}
        for state, row in table.states.items():
            out = actions[state] = {}
            for symbol, (action, arg) in row.items():
                if action.name == "Shift":
                    out[symbol] = arg
                else:
                    if arg not in index:
                        index[arg] = len(rules)
                        rules.append(_rule_info(arg))
                    out[symbol] = ~index[arg]
    except (AttributeError, KeyError, TypeError):
        return None
    kept = {
        sym.name
        for rule in lark.rules
        for sym in rule.expansion
        if sym.is_term and (rule.options.keep_all_tokens or not sym.filter_out)  # type: ignore[attr-defined]  # a Terminal's
    }
    return (
        lexers,
        actions,
        rules,
        frozenset(kept),
        start_state,
        end_state,
        {"LBRACE": 1, "LPAR": 1, "LSQB": 1, "RBRACE": -1, "RPAR": -1, "RSQB": -1},
    )


def _rule_info(rule):
    """(size, origin, children spec, method name, mode) of one grammar rule."""
    keep_all = rule.options.keep_all_tokens
    kids: list[tuple[int, bool]] = []
    for i, sym in enumerate(rule.expansion):
        if keep_all or not (sym.is_term and sym.filter_out):
            kids.append((i, not sym.is_term and sym.name.startswith("_")))
    spec: list[tuple[int, bool]] | tuple[int, ...] = kids
    if not any(splice for _, splice in kids):
        spec = tuple(i for i, _ in kids)
        if len(rule.expansion) == 1 and spec == _ONE:
            spec = _ONE  # the very object: the loop tests `spec is _ONE`
    name = rule.alias or rule.options.template_source or rule.origin.name
    size = len(rule.expansion)
    if rule.options.expand1 and not rule.alias:
        mode = _PASS if size == 1 and spec == (0,) else _EXPAND1
    elif name.startswith("_") and size == 1 and spec == [(0, True)]:
        mode = _PASS
    elif name.startswith("_"):
        mode = _INLINE
    else:
        mode = _CALL
    return size, rule.origin.name, spec, name, mode
