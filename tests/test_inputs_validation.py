"""Inputs are checked against their declared types before any call is made."""

import json

import pytest

import hetflow
from hetflow.errors import HetError
from hetflow.runtime.inputs import coerce_inputs

SRC = """
schema Row {
  label: enum(a, b)
  n: number
  note: text?
}
workflow w {
  input rows: list[Row]
  input k: number
  reduce c = count(rows)
  output c
}
"""


@pytest.fixture(scope="module")
def plan():
    return hetflow.compile(SRC)


def test_a_matching_input_passes_and_is_parsed_from_json(plan):
    values = coerce_inputs(plan, {"rows": '[{"label": "a", "n": 1}]', "k": "3"})
    assert values == {"rows": [{"label": "a", "n": 1}], "k": 3}


@pytest.mark.parametrize(
    "rows, where",
    [
        ('[{"label": "z", "n": 1}]', "at 0/label"),
        ('[{"label": "a"}]', "at 0"),
        ('[{"label": "a", "n": "one"}]', "at 0/n"),
        ('[{"label": "a", "n": 1, "extra": true}]', "at 0"),
    ],
)
def test_a_mismatching_input_is_a_one_line_error_naming_where(plan, rows, where):
    with pytest.raises(HetError) as err:
        coerce_inputs(plan, {"rows": rows, "k": 1})
    message = str(err.value)
    assert message.startswith("input rows: not a list[Row] " + where)
    assert "\n" not in message


def test_run_refuses_a_bad_input_before_running_anything(plan):
    with pytest.raises(HetError, match="input rows"):
        hetflow.run_sync(
            plan, inputs={"rows": [{"label": "q", "n": 1}], "k": 1}, journal=False, cache=False
        )


def test_a_list_of_images_is_read_item_by_item(tmp_path):
    from PIL import Image as PILImage

    from hetflow.runtime import Image

    plan = hetflow.compile(
        "workflow w {\n  input pages: list[image]\n  map p in pages {\n"
        '    zoom z = p at "the total"\n  }\n  output z\n}'
    )
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"p{i}.png")
        PILImage.new("RGB", (8, 8)).save(paths[-1])
    values = coerce_inputs(plan, {"pages": json.dumps([str(p) for p in paths])})
    assert [type(v) for v in values["pages"]] == [Image, Image]
    assert values["pages"][0].mime == "image/png"
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(HetError, match=r"input pages\[1\]: .*notes.txt is not an image"):
        coerce_inputs(plan, {"pages": [str(paths[0]), str(tmp_path / "notes.txt")]})
    with pytest.raises(HetError, match=r"input pages\[0\]: no such image file"):
        coerce_inputs(plan, {"pages": '["missing.png"]'})
