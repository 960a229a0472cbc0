"""Reasoning tokens: the catalog's figures, the estimates built on them, the runtime
that passes an effort and counts what the provider reports (issue 16)."""

from __future__ import annotations

import pytest

from hetflow.catalog import CatalogError, load_catalog, parse_catalog

BASE = """
[chips.c]
vendor = "v"

[models.thinker]
reasoning = 5
context = 100000

[models.thinker.thinking]
default_effort = "medium"
tokens = { low = 100, medium = 1000, high = 4000 }
per_input_ktok = { high = 50 }
source = "test figures"

[models.plain]
reasoning = 2
context = 100000

[[offers]]
model = "thinker"
chip = "c"
litellm = "openai/thinker"
output_tps = 100
prefill_tps = 1000
ttft_ms = 500
input_per_mtok = 1.0
output_per_mtok = 10.0

[[offers]]
model = "plain"
chip = "c"
litellm = "openai/plain"
output_tps = 100
prefill_tps = 1000
ttft_ms = 500
input_per_mtok = 1.0
output_per_mtok = 2.0
"""


def test_an_offer_reasons_as_its_model_unless_it_says_otherwise():
    cat = parse_catalog(BASE)
    thinker, plain = cat.offer("thinker@c"), cat.offer("plain@c")
    assert thinker.thinking is not None and thinker.thinking.hidden
    assert thinker.reasoning_tokens(None, 0) == 1000  # the default effort
    assert thinker.reasoning_tokens("low", 0) == 100
    assert thinker.reasoning_tokens("high", 2000) == 4000 + 50 * 2  # grows with the input
    assert thinker.reasoning_tokens("minimal", 0) == 100  # the nearest effort it takes
    assert plain.thinking is None and plain.reasoning_tokens("high", 5000) == 0
    own = BASE.replace(
        "output_per_mtok = 10.0\n",
        'output_per_mtok = 10.0\nthinking = { default_effort = "low", tokens = { low = 7 } }\n',
    )
    assert parse_catalog(own).offer("thinker@c").reasoning_tokens(None, 0) == 7


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('default_effort = "medium"', 'default_effort = "minimal"', "'minimal' is not one of tokens"),
        ("low = 100", "lo = 100", "unknown reasoning effort 'lo'; did you mean 'low'?"),
        ('source = "test figures"', "per_cal = 3", "per_cal"),
    ],
)
def test_a_wrong_thinking_table_is_an_error_at_its_line(old, new, message):
    with pytest.raises(CatalogError) as err:
        parse_catalog(BASE.replace(old, new, 1), label="lab.toml")
    rendered = err.value.render()
    assert message in rendered and "lab.toml:" in rendered


def test_the_default_catalog_states_how_its_reasoning_models_reason():
    cat = load_catalog(None)
    for name in ("gpt-5", "gpt-5-mini", "gpt-oss-120b", "claude-sonnet-4-5", "gemini-2.5-pro"):
        thinking = cat.models[name].thinking
        assert thinking is not None and thinking.source, name
        assert thinking.tokens["high"] >= thinking.tokens[thinking.effort("low")], name
    assert cat.models["llama-3.1-8b"].thinking is None
    # Claude thinks only when asked; GPT-5 reasons at medium unless told otherwise.
    assert cat.offer("claude-sonnet-4-5@aws-trainium2").reasoning_tokens(None, 1000) == 0
    gpt5 = cat.offer("gpt-5@nvidia-h100")
    assert gpt5.reasoning_tokens(None, 1000) == cat.models["gpt-5"].thinking.tokens["medium"]
    assert all(o.thinking is not None for o in cat.offers if o.model == "gpt-oss-120b")
