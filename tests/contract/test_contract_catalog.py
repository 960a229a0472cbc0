"""The catalog file's contract keys (DESIGN.md "The hardware catalog"): they load and mean
what they say.  Meaning is read through compiled plans: a key that is loaded but ignored
by the optimizer fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from contract_support import CATALOG, FIXTURES, cli, compile_json, node, write

import hetflow

DESIGN_MD = Path(__file__).resolve().parents[3] / "shared" / "DESIGN.md"
DESIGN_TOML = FIXTURES / "design_example.toml"
ONE = FIXTURES / "one_step.het"


def _listing(catalog: Path | None = None) -> dict:
    args = ["catalog", "list", "--format", "json"]
    if catalog is not None:
        args += ["--catalog", catalog]
    ran = cli(*args)
    assert ran.code == 0, ran.text
    return json.loads(ran.out)


def _variant(tmp_path: Path, old: str, new: str, name: str = "variant.toml") -> Path:
    text = CATALOG.read_text()
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


def test_design_example_is_the_contract_text_verbatim():
    if not DESIGN_MD.exists():
        pytest.skip("shared/DESIGN.md is not beside the repository")
    blocks = re.findall(r"```toml\n(.*?)```", DESIGN_MD.read_text(encoding="utf-8"), re.S)
    assert DESIGN_TOML.read_text(encoding="utf-8") == blocks[0]


def test_design_example_validates_and_loads():
    ran = cli("catalog", "validate", DESIGN_TOML)
    assert ran.code == 0, ran.text
    listing = _listing(DESIGN_TOML)
    assert listing["name"] == "my-lab"
    assert listing["chips"]["cerebras-wse3"]["vendor"] == "Cerebras"
    assert listing["chips"]["cerebras-wse3"]["handoff_ms"] == 40
    model = listing["models"]["gpt-oss-120b"]
    assert (model["reasoning"], model["coding"], model["extraction"], model["vision"]) == (
        4,
        4,
        4,
        0,
    )
    assert model["context"] == 131072
    (offer,) = listing["offers"]
    expected = {
        "model": "gpt-oss-120b",
        "chip": "cerebras-wse3",
        "litellm": "cerebras/gpt-oss-120b",
        "output_tps": 1800,
        "prefill_tps": 20000,
        "ttft_ms": 300,
        "concurrency": 16,
        "input_per_mtok": 0.35,
        "output_per_mtok": 0.75,
        "api_base": "http://10.0.0.5:8000/v1",
        "api_key_env": "CEREBRAS_API_KEY",
    }
    assert {k: offer[k] for k in expected} == expected


def test_design_example_compiles_a_workflow(tmp_path):
    het = write(tmp_path, ONE.read_text().replace("10k tokens", "4000 tokens"))
    ran, plan = compile_json(het, "--catalog", DESIGN_TOML, tmp_path=tmp_path)
    assert ran.code == 0, ran.text
    a = node(plan, "answer")["assignment"]
    assert (a["model"], a["chip"], a["litellm"]) == (
        "gpt-oss-120b",
        "cerebras-wse3",
        "cerebras/gpt-oss-120b",
    )


def test_cpu_is_always_present():
    assert "[chips.cpu]" not in CATALOG.read_text().replace("no [chips.cpu]", "")
    assert "cpu" in _listing(CATALOG)["chips"]
    assert "cpu" in hetflow.load_catalog(CATALOG).chips
    assert "cpu" in _listing()["chips"]  # the default catalog


def test_extra_keys_are_allowed(tmp_path):
    text = (
        CATALOG.read_text()
        .replace('name = "contract-two-chips"', 'name = "contract-two-chips"\nowner = "qa"')
        .replace('vendor = "FastCo"', 'vendor = "FastCo"\nrack = "A3"')
        .replace('source = "contract test fixture"', 'source = "x"\nfamily = "test"', 1)
        .replace('litellm = "openai/m-fast"', 'litellm = "openai/m-fast"\nregion = "eu"')
    )
    path = tmp_path / "extra.toml"
    path.write_text(text)
    ran = cli("catalog", "validate", path)
    assert ran.code == 0, ran.text


def test_the_catalog_name_and_its_hash_are_in_the_plan(tmp_path):
    _, plan = compile_json(ONE, tmp_path=tmp_path)
    assert "contract-two-chips" in json.dumps(plan)


# ---------------------------------------------------------------- keys mean what they say


def test_skills_decide_who_can_run_a_step(tmp_path):
    text = ONE.read_text().replace("needs reasoning >= 2", "needs coding >= 5")
    ran, plan = compile_json(write(tmp_path, text), tmp_path=tmp_path)
    assert ran.code == 0, ran.text
    answer = node(plan, "answer")
    assert answer["assignment"]["model"] == "big"  # the only coding 5
    assert answer["alternatives"] == []


def test_vision_skill_for_zoom(tmp_path):
    text = """
workflow look {
  input shot: image
  input goal: text
  objective cost
  zoom z = shot at "the part that answers {{ goal }}" needs vision >= 2
  output z
}
"""
    ran, plan = compile_json(write(tmp_path, text), tmp_path=tmp_path)
    assert ran.code == 0, ran.text
    zoomed = [n for n in plan["nodes"] if n["assignment"]]
    assert zoomed and all(n["assignment"]["model"] == "eye" for n in zoomed)


def test_model_context_window_excludes_offers_it_cannot_hold(tmp_path):
    small = _variant(
        tmp_path,
        "[models.m]\nreasoning = 4\ncoding = 4\nextraction = 4\nvision = 0\ncontext = 1000000",
        "[models.m]\nreasoning = 4\ncoding = 4\nextraction = 4\nvision = 0\ncontext = 50000",
    )
    text = ONE.read_text().replace("10k tokens", "100k tokens")
    ran, plan = compile_json(write(tmp_path, text), "--catalog", small, tmp_path=tmp_path)
    assert ran.code == 0, ran.text
    assert node(plan, "answer")["assignment"]["model"] == "big"  # m's window is too small


def test_context_need_excludes_smaller_windows(tmp_path):
    small = _variant(
        tmp_path,
        "[models.m]\nreasoning = 4\ncoding = 4\nextraction = 4\nvision = 0\ncontext = 1000000",
        "[models.m]\nreasoning = 4\ncoding = 4\nextraction = 4\nvision = 0\ncontext = 64000",
    )
    text = ONE.read_text().replace("needs reasoning >= 2", "needs reasoning >= 2, context >= 100k")
    ran, plan = compile_json(write(tmp_path, text), "--catalog", small, tmp_path=tmp_path)
    assert ran.code == 0, ran.text
    assert node(plan, "answer")["assignment"]["model"] == "big"


def test_prices_change_the_cost_choice(tmp_path):
    # Make the slow chip dearer than the fast one: cost now picks fast.
    dear = _variant(
        tmp_path,
        "input_per_mtok = 0.1\noutput_per_mtok = 0.1",
        "input_per_mtok = 20.0\noutput_per_mtok = 20.0",
    )
    _, plan = compile_json(ONE, "--catalog", dear, tmp_path=tmp_path)
    assert node(plan, "answer")["assignment"]["chip"] == "fast"


def test_speed_changes_the_latency_choice(tmp_path):
    # Make the slow chip the quickest of all: latency now picks it.
    quick = _variant(
        tmp_path,
        "output_tps = 10\nprefill_tps = 1000\nttft_ms = 1000",
        "output_tps = 1000000\nprefill_tps = 10000000\nttft_ms = 1",
    )
    _, plan = compile_json(ONE, "--objective", "latency", "--catalog", quick, tmp_path=tmp_path)
    assert node(plan, "answer")["assignment"]["chip"] == "slow"


def test_ttft_is_milliseconds(tmp_path):
    slow_start = _variant(
        tmp_path,
        "ttft_ms = 100\nconcurrency = 1000\ninput_per_mtok = 10.0",
        "ttft_ms = 3100\nconcurrency = 1000\ninput_per_mtok = 10.0",
    )
    _, before = compile_json(ONE, "--objective", "latency", tmp_path=tmp_path)
    _, after = compile_json(
        ONE, "--objective", "latency", "--catalog", slow_start, tmp_path=tmp_path
    )
    assert node(after, "answer")["assignment"]["chip"] == "fast"
    delta = (
        node(after, "answer")["estimate"]["latency_s"]
        - node(before, "answer")["estimate"]["latency_s"]
    )
    assert delta == pytest.approx(3.0, abs=1e-3)


def test_prices_default_to_litellms_cost_table(tmp_path):
    import litellm

    entry = litellm.model_cost["gpt-4o-mini"]
    text = (
        CATALOG.read_text()
        + """
[models.mini]
reasoning = 5
coding = 5
extraction = 5
vision = 0
context = 128000

[chips.openai]
vendor = "OpenAI"

[[offers]]
model = "mini"
chip = "openai"
litellm = "gpt-4o-mini"
output_tps = 100
prefill_tps = 10000
ttft_ms = 500
"""
    )
    path = tmp_path / "priced_by_litellm.toml"
    path.write_text(text)
    het = write(
        tmp_path,
        ONE.read_text().replace("needs reasoning >= 2", 'needs reasoning >= 2 using "gpt-4o-mini"'),
    )
    ran, plan = compile_json(het, "--catalog", path, tmp_path=tmp_path)
    assert ran.code == 0, ran.text
    est = node(plan, "answer")["estimate"]
    expected = (
        est["input_tokens"] * entry["input_cost_per_token"]
        + est["output_tokens"] * entry["output_cost_per_token"]
    )
    assert est["cost_usd"] == pytest.approx(expected, rel=1e-6)


def test_a_catalog_price_overrides_litellms(tmp_path):
    text = CATALOG.read_text().replace('litellm = "openai/m-slow"', 'litellm = "gpt-4o-mini"')
    path = tmp_path / "override.toml"
    path.write_text(text)
    _, plan = compile_json(ONE, "--catalog", path, tmp_path=tmp_path)
    est = node(plan, "answer")["estimate"]
    assert est["cost_usd"] == pytest.approx(
        (est["input_tokens"] * 0.1 + est["output_tokens"] * 0.1) / 1e6, rel=1e-6
    )


# ---------------------------------------------------------------- bad catalogs


@pytest.mark.parametrize(
    ("old", "new", "word"),
    [
        ('chip = "slow"', 'chip = "slwo"', "slwo"),
        ('model = "eye"', 'model = "ey"', "ey"),
        ("reasoning = 4", "reasoning = 9", "reasoning"),
        ('litellm = "openai/m-fast"\n', "", "litellm"),
        ("output_tps = 10\n", 'output_tps = "ten"\n', "output_tps"),
    ],
)
def test_invalid_catalogs_are_refused_with_a_reason(old, new, word, tmp_path):
    path = _variant(tmp_path, old, new, "bad.toml")
    ran = cli("catalog", "validate", path)
    assert ran.code == 1, ran.text
    assert word in ran.text and "Traceback" not in ran.text, ran.text
    ran = cli("compile", ONE, "-o", tmp_path / "p.json", "--catalog", path)
    assert ran.code == 1 and word in ran.text and "Traceback" not in ran.text, ran.text


# ---------------------------------------------------------------- the default catalog


def test_default_catalog_has_one_model_on_several_chips():
    listing = _listing()
    chips: dict[str, set[str]] = {}
    for offer in listing["offers"]:
        chips.setdefault(offer["model"], set()).add(offer["chip"])
    assert max(len(c) for c in chips.values()) >= 3, chips
    vendors = {listing["chips"][c]["vendor"] for c in chips.get("gpt-oss-120b", ())}
    assert len(vendors) >= 3, vendors


def test_default_catalog_names_its_sources():
    listing = _listing()
    for name, model in listing["models"].items():
        assert model.get("source"), name
    for offer in listing["offers"]:
        assert offer.get("source"), offer


# ---------------------------------------------------------------- hetflow catalog


def test_catalog_list_show_validate():
    ran = cli("catalog", "list", "--catalog", CATALOG)
    assert ran.code == 0 and "m@fast" in ran.out.replace(" @ ", "@"), ran.text
    for what, words in [
        ("m", ["m", "reasoning"]),
        ("fast", ["FastCo"]),
        ("m@slow", ["openai/m-slow"]),
        ("cpu", ["cpu"]),
    ]:
        ran = cli("catalog", "show", what, "--catalog", CATALOG)
        assert ran.code == 0, (what, ran.text)
        for w in words:
            assert w in ran.out, (what, w, ran.out)
    assert cli("catalog", "validate", CATALOG).code == 0


def test_catalog_show_unknown_name_suggests():
    ran = cli("catalog", "show", "bgi", "--catalog", CATALOG)
    assert ran.code == 1 and "big" in ran.err and "Traceback" not in ran.text, ran.text
