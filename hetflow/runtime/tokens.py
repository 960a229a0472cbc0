"""A request's input tokens on an offer, for the budget's reservation before the call.

Where the offer's tokenizer is known — OpenAI's models, and gpt-oss wherever it is
served — the request is counted exactly with tiktoken, plus OpenAI's documented
framing (3 tokens a message, 1 for a ``name``, 3 priming the reply), the JSON of a
``response_format`` schema (billed as input) and :data:`IMAGE_TOKENS` an image, then a
margin (:data:`MARGIN_RATIO`, :data:`MARGIN_TOKENS`) for the few tokens a provider's
chat template may add.  Everywhere else the count is a bound that holds for any
tokenizer: one token a byte (:func:`byte_bound`) — or, when the user accepts the risk
(``--input-bound typical``), a typical figure (:data:`TYPICAL_BYTES_PER_TOKEN` bytes a
token, times :data:`TYPICAL_FACTOR`) that a provider may exceed; the budget then states
the overrun and stops the run.

The encodings load from the files litellm ships (``litellm_core_utils/tokenizers/``,
named as tiktoken's cache names them: the sha1 of the file's URL), checked against
tiktoken's published sha256, and never from the network: when they cannot be loaded
the count falls back to the byte bound.  tiktoken is imported on the first exact count
(it is not needed by ``hetflow compile`` or ``--help``).

>>> byte_bound([{"role": "user", "content": "héllo"}], None)
30
>>> count("openrouter/meta-llama/llama-3-70b", [{"role": "user", "content": "hi"}], None)
Count(tokens=26, exact=False, why='one token a byte: the tokenizer of openrouter/meta-llama/llama-3-70b is not known')
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import math
import threading
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE_TOKENS = 3000  # an image's worst case in input tokens (providers bill ~85-1,600)
MESSAGE_OVERHEAD = 8  # bound: tokens a provider adds around each message, any template
REQUEST_OVERHEAD = 16  # bound: tokens a provider adds around the whole request

# OpenAI's documented framing of a chat request (the "counting tokens" cookbook).
OPENAI_PER_MESSAGE = 3
OPENAI_PER_NAME = 1
OPENAI_REPLY_PRIMING = 3
SCHEMA_OVERHEAD = 16  # a response_format's wrapping around its schema's JSON text
# gpt-oss servers render the harmony format, which puts a default system message first
# ("You are ChatGPT ... Reasoning: medium # Valid channels ...": 72 tokens in o200k).
HARMONY_SYSTEM = 96
# An exact count's margin: a provider's template may add a few tokens OpenAI's does not.
MARGIN_RATIO = 0.01
MARGIN_TOKENS = 8

# --input-bound typical: an unknown tokenizer's input reserved at a typical 4 bytes a
# token, times 1.5; a provider may bill more than that (the budget says so, and stops).
TYPICAL_BYTES_PER_TOKEN = 4
TYPICAL_FACTOR = 1.5
MODES = ("strict", "typical")

# Encodings: tiktoken's URL (whose sha1 names litellm's bundled copy) and the sha256 of
# the file (tiktoken's own expected_hash, in tiktoken_ext/openai_public.py).
_BASE = "https://openaipublic.blob.core.windows.net/encodings/"
_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
# Model names (after any provider prefix) and their encodings: first match wins.
_FAMILIES = (
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-oss", "o200k_base"),  # harmony = o200k_base + special tokens
    ("chatgpt-4o", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
)


@dataclass(frozen=True)
class Count:
    """A request's input tokens: ``exact`` when counted with the offer's tokenizer (a
    small margin included), else a bound (or, in typical mode, an estimate); ``why``
    says which, in words for a message."""

    tokens: int
    exact: bool
    why: str


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _parts(messages: list[dict]) -> tuple[list[str], int]:
    """The messages' texts and their images."""
    texts: list[str] = []
    images = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "image_url":
                    images += 1
                else:
                    texts.append(str(part.get("text", "")))
    return texts, images


def _schema_text(response_format: dict | None) -> str:
    return json.dumps(response_format, separators=(",", ":")) if response_format else ""


def byte_bound(messages: list[dict], response_format: dict | None = None) -> int:
    """An upper bound on a request's input tokens for any tokenizer: a token is at least
    one byte (a ``response_format`` schema counts as its JSON text)."""
    texts, images = _parts(messages)
    total = REQUEST_OVERHEAD + MESSAGE_OVERHEAD * len(messages) + IMAGE_TOKENS * images
    total += sum(_bytes(t) for t in texts)
    if response_format:
        total += _bytes(_schema_text(response_format))
    return total


def typical(messages: list[dict], response_format: dict | None = None) -> int:
    """``--input-bound typical``: four bytes a token times 1.5, the framing kept."""
    texts, images = _parts(messages)
    total = REQUEST_OVERHEAD + MESSAGE_OVERHEAD * len(messages) + IMAGE_TOKENS * images
    size = sum(_bytes(t) for t in texts) + _bytes(_schema_text(response_format))
    return total + math.ceil(size / TYPICAL_BYTES_PER_TOKEN * TYPICAL_FACTOR)


def model_name(litellm_model: str) -> str:
    """The model's own name: the litellm string after its provider prefixes
    (``groq/openai/gpt-oss-120b`` → ``gpt-oss-120b``).

    >>> model_name("fireworks_ai/accounts/fireworks/models/gpt-oss-20b")
    'gpt-oss-20b'
    """
    return litellm_model.rsplit("/", 1)[-1].strip().lower()


def encoding_for(litellm_model: str) -> str | None:
    """The tiktoken encoding of a model string's tokenizer, or None when not known.

    >>> encoding_for("openai/gpt-5-mini"), encoding_for("cerebras/gpt-oss-120b")
    ('o200k_base', 'o200k_base')
    >>> encoding_for("gpt-4-turbo"), encoding_for("anthropic/claude-sonnet-4"), encoding_for("openai/small")
    ('cl100k_base', None, None)
    """
    name = model_name(litellm_model)
    for prefix, encoding in _FAMILIES:
        if name == prefix or name.startswith((prefix + "-", prefix + ".", prefix + ":")):
            return encoding
    return None


def count(
    litellm_model: str,
    messages: list[dict],
    response_format: dict | None = None,
    *,
    mode: str = "strict",
    bound: int | None = None,
) -> Count:
    """A request's input tokens on the offer whose litellm model string is given: exact
    where its tokenizer is known and loads offline, else the byte bound (``strict``;
    ``bound`` if the caller has it already) or the typical figure (``typical``)."""
    encoding = encoding_for(litellm_model)
    enc = _encoding(encoding) if encoding else None
    if enc is not None:
        texts, images = _parts(messages)
        n = OPENAI_REPLY_PRIMING + OPENAI_PER_MESSAGE * len(messages)
        n += sum(OPENAI_PER_NAME for m in messages if m.get("name"))
        n += sum(len(enc.encode_ordinary(str(m.get("role") or ""))) for m in messages)
        n += sum(len(enc.encode_ordinary(str(m["name"]))) for m in messages if m.get("name"))
        n += sum(len(enc.encode_ordinary(t)) for t in texts)
        n += IMAGE_TOKENS * images
        if response_format:
            n += len(enc.encode_ordinary(_schema_text(response_format))) + SCHEMA_OVERHEAD
        if model_name(litellm_model).startswith("gpt-oss"):
            n += HARMONY_SYSTEM
        n += math.ceil(n * MARGIN_RATIO) + MARGIN_TOKENS
        return Count(n, True, f"counted exactly ({encoding}, +1% and {MARGIN_TOKENS} tokens)")
    unknown = (
        f"the tokenizer of {litellm_model} is not known"
        if encoding is None
        else f"the {encoding} tokenizer did not load offline"
    )
    if mode == "typical":
        return Count(
            typical(messages, response_format),
            False,
            f"{TYPICAL_BYTES_PER_TOKEN} bytes a token x{TYPICAL_FACTOR:g} under "
            f"--input-bound typical, as {unknown}",
        )
    if bound is None:
        bound = byte_bound(messages, response_format)
    return Count(bound, False, f"one token a byte: {unknown}")


# ---------------------------------------------------------------- loading offline

_loaded: dict[str, Any] = {}
_lock = threading.Lock()


def bundled_dir() -> Path | None:
    """litellm's bundled tiktoken files, found without importing litellm."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "litellm_core_utils" / "tokenizers"
        if path.is_dir():
            return path
    return None


def _ranks(name: str) -> dict[bytes, int]:
    """An encoding's BPE ranks from litellm's bundled copy, its sha256 checked."""
    folder = bundled_dir()
    if folder is None:
        raise FileNotFoundError("litellm's tokenizers are not installed")
    url = f"{_BASE}{name}.tiktoken"
    data = (folder / hashlib.sha1(url.encode()).hexdigest()).read_bytes()
    if hashlib.sha256(data).hexdigest() != _SHA256[name]:
        raise ValueError(f"{name}: the bundled file is not tiktoken's")
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _encoding(name: str) -> Any:
    """A tiktoken Encoding built from the bundled file (None if it cannot be): tiktoken's
    own constructor (for the split pattern and special tokens) run with a loader that
    reads the bundled file instead of the URL — nothing here can reach the network."""
    with _lock:
        if name in _loaded:
            return _loaded[name]
        enc = None
        try:
            import tiktoken
            from tiktoken_ext import openai_public

            def local(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
                if url != f"{_BASE}{name}.tiktoken":
                    raise ValueError(f"unexpected tiktoken file {url}")
                return _ranks(name)

            made = getattr(openai_public, name)
            offline = types.FunctionType(
                made.__code__,
                {**vars(openai_public), "load_tiktoken_bpe": local},
                made.__name__,
                made.__defaults__,
                made.__closure__,
            )
            enc = tiktoken.Encoding(**offline())
        except Exception:  # not installed, not bundled, altered: the bound is used instead
            enc = None
        _loaded[name] = enc
        return enc


def preload(litellm_models: list[str]) -> None:
    """Load the encodings these offers need now (a quarter second each), not mid-run."""
    for m in litellm_models:
        encoding = encoding_for(m)
        if encoding:
            _encoding(encoding)
