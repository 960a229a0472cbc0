"""Sizes flow from the inputs through builtins and templates to every node's work."""

from __future__ import annotations

import math

import pytest

from hetflow.builtins.table import Est
from hetflow.checks.checker import infer_types
from hetflow.estimate import sizes as E
from hetflow.estimate.sizes import estimate, type_tokens
from hetflow.plan.graph import build_graph
from hetflow.syntax.loader import load_or_raise


def run(text: str, sizes=None):
    prog = load_or_raise(text)
    wf = prog.workflows[0]
    return estimate(wf, build_graph(wf), sizes or {}, prog.schemas, infer_types(prog, wf))


def test_a_template_counts_its_words_and_the_names_it_renders():
    est = run(
        "workflow w {\n input x: text ~ 8k tokens\n"
        ' reason y = prompt "Summarize this text: {{ x }}"\n output y\n}'
    )
    w = est.work["y"]
    own = math.ceil(len("Summarize this text: ") / 4)
    assert w.input_tokens == E.CHAT_FRAME_TOKENS + own + 8_000
    assert (w.calls, w.output_tokens) == (1.0, E.OUTPUT_TEXT_TOKENS)


def test_a_typed_step_counts_the_json_instruction_the_runtime_sends():
    """The runtime ends a typed step's prompt with the schema as JSON; measured on real
    runs it was most of a short prompt, so the estimate counts exactly that text."""
    from hetflow.builtins.table import count_tokens
    from hetflow.plan.json_schema import json_schema
    from hetflow.runtime.calls import _with_instruction
    from hetflow.runtime.structured import instruction, wire_schema

    src = (
        "workflow w {\n input x: text ~ 100 tokens\n"
        ' reason v: V = prompt "Judge {{ x }}"\n reason t = prompt "Judge {{ x }}"\n'
        " output v, t\n}\nschema V {\n risky: bool\n why: text\n tags: list[text]\n}"
    )
    prog = load_or_raise(src)
    est = run(src)
    typed, plain = est.work["v"], est.work["t"]
    schema = json_schema(prog.workflows[0].steps[0].type, {s.name: s for s in prog.schemas})
    sent = _with_instruction(
        [{"role": "user", "content": "Judge"}], instruction(wire_schema(schema)[0])
    )
    added = count_tokens(sent[-1]["content"]) - count_tokens("Judge")
    assert typed.input_tokens - plain.input_tokens == pytest.approx(added, abs=1)
    assert added > 40  # the schema is not a rounding error


def test_the_recurse_constants_are_the_prompts_the_runtime_sends():
    from hetflow.builtins.table import count_tokens
    from hetflow.recurse.prompts import SYSTEM_PROMPT, first_prompt

    assert E.RECURSE_SYSTEM_TOKENS == count_tokens(SYSTEM_PROMPT)
    preview = count_tokens(first_prompt("", "x" * 100_000))
    assert abs(E.RECURSE_PREVIEW_TOKENS - preview) <= 5


def test_defaults_when_no_size_is_given():
    est = run(
        "workflow w {\n input x: text\n input xs: list[text]\n input i: image\n"
        ' reason y = prompt "{{ x }} {{ xs }} {{ i }}"\n output y\n}'
    )
    assert est.input_sizes["x"] == Est(E.DEFAULT_TEXT_TOKENS)
    assert est.input_sizes["xs"].items == E.DEFAULT_LIST_ITEMS
    assert est.input_sizes["i"].tokens == E.IMAGE_TOKENS


def test_split_sets_the_map_cardinality_and_the_calls():
    est = run(
        "workflow w {\n input doc: text ~ 100k tokens\n"
        " extract parts = split(doc, tokens=5000)\n"
        ' map p in parts {\n  reason s = prompt "{{ p }}" with max_tokens=50\n }\n'
        ' reduce all = concat(s)\n reason a = prompt "{{ all }}"\n output a\n}'
    )
    assert est.cardinality["p"] == 20
    s = est.work["s"]
    assert (s.calls, s.parallel, s.output_tokens) == (20, 20, 50)
    assert s.input_tokens == pytest.approx(5_000 + E.CHAT_FRAME_TOKENS, abs=5)
    assert est.values["s"] == Est(20 * 50, 20)  # after the map: the list of answers
    assert est.work["a"].input_tokens >= 1_000


def test_nested_maps_multiply():
    est = run(
        "workflow w {\n input docs: list[text] ~ 10 items\n"
        " map d in docs {\n  extract lines = split(d, lines=1)\n"
        '  map l in lines {\n   reason t = prompt "{{ l }}"\n  }\n }\n'
        " reduce n = count(t)\n output n\n}"
    )
    inner = est.cardinality["l"]
    assert est.cardinality["d"] == 10
    assert est.work["t"].calls == pytest.approx(10 * inner)


def test_typed_outputs_and_max_tokens():
    est = run(
        "schema V {\n ok: bool\n why: text\n}\n"
        'workflow w {\n input x: text\n reason v: V = prompt "{{ x }}"\n'
        ' reason n: number = prompt "{{ x }}"\n'
        ' reason capped = prompt "{{ x }}" with max_tokens=77\n output v, n, capped\n}'
    )
    field = E.FIELD_OVERHEAD_TOKENS
    assert est.work["v"].output_tokens == pytest.approx(
        E.RECORD_OVERHEAD_TOKENS + field + 2 / 4 + E.SMALL_TOKENS + field + 3 / 4
        + E.FIELD_TEXT_TOKENS
    )  # fmt: skip
    # a number answers {"value": 42}: the wrapper's tokens count too
    assert est.work["n"].output_tokens == pytest.approx(E.SMALL_TOKENS + E.WRAPPER_TOKENS)
    assert est.work["capped"].output_tokens == 77


def test_a_typed_answer_is_sized_as_its_json_tokenizes():
    """Seen: a one-enum record ({"category": "billing"}: 6 tokens in o200k and cl100k,
    9 pretty-printed) was estimated at 17, so bench_quality predicted costs 22-37% high."""
    import json

    from hetflow.runtime.tokens import _encoding

    enc = _encoding("o200k_base")
    for schema, value in (
        ("schema L {\n category: enum(billing, bug)\n}\n", {"category": "billing"}),
        ("schema P {\n paid: bool\n total: number\n}\n", {"paid": False, "total": 1234.5}),
    ):
        name = schema.split()[1]
        est = run(schema + f'workflow w {{\n input x: text\n reason v: {name} = prompt '
                  '"{{ x }}"\n output v\n}')  # fmt: skip
        compact = len(enc.encode(json.dumps(value, separators=(",", ":"))))
        pretty = len(enc.encode(json.dumps(value, indent=2)))
        assert compact <= est.work["v"].output_tokens <= pretty, (value, est.work["v"])


def test_list_answers_scale_with_items():
    from hetflow.syntax import ast

    assert type_tokens(ast.TypeRef("list", item=ast.TEXT), {}) == pytest.approx(
        E.OUTPUT_LIST_ITEMS * E.FIELD_TEXT_TOKENS
    )


def test_recurse_root_and_sub_calls():
    est = run(
        "workflow w {\n input c: text ~ 128k tokens\n"
        ' recurse r over c depth 2 {\n  task "Count"\n }\n'
        " output r\n}"
    )
    root, sub, sub2 = est.work["r.root"], est.work["r.sub"], est.work["r.sub2"]
    assert (root.rounds, root.parallel) == (E.RECURSE_ITERATIONS, 1)
    assert root.input_tokens > E.RECURSE_SYSTEM_TOKENS + E.RECURSE_PREVIEW_TOKENS
    leaf_pieces = math.ceil(128_000 / E.SUB_CHUNK_TOKENS)
    assert sub2.parallel == leaf_pieces
    assert sub2.input_tokens == E.SUB_PROMPT_TOKENS + E.SUB_CHUNK_TOKENS
    assert sub.parallel == math.ceil(128_000 / (E.SUB_CHUNK_TOKENS * E.SUB_SPLIT))
    assert sub.rounds == E.SUB_TURNS
    assert est.work["r.repl"].cpu_s > 0


def test_a_call_in_a_map_answers_one_item_not_the_list():
    """Seen from outside, a map's step is a list; each call writes one item of it."""
    est = run(
        "workflow w {\n input xs: list[text] ~ 4 items\n"
        ' map x in xs {\n  reason y = prompt "{{ x }}"\n  reason v: V = prompt "{{ x }}"\n }\n'
        " output y, v\n}\nschema V {\n ok: bool\n}"
    )
    assert est.work["y"].output_tokens == E.OUTPUT_TEXT_TOKENS
    assert est.work["v"].output_tokens < 20  # one record of one bool, not ten
    assert est.values["y"] == Est(4 * E.OUTPUT_TEXT_TOKENS, 4)


def test_max_iterations_caps_the_root_turns():
    est = run(
        'workflow w {\n input c: text\n recurse r over c {\n  task "t"\n }'
        " with max_iterations=2\n output r\n}"
    )
    # two turns, then the call that makes it answer (the runtime's forced final)
    assert est.work["r.root"].rounds == 3


def test_root_turns_re_send_the_conversation_a_prefix_cache_reads_once():
    est = run(
        'workflow w {\n input c: text ~ 50k tokens\n recurse r over c {\n  task "t"\n }'
        " with max_tokens=100\n output r\n}"
    )
    root = est.work["r.root"]
    turn = 100 + E.RECURSE_REPL_TOKENS  # code (capped by max_tokens) + REPL output
    assert root.output_tokens == 100
    first = root.input_tokens - (root.calls - 1) / 2 * turn
    assert first == pytest.approx(
        E.CHAT_FRAME_TOKENS + E.RECURSE_SYSTEM_TOKENS + 1 + E.RECURSE_PREVIEW_TOKENS
    )
    # over the calls, a prefix cache reads the first prompt once and each turn once
    assert root.prefill_tokens * root.calls == pytest.approx(first + (root.calls - 1) * turn)
    assert root.prefill_tokens < root.input_tokens


def test_sizes_override_hints_and_items_hints_for_lists():
    text = (
        "workflow w {\n input xs: list[text] ~ 40 items\n"
        ' map x in xs {\n  reason y = prompt "{{ x }}"\n }\n'
        " reduce n = count(y)\n output n\n}"
    )
    assert run(text).cardinality["x"] == 40
    assert run(text, {"xs": Est(1500, 10)}).cardinality["x"] == 10


def test_zoom_reads_the_image_and_answers_a_box():
    est = run(
        'workflow w {\n input s: image\n zoom z = s at "the button"\n'
        ' reason a = prompt "{{ z }}"\n output a\n}'
    )
    assert est.work["z"].input_tokens > E.IMAGE_TOKENS
    assert est.work["z"].output_tokens == E.ZOOM_OUTPUT_TOKENS
    assert est.work["a"].input_tokens >= E.IMAGE_TOKENS
