"""Small parts of the runtime on their own: inputs, hooks, typed-output parsing, zoom boxes."""

from __future__ import annotations

import io
import warnings

import pytest

from hetflow.errors import HetError
from hetflow.plan.model import Plan, PlanInput
from hetflow.runtime.hooks import Hooks
from hetflow.runtime.inputs import coerce_inputs, parse_assignments
from hetflow.runtime.structured import InvalidOutput, parse, wire_schema
from hetflow.runtime.values import Image
from hetflow.runtime.zoom import crop, crop_box


def plan_with(**types) -> Plan:
    return Plan(
        workflow="w",
        inputs=[PlanInput(name=k, type=v) for k, v in types.items()],
        nodes=[],
        edges=[],
    )


def test_command_line_values_are_parsed_to_the_declared_types(tmp_path):
    f = tmp_path / "ctx.txt"
    f.write_text("a long context")
    given = parse_assignments(
        ["n=3", "ok=true", "xs=[1, 2]", 'j={"a": 1}', f"t=@{f}", "s=not json"]
    )
    plan = plan_with(n="number", ok="bool", xs="list[number]", j="json", t="text", s="json")
    assert coerce_inputs(plan, given) == {
        "n": 3,
        "ok": True,
        "xs": [1, 2],
        "j": {"a": 1},
        "t": "a long context",
        "s": "not json",
    }


@pytest.mark.parametrize(
    "value,type_,message",
    [
        ("three", "number", "is not a number"),
        ("yes", "bool", "is not a bool"),
        ("{}", "list[text]", "expected a list"),
        ("1", "image", "no such image file"),
    ],
)
def test_a_value_of_the_wrong_type_is_one_line(value, type_, message):
    with pytest.raises(HetError, match=message):
        coerce_inputs(plan_with(x=type_), {"x": value})


def test_an_image_input_from_bytes_or_pillow():
    from PIL import Image as PILImage

    im = PILImage.new("RGB", (8, 4), "red")
    buf = io.BytesIO()
    im.save(buf, format="JPEG")
    got = coerce_inputs(plan_with(a="image", b="image"), {"a": buf.getvalue(), "b": im})
    assert got["a"].mime == "image/jpeg" and got["b"].mime == "image/png"
    assert got["b"].size == (8, 4)


def test_a_hook_that_raises_warns_once_and_the_run_goes_on():
    seen = []

    def bad(**_):
        seen.append(1)
        raise ValueError("oops")

    hooks = Hooks({"on_call_end": bad})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hooks("on_call_end", node="a")
        hooks("on_call_end", node="b")
    assert len(seen) == 2 and len(caught) == 1 and "oops" in str(caught[0].message)
    with pytest.raises(ValueError, match="unknown hook"):
        Hooks({"on_cal_end": bad})


def test_typed_replies_are_unwrapped_and_validated():
    schema = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"label": {"enum": ["a", "b"]}, "count": {"type": "number"}},
            "required": ["label", "count"],
        },
    }
    wire, wrapped = wire_schema(schema)
    assert wrapped and wire["required"] == ["value"]
    text = 'Here you go: {"value": [{"label": "a", "count": 2}]} hope it helps'
    assert parse(text, schema, wrapped) == [{"label": "a", "count": 2}]
    with pytest.raises(InvalidOutput, match="'c' is not one of"):
        parse('{"value": [{"label": "c", "count": 1}]}', schema, wrapped)
    with pytest.raises(InvalidOutput, match="not JSON"):
        parse("no idea", schema, wrapped)


def test_zoom_boxes_in_pixels_or_fractions_are_clamped_and_scaled():
    from PIL import Image as PILImage

    assert crop_box({"x0": -5, "y0": 0.0, "x1": 999, "y1": 50}, (100, 80)) == (0, 0, 100, 50)
    assert crop_box({"x0": 0.5, "y0": 0.5, "x1": 0.5, "y1": 0.5}, (100, 80)) == (50, 40, 51, 41)
    img = Image.from_pil(PILImage.new("RGB", (300, 100), "green"))
    out = crop(img, {"x0": 0, "y0": 0, "x1": 0.5, "y1": 0.5})
    assert out.size == (300, 100)  # the crop (150x50) enlarged to the image's longer side
    assert crop(img, {"x0": 0, "y0": 0, "x1": 30, "y1": 10}, scale=2).size == (60, 20)


def test_the_summary_says_whether_the_deadline_was_met():
    from hetflow.runtime.trace import summary_text

    def line(took, deadline):
        comparison = {
            "predicted": {"cost_usd": 0.01, "latency_s": 2.0, "calls": 1, "input_tokens": 10,
                          "output_tokens": 5},
            "actual": {"cost_usd": 0.01, "latency_s": took, "calls": 1, "input_tokens": 10,
                       "output_tokens": 5},
            "steps": [],
            "deadline_s": deadline,
        }  # fmt: skip
        return summary_text(comparison).splitlines()[1]

    assert line(1.5, None) == "time 1.50s (estimated 2.00s, -25%)"
    assert line(1.5, 30.0) == "time 1.50s (estimated 2.00s, -25%; deadline 30s met)"
    assert line(34.2, 30.0) == "time 34.20s (estimated 2.00s, +1610%; deadline 30s missed by 4.20s)"


def test_litellm_errors_name_their_class_once():
    """Seen: 'ContextWindowExceededError 400: litellm.BadRequestError:
    ContextWindowExceededError: ...' reached the user, the class names said thrice."""
    import litellm

    from hetflow.runtime.llm import describe

    too_long = "This model's maximum context length is 8192 tokens"
    wrapped = litellm.ContextWindowExceededError(
        message=too_long, model="openai/x", llm_provider="openai"
    )
    assert describe(wrapped) == f"ContextWindowExceededError 400: {too_long}"
    inner = litellm.BadRequestError(
        message=f"ContextWindowExceededError: {too_long}", model="openai/x", llm_provider="openai"
    )
    assert describe(inner) == f"BadRequestError 400: {too_long}"
