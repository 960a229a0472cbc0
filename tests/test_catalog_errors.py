"""A bad catalog file: every problem reported at its line, with the file's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from hetflow.catalog import CatalogError, load_catalog, parse_catalog
from hetflow.catalog.positions import locate
from hetflow.errors import DiagnosticError, HetError

FIXTURES = Path(__file__).parent / "fixtures" / "catalogs"

# fixture file -> (line, column, words the message must contain)
BAD_FILES = {
    "bad_syntax.toml": (5, 10, "TOML syntax: Invalid value"),
    "bad_type.toml": (
        11,
        1,
        "offers[0] (m@groq-lpu).output_tps: takes a number of tokens per second",
    ),
    "bad_skill.toml": (2, 1, "models.m.reasoning: takes a whole number from 0 to 5 (got 7)"),
    "negative_price.toml": (11, 1, "input_per_mtok: takes dollars per million tokens, 0 or more"),
    "unknown_model.toml": (8, 1, "unknown model 'gpt-oss-12b'; did you mean 'gpt-oss-120b'?"),
    "unknown_chip.toml": (9, 1, "unknown chip 'grok-lpu'; did you mean 'groq-lpu'?"),
    "duplicate_offer.toml": (15, 1, "offer 'gpt-oss-120b@groq-lpu' is listed twice"),
    "no_price.toml": (7, 1, "has no price: litellm's cost table has no 'nowhere/unpriced-model'"),
    "missing_key.toml": (4, 1, "offers[0] (m@cpu): missing required key 'litellm'"),
    "dotted_name.toml": (1, 1, 'a name with a dot must be quoted: [models."llama-3.1-8b"]'),
    "pasted_secret.toml": (13, 1, "api_key_env: must name an environment variable"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_reported_at_its_line(name):
    line, column, words = BAD_FILES[name]
    path = FIXTURES / name
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    err = caught.value
    assert isinstance(err, HetError) and isinstance(err, DiagnosticError)
    assert str(err).startswith(f"{path}:{line}:{column}: ")  # names the file and the spot
    assert words in str(err)
    first = err.diagnostics[0]
    assert (first.pos.file, first.pos.line, first.pos.column) == (str(path), line, column)
    rendered = err.render()
    quoted = path.read_text().splitlines()[line - 1].strip()
    if name == "pasted_secret.toml":  # the line is quoted without the pasted key
        assert "DO-NOT-SHOW" not in rendered
        quoted = 'api_key_env = "***"'
    assert rendered.splitlines()[1].strip() == quoted
    assert "^" in rendered


def test_a_pasted_secret_is_never_echoed():
    path = FIXTURES / "pasted_secret.toml"
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    messages = [str(caught.value), *(d.message for d in caught.value.diagnostics)]
    assert not any("DO-NOT-SHOW" in m for m in messages)


def test_duplicate_offer_notes_where_it_was_first_listed():
    with pytest.raises(CatalogError) as caught:
        load_catalog(FIXTURES / "duplicate_offer.toml")
    assert caught.value.diagnostics[0].notes == (
        f"first listed at {FIXTURES / 'duplicate_offer.toml'}:7",
    )


def test_all_errors_of_a_file_are_reported_together():
    text = """
[models.a]
reasoning = 9
context = 10

[models.b]
coding = -1
context = 10

[[offers]]
model = "a"
chip = "cpu"
litellm = "x/a"
output_tps = 0
prefill_tps = 1
ttft_ms = 1
"""
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, label="three.toml")
    lines = sorted(d.pos.line for d in caught.value.diagnostics)
    assert lines == [3, 7, 14]
    assert "(and 2 more errors)" in str(caught.value)


def test_reference_errors_are_all_reported():
    text = """
[[offers]]
model = "a"
chip = "b"
litellm = "x/a"
output_tps = 1
prefill_tps = 1
ttft_ms = 1
input_per_mtok = 1.0
output_per_mtok = 1.0
"""
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text)
    assert [d.pos.line for d in caught.value.diagnostics] == [3, 4]


def test_a_typo_in_a_key_is_a_warning_not_an_error():
    cat = load_catalog(FIXTURES / "typo_key.toml")
    (warning,) = cat.warnings
    assert warning.severity == "warning" and warning.pos.line == 13
    assert "did you mean 'concurrency'?" in warning.message
    assert cat.offers[0].concurrency == 1  # the default, since the key was misspelt


def test_missing_file_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(CatalogError, match=f"catalog file '{missing}' not found") as caught:
        load_catalog(missing)
    assert caught.value.render() == str(caught.value)


def test_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CatalogError, match="not a UTF-8 text file"):
        load_catalog(path)


def test_tables_of_the_wrong_shape():
    with pytest.raises(CatalogError, match=r"'offers' must be written as \[\[offers\]\] tables"):
        parse_catalog('offers = "none"\n')
    with pytest.raises(CatalogError, match=r"'chips' must be written as \[chips.NAME\] tables"):
        parse_catalog("chips = 3\n")


def test_strings_are_not_numbers_but_a_context_may_be_a_size():
    """A skill "5" is refused (a typo hidden by a conversion); a context "128k" reads as
    the .het language reads sizes (issue 14, item 6)."""
    with pytest.raises(CatalogError, match=r"models.m.context: takes a number of tokens, like"):
        parse_catalog('[models.m]\ncontext = "lots"\n')
    with pytest.raises(
        CatalogError, match=r'reasoning: takes a whole number from 0 to 5 \(got "5"\)'
    ):
        parse_catalog('[models.m]\nreasoning = "5"\ncontext = 1000\n')
    catalog = parse_catalog('[models.m]\ncontext = "128k"\n[models.n]\ncontext = "2M"\n')
    assert (catalog.models["m"].context, catalog.models["n"].context) == (128_000, 2_000_000)


def test_locate_finds_tables_keys_and_numbered_offers():
    text = (
        '[catalog]\nname = "x"\n\n[chips."odd.name"]\nvendor = "v"\n'
        'note = """\n[not] = a table\n"""\n[[offers]]\nmodel = "a"\n[[offers]]\n  chip = "b"\n'
    )
    spots = locate(text)
    assert spots[("catalog", "name")][0] == 2
    assert spots[("chips", "odd.name", "vendor")][0] == 5
    assert ("not",) not in spots  # inside a multi-line string
    assert spots[("offers", 0, "model")][0] == 10
    assert spots[("offers", 1, "chip")] == (12, 3, 7)


def test_any_corrupted_value_is_a_catalog_error_never_a_traceback():
    """Seeded fuzz: replace one value of the default catalog with a wrong one, many times."""
    import random
    import re

    text = (Path(__file__).parents[1] / "hetflow" / "catalog" / "default.toml").read_text()
    lines = text.splitlines()
    values = [i for i, line in enumerate(lines) if re.match(r"^[a-z_]+ = ", line)]
    bad = ['"x"', "-3", "0", "9", "1.5", "true", "[1, 2]", "{ a = 1 }", '""', "nan", "1e400"]
    rng = random.Random(1234)
    for _ in range(150):
        mutated = list(lines)
        index = rng.choice(values)
        key = mutated[index].split(" = ", 1)[0]
        mutated[index] = f"{key} = {rng.choice(bad)}"
        try:
            parse_catalog("\n".join(mutated), label="fuzz.toml")
        except CatalogError as err:
            for d in err.diagnostics:
                assert 1 <= d.pos.line <= len(mutated), (mutated[index], d)
            assert any(d.pos.line == index + 1 for d in err.diagnostics if d.is_error), (
                mutated[index],
                [d.render() for d in err.diagnostics],
            )
