"""Fuzzing the front end: any input builds or yields positioned diagnostics, never a crash.

``programs()`` generates valid-looking `.het` texts from the grammar with random layout
(whitespace, comments, string forms); the fmt tests reuse it.  Mutations of valid
programs (deleted, duplicated, swapped tokens, random bytes) must each either build or
give diagnostics whose positions lie inside the text.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hetflow.checks.checker import check
from hetflow.errors import HetError

NAMES = [
    "a",
    "b",
    "doc",
    "x1",
    "q",
    "parts",
    "item",
    "text",
    "task",
    "prompt",
    "count",
    "needs",
    "file",
    "root",
    "sub",
    "over",
    "list",
    "enum",
    "depth",
    "at",
    "in",
]
SEPS = [" ", " ", " ", "  ", "\n", "\n  ", "\n\n", "\t", " # note\n", "  #x # y\n   "]
FUZZ = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)

names = st.sampled_from(NAMES)


@st.composite
def strings(draw, multiline=True):
    refs = draw(st.lists(st.tuples(names, st.sampled_from(["", ".why", ".a.b"])), max_size=3))
    words = draw(
        st.lists(
            st.sampled_from(
                [
                    "hello",
                    'say \\"hi\\"',
                    "a\\\\d+",
                    "tab\\there",
                    "# not a comment",
                    "50%",
                    "{ brace",
                    "x\\ny",
                    "\\u00e9t\\u00e9",
                    "\\d",
                ]
            ),
            max_size=3,
        )
    )
    parts = words + [f"{{{{ {n}{a} }}}}" for n, a in refs]
    parts = draw(st.permutations(parts)) if parts else []
    if multiline and draw(st.booleans()):
        body = [p.replace("\\", "") for p in parts]
        indent = draw(st.sampled_from(["", "  ", "      "]))
        lines = [indent + p + draw(st.sampled_from(["", "", "  "])) for p in body]
        return '"""' + draw(st.sampled_from(["", "\n"])) + "\n".join(lines) + '\n  """'
    return '"' + " ".join(parts) + '"'


types = st.recursive(
    st.sampled_from(["text", "number", "bool", "image", "json", "S", "T"]),
    lambda inner: inner.map(lambda t: f"list[{t}]"),
    max_leaves=3,
)
sizes = st.sampled_from(
    ["128k tokens", "4000 tokens", "40 items", "2M tokens", "1.5k tokens", "12", "0.5"]
)
values = st.sampled_from(
    [
        '"\\n\\n"',
        "3",
        "2k",
        "$0.50",
        "30s",
        "500ms",
        "true",
        "doc",
        '["kw", "b"]',
        "[]",
        '"""x\n  y"""',
    ]
)


@st.composite
def clauses(draw):
    out = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["needs", "using", "on", "with"]))
        if kind == "needs":
            reqs = draw(
                st.lists(
                    st.sampled_from(
                        [
                            "reasoning >= 3",
                            "coding >= 4",
                            "vision >= 0",
                            "context >= 64k",
                            "context >= 2M tokens",
                            "extraction >= 5",
                        ]
                    ),
                    min_size=1,
                    max_size=2,
                    unique=True,
                )
            )
            out.append("needs " + ", ".join(reqs))
        elif kind == "using":
            out.append(draw(st.sampled_from(['using "cerebras/llama3.1-8b"', 'using "m"'])))
        elif kind == "on":
            out.append(
                draw(
                    st.sampled_from(
                        [
                            "on cerebras-wse3",
                            'on "odd chip"',
                            "on groq-lpu",
                            "on nvidia-h100",
                            "on x-2",
                        ]
                    )
                )
            )
        else:
            opts = draw(
                st.lists(
                    st.sampled_from(
                        [
                            "temperature=0",
                            "max_tokens=200",
                            "retries=2",
                            "timeout=30s",
                            "mode=fast",
                            'stop=["a", "b"]',
                            "cache=true",
                            "top_p=0.5",
                        ]
                    ),
                    min_size=1,
                    max_size=2,
                    unique_by=lambda o: o.split("=")[0],
                )
            )
            out.append("with " + ", ".join(opts))
    kinds = [c.split()[0] for c in out]
    if len(set(kinds)) != len(kinds):
        out = list(dict(zip(kinds, out, strict=True)).values())
    return out


@st.composite
def steps(draw, depth=0):
    kind = draw(
        st.sampled_from(
            ["extract", "reduce", "reason", "zoom", "recurse"] + (["map"] if depth < 2 else [])
        )
    )
    name = draw(names)
    ann = draw(st.sampled_from(["", "", [":", draw(types)]]))
    ann = ann if isinstance(ann, list) else ([] if not ann else [ann])
    if kind in ("extract", "reduce"):
        fn = draw(st.sampled_from(["split", "grep", "count", "concat", "slice", "window"]))
        args = draw(st.lists(values, max_size=2))
        kw = [
            f"{k}={v}"
            for k, v in draw(
                st.dictionaries(
                    st.sampled_from(["lines", "sep", "where", "tokens"]), values, max_size=2
                )
            ).items()
        ]
        arglist = ", ".join([draw(names)] + args + kw)
        return [kind, name, *ann, "=", f"{fn}({arglist})"]
    if kind == "reason":
        return ["reason", name, *ann, "=", "prompt", draw(strings()), *draw(clauses())]
    if kind == "zoom":
        return ["zoom", name, "=", draw(names), "at", draw(strings()), *draw(clauses())]
    if kind == "recurse":
        body = ["task", draw(strings())]
        if draw(st.booleans()):
            body += ["root", "needs coding >= 4, reasoning >= 4"]
        if draw(st.booleans()):
            body += ["sub", "needs reasoning >= 2 with temperature=0"]
        d = draw(st.sampled_from([[], ["depth", "2"], ["depth", "1"]]))
        return ["recurse", name, *ann, "over", draw(names), *d, "{", *body, "}", *draw(clauses())]
    inner = draw(st.lists(steps(depth + 1), max_size=2))
    return ["map", name, "in", draw(names), "{", *sum(inner, []), "}"]


@st.composite
def programs(draw) -> str:
    tokens: list[str] = []
    if draw(st.booleans()):
        tokens += [
            "schema",
            "S",
            "{",
            "why: text",
            draw(st.sampled_from([",", ""])),
            "a: number?",
            'kind: enum(click, type, "two words")',
            "}",
        ]
    if draw(st.booleans()):
        tokens += ["schema", "T", "{", "}"]
    for w in range(draw(st.integers(1, 2))):
        tokens += ["workflow", f"w{w}", "{"]
        for n in draw(st.lists(names, min_size=1, max_size=3)):
            hint = draw(st.sampled_from(["", "~ 128k tokens", "~ 40 items", "~ 1M tokens"]))
            tokens += ["input", n, ":", draw(types), *hint.split(" ", 1)]
        for setting in draw(
            st.lists(
                st.sampled_from(
                    [
                        "objective cost",
                        "objective balanced",
                        "budget $0.50",
                        "budget $3",
                        "deadline 5m",
                        "deadline 1.5s",
                        "deadline 250ms",
                    ]
                ),
                max_size=3,
                unique_by=lambda s: s.split()[0],
            )
        ):
            tokens.append(setting)
        for s in draw(st.lists(steps(), max_size=4)):
            tokens += s
        tokens += ["output", ", ".join(draw(st.lists(names, min_size=1, max_size=3)))]
        tokens.append("}")
    lead = draw(st.sampled_from(["", "# header\n", "\n\n"]))
    out = lead + tokens[0]
    for t in tokens[1:]:
        out += draw(st.sampled_from(SEPS)) + t
    return out + draw(st.sampled_from(["\n", "", "  # tail\n"]))


EXAMPLES = sorted(Path(__file__).resolve().parent.parent.glob("examples/*.het"))


def assert_well_positioned(text: str) -> None:
    """check() gives diagnostics inside the text, or raises a one-line HetError."""
    try:
        diagnostics = check(text if "\n" in text or "{" in text else text + "\n")
    except HetError as exc:
        assert "\n" not in str(exc)
        return
    lines = text.split("\n")
    for d in diagnostics:
        if d.pos.file != "<string>":
            continue
        assert 1 <= d.pos.line <= len(lines) + 1, d
        assert d.pos.column >= 1, d
        assert (d.pos.end_line, d.pos.end_column) >= (d.pos.line, d.pos.column), d
        assert d.message and "\n" not in d.message, d


@FUZZ
@given(programs())
def test_generated_programs_check_without_crashing(text):
    assert_well_positioned(text)


_TOKEN = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|\w+|[^\w\s]')


@st.composite
def mutants(draw) -> str:
    base = draw(st.sampled_from(EXAMPLES)).read_text() if draw(st.booleans()) else draw(programs())
    toks = [(m.start(), m.end()) for m in _TOKEN.finditer(base)]
    text = base
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["delete", "duplicate", "swap", "bytes", "truncate"]))
        toks = [(m.start(), m.end()) for m in _TOKEN.finditer(text)] or [(0, 0)]
        i = draw(st.integers(0, len(toks) - 1))
        s, e = toks[i]
        if how == "delete":
            text = text[:s] + text[e:]
        elif how == "duplicate":
            text = text[:e] + " " + text[s:e] + text[e:]
        elif how == "swap" and i + 1 < len(toks):
            s2, e2 = toks[i + 1]
            text = text[:s] + text[s2:e2] + text[e:s2] + text[s:e] + text[e2:]
        elif how == "bytes":
            junk = draw(st.text(min_size=1, max_size=4))
            text = text[:s] + junk + text[s:]
        else:
            text = text[:s]
    return text


@FUZZ
@given(mutants())
def test_mutated_programs_check_without_crashing(text):
    assert_well_positioned(text)


@FUZZ
@given(st.text(max_size=80))
def test_random_text_checks_without_crashing(text):
    assert_well_positioned(text + "\n{")
