"""Reply scripts for the local server: what a model 'answers', computed from the request."""

from __future__ import annotations

import json
import re


def last_user(body: dict) -> str:
    for m in reversed(body.get("messages", [])):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, list):
                return "\n".join(p.get("text", "") for p in c if isinstance(p, dict))
            return c or ""
    return ""


RISKY = re.compile(r"(?i)indemnif|liabilit|terminat")


def contract_model(body: dict) -> str:
    """Verdicts for clauses (risky when a keyword hits), a summary otherwise."""
    text = last_user(body)
    if text.startswith("Clause:"):
        clause = text.split("\n", 1)[0]
        return json.dumps({"risky": bool(RISKY.search(clause)), "why": clause[:40]})
    return "SUMMARY: " + str(text.count('"risky": true')) + " risky clauses"


def contract(n: int = 12) -> str:
    """A contract of n clauses; every third one mentions indemnification."""
    clauses = []
    for i in range(n):
        risky = " The buyer shall indemnify the seller." if i % 3 == 0 else ""
        clauses.append(f"Clause {i}: the parties agree on item {i}.{risky}")
    return "\n\n".join(clauses)
