"""run_recursion end to end with a scripted model: levels, FINAL, rlm_query, forced final."""

from __future__ import annotations

import json

import pytest

from bench import oolong
from hetflow.recurse import RecursionFailed, run_recursion
from hetflow.recurse.prompts import SYSTEM_PROMPT, code_blocks

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

LABEL_PROMPT = "Label each question with one of: " + ", ".join(oolong.LABELS) + ". One per line."

SURVEY = """I will look at the context first.
```python
lines = context.splitlines()
print(len(lines), lines[0])
```"""

LABEL_ALL = f"""Now label every record with sub-model calls, 40 a prompt, all at once.
```repl
from collections import Counter
instances = [line.split(" || Instance: ", 1)[1] for line in lines]
chunks = [instances[i:i + 40] for i in range(0, len(instances), 40)]
answers = llm_query_batched([{LABEL_PROMPT!r} + "\\n" + "\\n".join(c) for c in chunks])
counts = Counter(label.strip() for a in answers for label in a.splitlines() if label.strip())
print(dict(counts))
```"""

ANSWER = {
    "count": "FINAL(counts[{label!r}])",
    "most_common": "FINAL(counts.most_common(1)[0][0])",
    "least_common": "FINAL(min(counts, key=counts.get))",
    "compare": "FINAL({a!r} if counts[{a!r}] > counts[{b!r}] else {b!r})",
}


def final_code(task: oolong.OolongTask) -> str:
    quoted = [w for w in task.question.split("'")[1::2]]
    if task.kind == "count":
        code = ANSWER["count"].format(label=quoted[0])
    elif task.kind == "compare":
        code = ANSWER["compare"].format(a=quoted[0], b=quoted[1])
    else:
        code = ANSWER[task.kind]
    return f"```python\n{code}\n```"


class ScriptedModel:
    """Root turns come from a script; sub-calls label records with the task's oracle."""

    def __init__(self, task: oolong.OolongTask, root_script: list[str]):
        self.task = task
        self.root_script = list(root_script)
        self.calls: list[tuple[int, list[dict]]] = []

    async def __call__(self, level: int, messages: list[dict]) -> str:
        self.calls.append((level, messages))
        if level == 0:
            return self.root_script.pop(0)
        records = messages[-1]["content"].splitlines()[1:]
        return "\n".join(self.task.label_of(r) for r in records)

    def levels(self) -> list[int]:
        return [level for level, _ in self.calls]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_oolong_end_to_end_with_a_scripted_root(seed):
    task = oolong.generate(tokens=8_000, seed=seed)
    model = ScriptedModel(task, [SURVEY, LABEL_ALL, final_code(task)])
    result = await run_recursion(task.question, task.context, depth=1, call_model=model)
    assert oolong.score(result.value, task.answer) == 1.0
    assert result.iterations == 3 and not result.forced_final
    n_chunks = -(-len(task.records) // 40)
    assert model.levels() == [0, 0] + [1] * n_chunks + [0]
    assert [c.level for c in result.cells] == [0, 0, 0]
    # The root saw the REPL's rules, the task and a description of the context.
    system, first = model.calls[0][1][:2]
    assert system["content"] == SYSTEM_PROMPT
    assert task.question in first["content"] and "characters" in first["content"]
    # Each cell's printed output went back as the next user message.
    second_turn = model.calls[1][1]
    assert (
        second_turn[-1]["role"] == "user" and str(len(task.records)) in second_turn[-1]["content"]
    )


def test_the_system_prompt_states_the_repl_contract():
    for name in (
        "context",
        "llm_query(",
        "llm_query_batched(",
        "rlm_query(",
        "FINAL(",
        "FINAL_VAR(",
    ):
        assert name in SYSTEM_PROMPT
    assert "```python" in SYSTEM_PROMPT and "```repl" in SYSTEM_PROMPT


def test_code_blocks_accept_python_and_repl_fences():
    reply = "a\n```python\nx = 1\n```\nb\n```repl\ny = 2\n```\n```text\nnot code\n```"
    assert code_blocks(reply) == ["x = 1\n", "y = 2\n"]


async def test_rlm_query_opens_a_child_recursion_at_the_next_level():
    seen: list[tuple[int, bool]] = []

    async def model(level: int, messages: list[dict]) -> str:
        has_repl = messages[0]["role"] == "system"
        seen.append((level, has_repl))
        if level == 0:
            return "```python\nhalves = [context[:4], context[4:]]\nFINAL([rlm_query('count vowels', h) for h in halves])\n```"
        if level == 1:  # a recursion of its own: its context is the half it was given
            return "```python\nFINAL(llm_query('vowels in: ' + context))\n```"
        return str(sum(ch in "aeiou" for ch in messages[0]["content"].split(": ", 1)[1]))

    result = await run_recursion("Count vowels.", "abcdefgh", depth=2, call_model=model)
    assert result.value == ["1", "1"]
    assert seen.count((0, True)) == 1
    assert seen.count((1, True)) == 2  # two child recursions, each with a REPL
    assert seen.count((2, False)) == 2  # their sub-calls are plain calls


async def test_rlm_query_at_the_last_level_is_a_plain_call():
    seen: list[tuple[int, list[dict]]] = []

    async def model(level: int, messages: list[dict]) -> str:
        seen.append((level, messages))
        if level == 0:
            return "```python\nFINAL(rlm_query('summarize', ['x', 'y']))\n```"
        return "a summary"

    result = await run_recursion("Summarize.", "ctx", depth=1, call_model=model)
    assert result.value == "a summary"
    level, messages = seen[1]
    assert level == 1 and messages == [
        {"role": "user", "content": 'summarize\n\nContext:\n["x", "y"]'}
    ]


async def test_forced_final_after_max_iterations():
    turns = []

    async def model(level: int, messages: list[dict]) -> str:
        turns.append(messages[-1]["content"])
        if "final answer only" in messages[-1]["content"]:
            return '```json\n{"count": 5}\n```'
        return "```python\nprint('still thinking')\n```"

    result = await run_recursion("Count.", "ctx", depth=1, call_model=model, max_iterations=3)
    assert result.forced_final and result.iterations == 3
    assert result.value == {"count": 5}
    assert len(turns) == 4 and len(result.cells) == 3
    assert "[turn 3 of 3 used]" in turns[3] or "3 turns" in turns[3]


async def test_validation_errors_are_fed_back_to_the_model():
    replies = ["```python\nFINAL('many')\n```", "```python\nFINAL(7)\n```"]
    fed_back = []

    async def model(level: int, messages: list[dict]) -> str:
        fed_back.append(messages[-1]["content"])
        return replies.pop(0)

    result = await run_recursion("Count.", "ctx", depth=1, call_model=model, validate=int)
    assert result.value == 7 and result.iterations == 2
    assert "does not have the expected type" in fed_back[1]
    assert result.cells[0].result.error and not result.cells[0].result.final


async def test_forced_answer_that_does_not_validate_fails_cleanly():
    async def model(level: int, messages: list[dict]) -> str:
        return "no idea" if "final answer only" in messages[-1]["content"] else "hmm"

    with pytest.raises(RecursionFailed, match="no FINAL after 2 turns"):
        await run_recursion(
            "Count.", "ctx", depth=1, call_model=model, max_iterations=2, validate=int
        )


async def test_a_reply_without_code_is_asked_for_code():
    replies = ["I think the answer is 4.", "```python\nFINAL(4)\n```"]
    fed_back = []

    async def model(level: int, messages: list[dict]) -> str:
        fed_back.append(messages[-1]["content"])
        return replies.pop(0)

    result = await run_recursion("Count.", "ctx", depth=1, call_model=model)
    assert result.value == 4 and "no ```python code block" in fed_back[1]


async def test_an_error_stops_the_rest_of_the_reply():
    replies = [
        "```python\n1/0\n```\n```python\nFINAL('too early')\n```",
        "```python\nFINAL('ok')\n```",
    ]
    fed_back = []

    async def model(level: int, messages: list[dict]) -> str:
        fed_back.append(messages[-1]["content"])
        return replies.pop(0)

    result = await run_recursion("Go.", "ctx", depth=1, call_model=model)
    assert result.value == "ok"
    assert "ZeroDivisionError" in fed_back[1] and "were not run" in fed_back[1]


async def test_structured_context_is_described_and_reachable():
    async def model(level: int, messages: list[dict]) -> str:
        assert "a list of 3 items" in messages[1]["content"]
        return "```python\nFINAL(sum(context))\n```"

    result = await run_recursion("Add.", [1, 2, 3], depth=1, call_model=model)
    assert result.value == 6
    assert json.dumps(result.value) == "6"
