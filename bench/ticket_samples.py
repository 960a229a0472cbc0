"""The labelled task of docs/quality.md: short support tickets and their category,
generated from templates (so licence-free and reproducible).

    python bench/ticket_samples.py > examples/data/ticket_samples.jsonl
"""

from __future__ import annotations

import json
import random

TEMPLATES = {
    "billing": [
        "I was charged twice for my {plan} plan this month.",
        "My invoice shows the wrong amount, please refund the difference.",
        "Why did my card get billed after I cancelled the {plan} plan?",
        "Can I get a receipt for last month's payment?",
    ],
    "bug": [
        "The export button crashes the app when I click it.",
        "Since the update the {feature} page shows an error 500.",
        "The {feature} screen freezes and never loads.",
        "Uploading a file fails with a blank error message.",
    ],
    "account": [
        "I forgot my password and the reset email never arrives.",
        "How do I change the email address on my account?",
        "Please delete my account and all my data.",
        "I cannot log in, it says my account is locked.",
    ],
    "other": [
        "Do you have an office in {city}?",
        "What are your opening hours during the holidays?",
        "I love the product, keep up the good work!",
        "Are you hiring engineers in {city}?",
    ],
}
FILL = {
    "plan": ["Pro", "Team", "Basic"],
    "feature": ["reports", "settings", "dashboard"],
    "city": ["Lisbon", "Osaka", "Denver"],
}


def samples(n: int = 24, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out = []
    cats = list(TEMPLATES)
    for i in range(n):
        cat = cats[i % len(cats)]
        text = rng.choice(TEMPLATES[cat]).format(**{k: rng.choice(v) for k, v in FILL.items()})
        out.append({"inputs": {"ticket": text}, "expect": {"label": {"category": cat}}})
    return out


if __name__ == "__main__":
    for s in samples():
        print(json.dumps(s))
