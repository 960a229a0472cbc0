"""What a run does when things go wrong or get big (DESIGN.md "The runtime"): invalid typed
output retried, fallbacks, resume, the cache, the budget, concurrency; and zoom's crop.
"""

from __future__ import annotations

import json
import re

from contract_support import FIXTURES, cli, write
from run_support import (
    CONTRACT_TEXT,
    KEY_ENV,
    RISKY,
    _review_plan,
    _text,
    _worker,
)

import hetflow

# ---------------------------------------------------------------- typed output, trace, resume


def test_invalid_typed_output_is_retried_until_valid(catalog, server, tmp_path):
    answers = iter(["this is not JSON", '{"risky": "very", "why": 3}'])

    def flaky(body: dict):
        if "Clause: 1." in _text(body):
            return next(answers, None) or {"risky": True, "why": "valid at last"}
        return _worker(body)

    server.script("worker", reply=flaky)
    result = hetflow.run_sync(
        _review_plan(catalog),
        inputs={"contract": CONTRACT_TEXT},
        journal=tmp_path / "j.sqlite",
        cache=False,
    )
    assert result.outputs["risky"] == len(RISKY), result
    clause_1 = [r for r in server.seen("worker") if "Clause: 1." in _text(r.body)]
    assert len(clause_1) == 3  # two invalid replies, then a valid one


def test_the_trace_names_each_calls_model_and_chip(catalog, server, tmp_path):
    result = hetflow.run_sync(
        _review_plan(catalog),
        inputs={"contract": CONTRACT_TEXT},
        journal=tmp_path / "j.sqlite",
        cache=False,
    )
    calls = [t for t in result.trace if "worker" in json.dumps(t, default=str)]
    assert len(calls) >= 5, result.trace  # four clauses and the summary
    for t in calls:
        flat = json.dumps(t, default=str)
        assert "local" in flat  # the chip
        assert re.search(r'"[a-z_]*(cost|usd|price)[a-z_]*": \d', flat), t
        assert re.search(r'"[a-z_]*(tokens|input|output)[a-z_]*": \d', flat), t


WRITER = """
[models.writer]
reasoning = 5
coding = 0
extraction = 3
vision = 0
context = 200000

[[offers]]
model = "writer"
chip = "local"
litellm = "openai/writer"
output_tps = 1000
prefill_tps = 100000
ttft_ms = 10
concurrency = 8
input_per_mtok = 5.0
output_per_mtok = 5.0
api_base = "{url}"
api_key_env = "{key_env}"
"""


def test_resume_pays_for_no_call_twice(catalog, server, tmp_path):
    # The summary needs reasoning >= 4: make it run on `writer` (or `coder`), and have
    # both down in the first run, so that the run fails after the clauses are paid for.
    text = catalog.read_text().replace("reasoning = 4\ncoding = 1", "reasoning = 3\ncoding = 1")
    catalog.write_text(text + WRITER.format(url=server.url, key_env=KEY_ENV))
    server.script("writer", reply="SUMMARY-OK", down=404)
    server.script("coder", reply="SUMMARY-OK", down=404)
    contract = tmp_path / "contract.txt"
    contract.write_text(CONTRACT_TEXT)
    args = [
        "run",
        FIXTURES / "example_contract_review.het",
        "--input",
        f"contract=@{contract}",
        "--catalog",
        catalog,
        "--journal",
        tmp_path / "journal.sqlite",
    ]
    first = cli(*args)
    assert first.code != 0 and "Traceback" not in first.text, first.text
    clause_calls = [r for r in server.seen("worker") if "Clause:" in _text(r.body)]
    assert len(clause_calls) == 4
    server.script("writer", reply="SUMMARY-OK")
    server.script("coder", reply="SUMMARY-OK")
    second = cli(*args, "--resume")
    assert second.code == 0, second.text
    assert json.loads(second.out) == {"summary": "SUMMARY-OK", "risky": len(RISKY)}
    clause_calls = [r for r in server.seen("worker") if "Clause:" in _text(r.body)]
    assert len(clause_calls) == 4, "a resumed run paid for a clause twice"


def test_a_run_never_spends_past_its_budget_and_says_so(catalog, server, tmp_path):
    text = catalog.read_text().replace(
        "input_per_mtok = 1.0\noutput_per_mtok = 2.0",
        "input_per_mtok = 1000.0\noutput_per_mtok = 1000.0",
    )
    catalog.write_text(text)
    server.script("worker", reply=_worker, usage=lambda body, reply: (50, 10))
    contract = tmp_path / "contract.txt"
    contract.write_text(CONTRACT_TEXT)
    # compiled without a budget (the estimate is above $0.20), run with one
    het = write(
        tmp_path,
        (FIXTURES / "example_contract_review.het").read_text().replace("  budget $0.20\n", ""),
        "review.het",
    )
    plan = tmp_path / "review.plan.json"
    assert cli("compile", het, "-o", plan, "--catalog", catalog).code == 0
    ran = cli(
        "run",
        plan,
        "--input",
        f"contract=@{contract}",
        "--journal",
        tmp_path / "j.sqlite",
        "--no-cache",
        "--budget",
        "0.20",
    )
    assert "Traceback" not in ran.text
    paid = len(server.seen("worker"))
    assert paid * (50 * 1000 + 10 * 1000) / 1e6 <= 0.20 + 1e-9, paid  # at most 3 calls
    assert paid < 5  # the whole run (4 clauses and a summary) would cost $0.30
    assert "budget" in ran.err.lower(), ran.err  # it says why it stopped
    json.loads(ran.out)  # and prints what it has


# ---------------------------------------------------------------- zoom

SEER = """
[models.eye]
reasoning = 1
coding = 0
extraction = 2
vision = 3
context = 100000

[models.seer]
reasoning = 4
coding = 0
extraction = 3
vision = 3
context = 100000

[[offers]]
model = "eye"
chip = "local"
litellm = "openai/eye"
output_tps = 1000
prefill_tps = 100000
ttft_ms = 10
concurrency = 8
input_per_mtok = 0.5
output_per_mtok = 0.5
api_base = "{url}"
api_key_env = "{key_env}"

[[offers]]
model = "seer"
chip = "local"
litellm = "openai/seer"
output_tps = 1000
prefill_tps = 100000
ttft_ms = 10
concurrency = 8
input_per_mtok = 2.0
output_per_mtok = 2.0
api_base = "{url}"
api_key_env = "{key_env}"
"""


def _images_in(body: dict):
    import base64
    import io

    from PIL import Image

    found = []
    for url in re.findall(r"data:image/[a-z]+;base64,([A-Za-z0-9+/=]+)", json.dumps(body)):
        found.append(Image.open(io.BytesIO(base64.b64decode(url))).convert("RGB"))
    return found


def test_zoom_crops_where_the_vision_model_points(catalog, server, tmp_path):
    from PIL import Image

    catalog.write_text(catalog.read_text() + SEER.format(url=server.url, key_env=KEY_ENV))
    shot = Image.new("RGB", (200, 100), (0, 0, 255))
    shot.paste((255, 0, 0), (100, 0, 200, 100))  # the right half is red
    shot_path = tmp_path / "shot.png"
    shot.save(shot_path)
    server.script("eye", reply={"x0": 0.5, "y0": 0.0, "x1": 1.0, "y1": 1.0})
    seen_by_seer = []

    def seer(body: dict):
        seen_by_seer.extend(_images_in(body))
        return {"kind": "click", "target": "the red button", "value": None}

    server.script("seer", reply=seer)
    ran = cli(
        "run",
        FIXTURES / "example_web_step.het",
        "--input",
        f"screenshot=@{shot_path}",
        "--input",
        "goal=press the red button",
        "--catalog",
        catalog,
        "--journal",
        tmp_path / "j.sqlite",
        "--no-cache",
    )
    assert ran.code == 0, ran.text
    action = json.loads(ran.out)["action"]
    assert action["kind"] == "click" and action["target"] == "the red button"
    assert len(_images_in(server.seen("eye")[0].body)) == 1  # the vision model saw the shot
    assert seen_by_seer, "the reasoner got no image"
    crop = seen_by_seer[0]
    w, h = crop.size
    # inside the crop (a margin around the box is allowed); the original's point at a
    # quarter of its width is blue, the crop's is red
    for x, y in [
        (w // 4, h // 2),
        (w // 2, h // 2),
        (3 * w // 4, h // 2),
        (w // 2, h // 4),
        (w // 2, 3 * h // 4),
    ]:
        r, g, b = crop.getpixel((x, y))
        assert r > 200 and b < 60, (crop.size, (x, y), (r, g, b))  # only the red half


def test_a_down_model_falls_back_to_the_next_alternative(catalog, server, tmp_path):
    server.script("worker", down=404)
    server.script("coder", reply=_worker)
    plan = _review_plan(catalog)
    verdict = next(n for n in plan.nodes if n.id == "verdict")
    assert verdict.assignment.model == "worker"
    assert [a.model for a in verdict.alternatives] == ["coder"]
    result = hetflow.run_sync(plan, inputs={"contract": CONTRACT_TEXT}, journal=False, cache=False)
    assert result.outputs == {"summary": "SUMMARY-OK", "risky": len(RISKY)}
    assert len([r for r in server.seen("coder") if "Clause:" in _text(r.body)]) == 4


def test_the_cache_serves_a_repeated_run(catalog, server, tmp_path):
    plan = _review_plan(catalog)
    first = hetflow.run_sync(plan, inputs={"contract": CONTRACT_TEXT}, journal=False)
    asked = len(server.requests)
    second = hetflow.run_sync(plan, inputs={"contract": CONTRACT_TEXT}, journal=False)
    assert second.outputs == first.outputs
    assert len(server.requests) == asked  # every call served from the cache


# ---------------------------------------------------------------- concurrency (ordering only)

PARALLEL = """
workflow parallel {
  input doc: text
  input docs: list[text]
  objective cost
  reason left = prompt "LEFT {{ doc }}" needs reasoning >= 2
  reason right = prompt "RIGHT {{ doc }}" needs reasoning >= 2
  reason both = prompt "BOTH {{ left }} {{ right }}" needs reasoning >= 2
  map d in docs {
    reason each = prompt "EACH {{ d }}" needs reasoning >= 2
  }
  output both, each
}
"""


def test_independent_steps_overlap_and_a_map_stays_within_concurrency(catalog, server, tmp_path):
    catalog.write_text(catalog.read_text().replace("concurrency = 8", "concurrency = 2", 1))
    server.script("worker", reply="ok", latency_s=0.3)
    plan = hetflow.compile(
        write(tmp_path, PARALLEL, "parallel.het"), catalog=catalog, objective="cost"
    )
    result = hetflow.run_sync(
        plan,
        inputs={"doc": "d", "docs": [f"item {i}" for i in range(6)]},
        journal=False,
        cache=False,
    )
    assert result.ok, result.reason

    def one(word):
        (r,) = [r for r in server.seen("worker") if _text(r.body).startswith(word)]
        return r

    left, right, both = one("LEFT"), one("RIGHT"), one("BOTH")
    # left and right are independent: they run at once (their calls overlap)...
    assert left.started < right.ended and right.started < left.ended
    # ...and `both` waits for the two
    assert both.started >= max(left.ended, right.ended)
    assert server.high_water["worker"] == 2  # the offer's concurrency, reached, not passed
