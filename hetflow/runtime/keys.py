"""API keys: checked before the first call, and never written anywhere.

:func:`check_keys` looks at every offer a plan may use — each model node's assignment
and its alternatives — before any money is spent: an offer is usable if its
``api_key_env`` variable is set, or it names no variable and has an ``api_base`` (a
local server that needs no key).  Unusable offers are dropped from a node's fallbacks; a node left with none is a
one-line error naming the variables to set.

:func:`redact` replaces every key value the process holds with ``***`` in a text, so
that an exception from a provider that echoes the key never reaches a log, trace,
journal or message.
"""

from __future__ import annotations

import os
import re

from hetflow.errors import HetError
from hetflow.plan.model import Assignment, Plan
from hetflow.runtime.llm import litellm
from hetflow.runtime.openai_path import has_key, key_variables, uses_openai

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)S?$|_KEY_", re.IGNORECASE)


def usable(offer: Assignment, env=os.environ) -> bool:
    """An offer that names a key variable needs it set (even on its own ``api_base``)."""
    if offer.api_key_env:
        return bool(env.get(offer.api_key_env))
    if offer.api_base or offer.serve == "local":  # a server that needs no key
        return True
    if uses_openai(offer):  # its provider's usual variable, without importing litellm
        return has_key(offer, env)
    return _litellm_has_key(offer.litellm, env)


def _litellm_has_key(model: str, env) -> bool:
    """An offer naming no variable relies on the provider's own (e.g. OPENAI_API_KEY)."""
    try:
        found = litellm().validate_environment(model=model)
    except Exception:
        return True  # litellm cannot tell: let the call itself say what is missing
    return bool(found.get("keys_in_environment", True))


def _wanted(offer: Assignment) -> str:
    if offer.api_key_env:
        return offer.api_key_env
    if uses_openai(offer) and key_variables(offer):
        return " or ".join(key_variables(offer))
    try:
        missing = litellm().validate_environment(model=offer.litellm).get("missing_keys") or []
    except Exception:
        missing = []
    return " or ".join(missing) or f"the key for {offer.litellm}"


def check_keys(plan: Plan, env=os.environ) -> dict[str, list[Assignment]]:
    """Each model node's usable offers, in order; raises if a node has none."""
    offers: dict[str, list[Assignment]] = {}
    missing: dict[str, list[str]] = {}  # variable -> nodes that need it
    unusable: dict[str, list[Assignment]] = {}  # node -> its offers, none usable
    known: dict[str, bool] = {}
    for node in plan.nodes:
        if node.assignment is None:
            continue
        chain = [node.assignment, *node.alternatives]
        ok = []
        for offer in chain:
            k = f"{offer.litellm}|{offer.api_base}|{offer.api_key_env}"
            if k not in known:
                known[k] = usable(offer, env)
            if known[k]:
                ok.append(offer)
        if not ok:
            unusable[node.id] = chain
        offers[node.id] = ok
    if unusable:
        missing = _fewest_keys(unusable)

        def some(nodes: list[str]) -> str:
            more = f" and {len(nodes) - 5} more" if len(nodes) > 5 else ""
            return ", ".join(nodes[:5]) + more

        parts = [f"{var} (for {some(nodes)})" for var, nodes in missing.items()]
        raise HetError(
            "missing API key"
            + ("s" if len(parts) > 1 else "")
            + ": set "
            + "; ".join(parts)
            + " — no call was made (without keys, the local catalog runs on this machine:"
            + ' --catalog local, or catalog="local")'
        )
    return offers


def _fewest_keys(unusable: dict[str, list[Assignment]]) -> dict[str, list[str]]:
    """The fewest variables that make every node runnable: a node runs on any offer of
    its chain, so a key another node needs anyway also serves a node whose first choice
    wants another (the message does not ask for a key the plan can run without)."""
    wanted: dict[str, list[str]] = {}  # node -> the variables of its chain, in order
    names: dict[int, str] = {}
    for node, chain in unusable.items():
        found: list[str] = []
        for offer in chain:
            if id(offer) not in names:
                names[id(offer)] = _wanted(offer)
            if names[id(offer)] not in found:
                found.append(names[id(offer)])
        wanted[node] = found
    missing: dict[str, list[str]] = {}
    left = list(unusable)
    while left:
        candidates = {v for n in left for v in wanted[n]}
        # the variable serving the most nodes; then the one most nodes chose first
        var = max(
            sorted(candidates),
            key=lambda v: (
                sum(v in wanted[n] for n in left),
                sum(wanted[n][0] == v for n in left),
            ),
        )
        missing[var] = [n for n in left if var in wanted[n]]
        left = [n for n in left if var not in wanted[n]]
    return missing


def secret_values(plan: Plan | None = None, env=os.environ) -> list[str]:
    """Every value that must never be written: the plan's key variables and any *_KEY."""
    names = {n for n in env if _SECRET_NAME.search(n)}
    if plan is not None:
        for node in plan.nodes:
            for offer in [node.assignment, *node.alternatives]:
                if offer is not None and offer.api_key_env:
                    names.add(offer.api_key_env)
    values = {env[n] for n in names if env.get(n) and len(env[n]) >= 6}
    return sorted(values, key=len, reverse=True)


PREFIX_CHARS = 8  # a key's first characters that, shown with more of it, are hidden


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every key value in ``secrets`` replaced by ``***`` — and any part of
    a key cut off by a message's truncation (its first 8 characters or more, as far as
    they match): a provider's error may quote the key and be shortened before this
    sees it.

    >>> redact("bad key sk-secret-123BIGKEYxy...", ["sk-secret-123BIGKEYxyz"])
    'bad key ***...'
    """
    for value in secrets:
        if value in text:
            text = text.replace(value, "***")
        head = value[: min(PREFIX_CHARS, len(value))]
        start = text.find(head)
        while start >= 0:
            end = start + len(head)
            while end < len(text) and end - start < len(value) and text[end] == value[end - start]:
                end += 1
            text = text[:start] + "***" + text[end:]
            start = text.find(head, start + 3)
    return text
