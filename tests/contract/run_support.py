"""What the run contract tests share: a catalog on the local server, a contract to
review, and a scripted model that computes its answers from what it is asked.
"""

from __future__ import annotations

import re
from pathlib import Path

from contract_support import FIXTURES

import hetflow

KEY_ENV = "CONTRACT_RUN_KEY"
SECRET = "sk-contract-run-0123456789-DO-NOT-LEAK"

RUN_CATALOG = """
[catalog]
name = "contract-run"

[chips.local]
vendor = "Local"
handoff_ms = 1

[models.worker]
reasoning = 4
coding = 1
extraction = 4
vision = 0
context = 200000

[models.coder]
reasoning = 5
coding = 5
extraction = 5
vision = 0
context = 200000

[[offers]]
model = "worker"
chip = "local"
litellm = "openai/worker"
output_tps = 1000
prefill_tps = 100000
ttft_ms = 10
concurrency = 8
input_per_mtok = 1.0
output_per_mtok = 2.0
api_base = "{url}"
api_key_env = "{key_env}"

[[offers]]
model = "coder"
chip = "local"
litellm = "openai/coder"
output_tps = 1000
prefill_tps = 100000
ttft_ms = 10
concurrency = 8
input_per_mtok = 30.0
output_per_mtok = 60.0
api_base = "{url}"
api_key_env = "{key_env}"
"""

CONTRACT_TEXT = (
    "1. The seller shall indemnify the buyer against all claims.\n\n"
    "2. Payment is due in thirty days.\n\n"
    "3. Either party may terminate this agreement with notice.\n\n"
    "4. This clause mentions {{ contract }} and {% raw %} literally."
)
RISKY = {1, 3}


def _text(body: dict) -> str:
    return "\n".join(str(m.get("content")) for m in body.get("messages", []))


def _worker(body: dict):
    text = _text(body)
    if "Clause:" in text:
        clause = re.search(r"Clause: (\d)\.", text)
        number = int(clause.group(1)) if clause else 0
        return {"risky": number in RISKY, "why": f"clause {number}"}
    if text.startswith("Label: ") or "Label: " in text:
        return "L:" + text.split("Label: ", 1)[1].strip()[:1]
    if "Say one" in text:
        return "one-answer"
    if "Summarize the risky clauses" in text:
        return "SUMMARY-OK"
    return "worker-default"


def _review_plan(catalog: Path):
    return hetflow.compile(
        FIXTURES / "example_contract_review.het", catalog=catalog, objective="cost"
    )


# ---------------------------------------------------------------- the REPL surface

RECURSE = """
workflow repl_surface {
  input doc: text
  objective cost

  recurse r over doc depth 2 {
    task "Label every line, then report."
    root needs coding >= 5
    sub needs reasoning >= 2
  }
  output r
}
"""
