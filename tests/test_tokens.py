"""A request's input tokens for the budget (issue 14, item 9): exact where the tokenizer
is known and loads offline, a bound (or the user's typical figure) everywhere else."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hetflow.runtime import tokens


@pytest.fixture
def cold(monkeypatch, tmp_path):
    """No encoding loaded yet, tiktoken's own cache empty, and no socket may connect."""
    monkeypatch.setattr(tokens, "_loaded", {})
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty"))

    def refuse(self, address):
        raise AssertionError(f"counting tokens tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def o200k(text: str) -> int:
    enc = tokens._encoding("o200k_base")
    assert enc is not None
    return len(enc.encode_ordinary(text))


def test_hand_known_counts_offline(cold):
    enc = tokens._encoding("o200k_base")
    assert enc is not None and enc.name == "o200k_base"
    assert enc.encode_ordinary("hello world") == [24912, 2375]  # 2 tokens
    cl = tokens._encoding("cl100k_base")
    assert cl is not None and cl.encode_ordinary("hello world") == [15339, 1917]
    assert len(cl.encode_ordinary("tiktoken is great!")) == 6  # OpenAI's cookbook
    # 3 priming the reply + 3 for the message + "user" (1) + "hello world" (2) = 9,
    # then the margin: +1% (rounded up: 1) + 8.
    got = tokens.count("openai/gpt-5-mini", user("hello world"), None)
    assert got == tokens.Count(18, True, got.why) and "o200k_base" in got.why
    named = [{"role": "user", "name": "bob", "content": "hello world"}]
    assert tokens.count("gpt-4o", named, None).tokens == 18 + 2  # +1 for a name, "bob"


def test_the_bundled_files_are_tiktokens_own_encodings(monkeypatch):
    """Cross-check against tiktoken loading the same files by itself (its cache dir
    pointed at litellm's copy, as litellm does)."""
    import tiktoken

    folder = tokens.bundled_dir()
    assert folder is not None
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(folder))
    for name in ("o200k_base", "cl100k_base"):
        theirs = tiktoken.get_encoding(name)
        ours = tokens._encoding(name)
        text = "Clause 7: Liability — the buyer indemnifies 🙂 the seller, ünless…\n\n  x=1"
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)
        assert ours.n_vocab == theirs.n_vocab


@pytest.mark.parametrize(
    "model, encoding",
    [
        ("openai/gpt-5-mini", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("azure/gpt-4.1-nano", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("openai/o4-mini", "o200k_base"),
        ("groq/openai/gpt-oss-120b", "o200k_base"),
        ("together_ai/openai/gpt-oss-20b", "o200k_base"),
        ("cerebras/gpt-oss-120b", "o200k_base"),
        ("sambanova/gpt-oss-120b", "o200k_base"),
        ("fireworks_ai/accounts/fireworks/models/gpt-oss-120b", "o200k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("openai/gpt-3.5-turbo", "cl100k_base"),
        ("anthropic/claude-sonnet-4-5", None),
        ("groq/llama-3.3-70b-versatile", None),
        ("openai/small", None),
        ("hosted_vllm/Qwen/Qwen3-8B", None),
        ("openai/o1x", None),
    ],
)
def test_which_models_are_counted_exactly(model, encoding):
    assert tokens.encoding_for(model) == encoding


def test_the_rest_of_a_request_is_counted(cold):
    text = "Summarize the risky clauses of this contract, please."
    base = tokens.count("openai/gpt-4o", user(text), None).tokens
    schema = {"type": "json_schema", "json_schema": {"name": "V", "schema": {"type": "object"}}}
    with_schema = tokens.count("openai/gpt-4o", user(text), schema).tokens
    assert with_schema - base >= o200k(tokens._schema_text(schema)) + tokens.SCHEMA_OVERHEAD
    image = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        }
    ]
    assert tokens.count("openai/gpt-4o", image, None).tokens >= base + tokens.IMAGE_TOKENS
    oss = tokens.count("cerebras/gpt-oss-120b", user(text), None).tokens
    assert oss >= base + tokens.HARMONY_SYSTEM  # harmony's default system message


def test_an_unknown_tokenizer_is_bounded_or_typical():
    text = "x" * 4000
    strict = tokens.count("anthropic/claude-sonnet-4-5", user(text), None)
    assert not strict.exact and strict.tokens == tokens.byte_bound(user(text)) >= 4000
    assert (
        strict.why == "one token a byte: the tokenizer of anthropic/claude-sonnet-4-5 is not known"
    )
    typical = tokens.count("anthropic/claude-sonnet-4-5", user(text), None, mode="typical")
    assert not typical.exact and 1500 <= typical.tokens < 1600  # 4000 / 4 x 1.5, + framing
    assert "--input-bound typical" in typical.why
    exact = tokens.count("openai/gpt-4o", user(text), None, mode="typical")
    assert exact.exact  # an exact count is used in both modes


def test_a_tokenizer_that_cannot_load_offline_falls_back_to_the_bound(cold, monkeypatch):
    monkeypatch.setattr(tokens, "bundled_dir", lambda: None)
    got = tokens.count("openai/gpt-5-mini", user("hello world"), None)
    assert not got.exact and got.tokens == tokens.byte_bound(user("hello world"))
    assert "did not load offline" in got.why


def test_an_altered_bundled_file_is_not_used(cold, monkeypatch, tmp_path):
    url = tokens._BASE + "o200k_base.tiktoken"
    import hashlib

    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"aGk= 0\n")
    monkeypatch.setattr(tokens, "bundled_dir", lambda: tmp_path)
    assert not tokens.count("gpt-4o", user("hi"), None).exact


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.text(max_size=60))
def test_the_byte_bound_bounds_the_real_count(text, system):
    """Strict mode's reservation for an unknown tokenizer holds whatever the text: at
    least the o200k count with OpenAI's framing (a token is at least one byte)."""
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": text}]
    reserved = tokens.count("some-provider/unknown-model", msgs, None).tokens
    real = 3 + 2 * 3 + o200k("system") + o200k("user") + o200k(system) + o200k(text)
    assert reserved >= real
    assert tokens.count("openai/gpt-4o", msgs, None).tokens >= real
