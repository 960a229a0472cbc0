"""The catalog's Python API: loading, the contract keys, prices, formulas, look-ups."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from hetflow.catalog import (
    SKILLS,
    Catalog,
    CatalogError,
    Chip,
    Model,
    Offer,
    load_catalog,
    parse_catalog,
)
from hetflow.catalog.prices import table_path
from hetflow.errors import HetError

FIXTURES = Path(__file__).parent / "fixtures" / "catalogs"
FULL = FIXTURES / "full.toml"
DEFAULT_FILE = Path(__file__).parents[1] / "hetflow" / "catalog" / "default.toml"


@pytest.fixture(scope="module")
def default() -> Catalog:
    return load_catalog(None)


@pytest.fixture(scope="module")
def litellm_table() -> dict:
    """litellm's bundled cost table, read here independently of hetflow's reader."""
    import importlib.util

    folder = Path(importlib.util.find_spec("litellm").origin).parent
    return json.loads((folder / "model_prices_and_context_window_backup.json").read_text())


# ---- the default catalog ------------------------------------------------------


def test_skills_are_the_four_of_the_language():
    assert SKILLS == ("reasoning", "coding", "extraction", "vision")


def test_default_catalog_loads_with_the_required_entries(default):
    assert default.name == "default"
    assert default.path is None
    for chip in (
        "cerebras-wse3",
        "sambanova-sn40l",
        "groq-lpu",
        "nvidia-h100",
        "nvidia-h200",
        "aws-trainium2",
        "cpu",
    ):
        assert isinstance(default.chips[chip], Chip)
        assert default.chips[chip].vendor
    for model in (
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano",
        "claude-sonnet-4-5",
        "gemini-2.5-pro",
        "gpt-oss-120b",
        "llama-3.1-8b",
        "llama-3.3-70b",
        "qwen3-32b",
        "qwen3-vl-8b",
    ):
        assert isinstance(default.models[model], Model)
    gpt_oss_chips = {o.chip for o in default.offers if o.model == "gpt-oss-120b"}
    assert {"cerebras-wse3", "sambanova-sn40l", "groq-lpu", "nvidia-h100"} <= gpt_oss_chips
    for model in ("llama-3.1-8b", "llama-3.3-70b"):
        assert len({o.chip for o in default.offers if o.model == model}) >= 3


def test_default_catalog_hash_is_sha256_of_the_shipped_file(default):
    assert default.hash == hashlib.sha256(DEFAULT_FILE.read_bytes()).hexdigest()


def test_every_default_figure_names_a_source(default):
    assert all(m.source for m in default.models.values())
    assert all(o.source for o in default.offers)
    assert all(c.source for c in default.chips.values())


def test_default_offers_have_priced_and_keyed_providers(default):
    for offer in default.offers:
        assert offer.input_per_mtok is not None and offer.output_per_mtok is not None
        assert offer.api_key_env and offer.api_key_env.endswith("_API_KEY")


def test_default_prices_come_from_litellms_table_unless_written(default, litellm_table):
    shipped = Path(table_path()).parent  # litellm is installed where hetflow looked
    assert shipped.is_dir()
    raw = tomllib.loads(DEFAULT_FILE.read_text())
    for entry, offer in zip(raw["offers"], default.offers, strict=True):
        if "input_per_mtok" in entry:
            assert offer.prices_from == "catalog"
            continue
        key = offer.prices_from.removeprefix("litellm:")
        assert key in litellm_table, offer.id
        assert offer.input_per_mtok == pytest.approx(
            litellm_table[key]["input_cost_per_token"] * 1e6
        )


def test_default_skills_are_honest_where_the_brief_pins_them(default):
    gpt5, small = default.models["gpt-5"], default.models["llama-3.1-8b"]
    assert [gpt5.skill(s) for s in SKILLS] == [5, 5, 5, 4]
    assert [small.skill(s) for s in SKILLS] == [2, 2, 3, 0]
    for vision in ("gpt-5", "claude-sonnet-4-5", "gemini-2.5-pro", "qwen3-vl-8b"):
        assert default.models[vision].vision > 0


def test_default_baseline_is_gpt5(default):
    assert default.strongest_offer().model == "gpt-5"


def test_loading_the_catalog_does_not_import_litellm():
    code = "import sys; from hetflow.catalog import load_catalog; load_catalog(None); print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- contract keys round-trip ---------------------------------------------------


def test_every_contract_key_round_trips():
    cat = load_catalog(str(FULL))
    raw = tomllib.loads(FULL.read_text())
    assert cat.name == raw["catalog"]["name"] == "my-lab"
    assert cat.path == str(FULL)
    assert cat.hash == hashlib.sha256(FULL.read_bytes()).hexdigest()
    for name, table in raw["chips"].items():
        chip = cat.chips[name]
        assert chip.name == name
        for key, value in table.items():
            assert getattr(chip, key) == value
    for name, table in raw["models"].items():
        model = cat.models[name]
        for key, value in table.items():
            assert getattr(model, key) == value
    assert cat.models["llama-3.1-8b"].vision == 0  # an omitted skill is 0
    assert len(cat.offers) == len(raw["offers"])
    for offer, table in zip(cat.offers, raw["offers"], strict=True):
        for key, value in table.items():
            assert getattr(offer, key) == value, key
    assert cat.chips["cerebras-wse3"].rack == "A3"  # extra keys are kept


def test_cpu_chip_is_always_present():
    cat = load_catalog(FULL)  # a Path works too
    assert "cpu" not in tomllib.loads(FULL.read_text())["chips"]
    assert cat.chips["cpu"].vendor == "local"
    assert cat.find_chip("cpu") is cat.chips["cpu"]


def test_offer_id_and_lookups():
    cat = load_catalog(FULL)
    offer = cat.offer("gpt-oss-120b@cerebras-wse3")
    assert offer.id == "gpt-oss-120b@cerebras-wse3"
    assert cat.model_of(offer) is cat.models["gpt-oss-120b"]
    assert cat.chip_of(offer) is cat.chips["cerebras-wse3"]
    with pytest.raises(HetError, match="did you mean 'gpt-oss-120b@cerebras-wse3'"):
        cat.offer("gpt-oss-120b@cerebras-wse")
    assert cat.find_chip("NVIDIA-H100").name == "nvidia-h100"
    assert cat.find_chip("tpu") is None


def test_find_model_by_name_litellm_string_or_bare_model(default):
    ids = lambda found: {o.id for o in found}  # noqa: E731
    assert ids(default.find_model("cerebras/llama3.1-8b")) == {"llama-3.1-8b@cerebras-wse3"}
    assert ids(default.find_model("gpt-5")) == {"gpt-5@nvidia-h100"}
    assert ids(default.find_model("openai/gpt-5")) == {"gpt-5@nvidia-h100"}
    assert len(default.find_model("gpt-oss-120b")) >= 4
    assert ids(default.find_model("cerebras/llama-3.3-70b")) == {"llama-3.3-70b@cerebras-wse3"}
    assert ids(default.find_model("Llama-3.3-70B")) == {
        o.id for o in default.offers if o.model == "llama-3.3-70b"
    }
    assert ids(default.find_model("llama3.1-8b")) == {"llama-3.1-8b@cerebras-wse3"}
    assert ids(default.find_model("gpt-oss-120b@groq-lpu")) == {"gpt-oss-120b@groq-lpu"}
    assert default.find_model("no-such-model") == []


# ---- prices ------------------------------------------------------------------


def test_prices_default_from_litellms_table(litellm_table):
    cat = load_catalog(FULL)
    offer = cat.offer("llama-3.1-8b@cerebras-wse3")  # the file gives no price
    entry = litellm_table["cerebras/llama3.1-8b"]
    assert offer.input_per_mtok == pytest.approx(entry["input_cost_per_token"] * 1e6)
    assert offer.output_per_mtok == pytest.approx(entry["output_cost_per_token"] * 1e6)
    assert offer.prices_from == "litellm:cerebras/llama3.1-8b"


def test_prices_default_through_a_provider_prefix(default, litellm_table):
    claude = default.offer("claude-sonnet-4-5@aws-trainium2")
    assert claude.litellm == "anthropic/claude-sonnet-4-5"
    entry = litellm_table["claude-sonnet-4-5"]
    assert entry["litellm_provider"] == "anthropic"
    assert claude.output_per_mtok == pytest.approx(entry["output_cost_per_token"] * 1e6)


def test_a_price_in_the_file_wins_over_the_table():
    cat = load_catalog(FULL)
    assert cat.offer("gpt-oss-120b@cerebras-wse3").prices_from == "catalog"


def test_a_provider_prefix_never_borrows_another_providers_price():
    text = _one_offer(litellm="together_ai/gpt-5", extra="")  # the table's gpt-5 is OpenAI's
    with pytest.raises(CatalogError, match="has no price"):
        parse_catalog(text)


# ---- the performance model -----------------------------------------------------------


def test_call_latency_is_ttft_plus_prefill_plus_decode():
    offer = Offer(
        model="m", chip="c", litellm="x/m", output_tps=200, prefill_tps=4000, ttft_ms=300,
        input_per_mtok=1.0, output_per_mtok=4.0,
    )  # fmt: skip
    assert offer.call_latency_s(8000, 1000) == pytest.approx(0.3 + 2.0 + 5.0)
    assert offer.call_cost_usd(8000, 1000) == pytest.approx(8000 * 1e-6 + 1000 * 4e-6)


def test_per_hour_offer_pays_its_share_of_the_hour():
    cat = load_catalog(FULL)
    offer = cat.offer("llama-3.1-8b@nvidia-h100")
    latency = 0.1 + 4000 / 8000 + 600 / 120
    assert offer.call_latency_s(4000, 600) == pytest.approx(latency)
    assert offer.call_cost_usd(4000, 600) == pytest.approx(latency / 3600 * 2.5 / 64)
    # per-token equivalents are filled in for code that reads prices directly
    assert offer.prices_from == "per_hour"
    assert offer.output_per_mtok == pytest.approx(2.5 / 3600 / 64 / 120 * 1e6)


def test_per_hour_and_token_prices_together_are_an_error():
    with pytest.raises(CatalogError, match="both per_hour and per-token prices"):
        parse_catalog(
            _one_offer(extra="per_hour = 3.0\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0")
        )


# ---- candidates and the baseline ---------------------------------------------------


def test_candidates_filter_by_skills_and_context(default):
    vision = default.candidates({"vision": 3}, 100_000)
    assert vision and all(default.model_of(o).vision >= 3 for o in vision)
    assert all(default.model_of(o).context >= 100_000 for o in vision)
    long = default.candidates({"reasoning": 4}, 500_000)
    assert {o.model for o in long} == {"gemini-2.5-pro"}
    assert default.candidates({"reasoning": 5, "coding": 5, "vision": 5}, 0) == []
    assert len(default.candidates({}, 0)) == len(default.offers)
    assert default.candidates({"context": 300_000}, 0) == default.candidates({}, 300_000)


def test_candidates_reject_an_unknown_skill(default):
    with pytest.raises(HetError, match="did you mean 'reasoning'"):
        default.candidates({"reasonning": 3}, 0)


def test_candidates_respect_an_offer_context_narrower_than_the_model():
    cat = parse_catalog(
        _one_offer(extra="context = 8192\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0")
    )
    assert cat.candidates({}, 8000) and not cat.candidates({}, 9000)


def test_strongest_offer_prefers_skills_then_context_then_speed():
    skills = "reasoning = 5\ncoding = 5\nextraction = 5\nvision = 4"
    text = f"""
[chips.fast]
vendor = "x"
[models.big]
{skills}
context = 1000
[models.wide]
{skills}
context = 9000
[models.small]
reasoning = 2
context = 100000
"""
    for model, chip, tps in (
        ("small", "cpu", 9999),
        ("big", "cpu", 500),
        ("wide", "cpu", 10),
        ("wide", "fast", 20),
    ):
        text += f"""
[[offers]]
model = "{model}"
chip = "{chip}"
litellm = "x/{model}"
output_tps = {tps}
prefill_tps = 100
ttft_ms = 10
input_per_mtok = 1.0
output_per_mtok = 1.0
"""
    # big and wide tie on skills; wide has the larger window; of its two offers, the faster wins
    assert parse_catalog(text).strongest_offer().id == "wide@fast"


def test_building_a_catalog_in_python_checks_references():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown chip 'nowhere'"):
        Catalog(
            models={"m": {"context": 10}},
            offers=[_offer_dict(chip="nowhere")],
        )
    cat = Catalog(models={"m": {"context": 10}}, offers=[_offer_dict()])
    assert cat.offer("m@cpu").prices_from == "catalog" and len(cat.hash) == 64


# ---- helpers ----------------------------------------------------------------------


def _offer_dict(**changes) -> dict:
    offer = dict(
        model="m", chip="cpu", litellm="x/m", output_tps=10.0, prefill_tps=100.0, ttft_ms=10.0,
        input_per_mtok=1.0, output_per_mtok=1.0,
    )  # fmt: skip
    offer.update(changes)
    return offer


def _one_offer(
    litellm: str = "x/m", extra: str = "input_per_mtok = 1.0\noutput_per_mtok = 1.0"
) -> str:
    return f"""
[models.m]
context = 100000

[[offers]]
model = "m"
chip = "cpu"
litellm = "{litellm}"
output_tps = 10
prefill_tps = 100
ttft_ms = 10
{extra}
"""


def test_a_loaded_catalog_survives_dump_and_validate():
    cat = load_catalog(FULL)
    again = Catalog.model_validate(cat.model_dump())
    assert again.offers == cat.offers and again.chips == cat.chips and again.models == cat.models
    assert again.hash == cat.hash
    assert Catalog.model_validate_json(cat.model_dump_json()).offers == cat.offers
