"""Default prices from litellm's own cost table, read without importing litellm.

``hetflow compile`` must not import litellm (it is slow to import and reaches
for the network), yet an offer that names no price should cost what litellm
says it costs.  litellm ships its table as a JSON file inside the package
(``model_prices_and_context_window_backup.json``); we locate the package with
``importlib.util.find_spec`` and read that file once.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import NamedTuple

TABLE_FILE = "model_prices_and_context_window_backup.json"


class TablePrice(NamedTuple):
    """Dollars per million tokens, and the table key they were found under."""

    key: str
    input_per_mtok: float
    output_per_mtok: float


def table_path() -> Path | None:
    """Where litellm's bundled cost table is, or None if litellm is not installed."""
    spec = importlib.util.find_spec("litellm")
    if spec is None:
        return None
    for folder in spec.submodule_search_locations or ():
        candidate = Path(folder) / TABLE_FILE
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def cost_table() -> dict[str, dict]:
    """litellm's cost table (model string -> entry); empty if it cannot be read."""
    path = table_path()
    if path is None:
        return {}
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in table.items() if isinstance(v, dict) and k != "sample_spec"}


def _variants(litellm: str, table: dict[str, dict]):
    """Keys to try for a litellm string, most specific first.

    ``anthropic/claude-sonnet-4-5`` is listed under ``claude-sonnet-4-5`` with
    ``litellm_provider = "anthropic"``: a provider prefix is dropped only when
    the entry found belongs to that same provider, so ``together_ai/gpt-5``
    never borrows OpenAI's price.
    """
    yield litellm
    yield litellm.lower()
    if "/" in litellm:
        prefix, rest = litellm.split("/", 1)
        for key in (rest, rest.lower()):
            provider = str(table.get(key, {}).get("litellm_provider", ""))
            if provider.startswith(prefix):  # "vertex_ai-language-models", "bedrock_converse"
                yield key


def lookup(litellm: str) -> TablePrice | None:
    """The price litellm's table gives a model string, or None.

    >>> lookup("no-such-provider/no-such-model") is None
    True
    """
    table = cost_table()
    for key in _variants(litellm, table):
        entry = table.get(key)
        if not entry:
            continue
        cost_in = entry.get("input_cost_per_token")
        cost_out = entry.get("output_cost_per_token")
        if isinstance(cost_in, int | float) and isinstance(cost_out, int | float):
            return TablePrice(key, per_mtok(cost_in), per_mtok(cost_out))
    return None


def per_mtok(per_token: float) -> float:
    """Dollars per token -> dollars per million tokens, without float noise."""
    return round(per_token * 1e6, 9)
