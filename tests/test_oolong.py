"""The OOLONG-style generator (deterministic, sized, with gold answers) and the scorer."""

from __future__ import annotations

import pytest

from bench import oolong


def test_same_seed_same_task_and_different_seed_different_task():
    assert oolong.generate(3000, 5) == oolong.generate(3000, 5)
    assert oolong.generate(3000, 5).context != oolong.generate(3000, 6).context


@pytest.mark.parametrize("tokens", [1_000, 32_000, 128_000])
def test_context_is_sized_in_tokens(tokens):
    task = oolong.generate(tokens, 1)
    approx = len(task.context) / oolong.CHARS_PER_TOKEN
    assert tokens <= approx < tokens * 1.01 + 50


def test_records_are_lines_with_hidden_labels():
    task = oolong.generate(5_000, 2)
    lines = task.context.splitlines()
    assert len(lines) == len(task.records)
    for line, record in zip(lines, task.records, strict=True):
        date, user, instance = line.split(" || ")
        assert date.startswith("Date: ") and user.startswith("User: ")
        assert instance == f"Instance: {record.instance}"
        assert record.label not in line.split("Instance: ")[0]
        assert task.label_of(record.instance) == record.label
    assert sum(task.labels.values()) == len(task.records)
    assert set(task.labels) == set(oolong.LABELS)


def test_gold_answers_follow_from_the_labels():
    kinds = set()
    for seed in range(40):
        task = oolong.generate(2_000, seed)
        kinds.add(task.kind)
        counts = task.labels
        if task.kind == "count":
            label = task.question.split("'")[1]
            assert task.answer == counts[label]
        elif task.kind == "most_common":
            assert counts[task.answer] == max(counts.values())
            assert list(counts.values()).count(max(counts.values())) == 1
        elif task.kind == "least_common":
            assert counts[task.answer] == min(counts.values())
        else:
            a, b = task.question.split("'")[1::2]
            assert task.answer == (a if counts[a] > counts[b] else b) and counts[a] != counts[b]
    assert kinds == {"count", "most_common", "least_common", "compare"}


def test_score_exact_match_and_numeric_decay():
    assert oolong.score("Location", "location") == 1.0
    assert oolong.score("Label: human.", "human") == 1.0
    assert oolong.score("human", "location") == 0.0
    assert oolong.score(10, 10) == 1.0
    assert oolong.score("about 12", 10) == pytest.approx(0.75**2)
    assert oolong.score("1,204", 1204) == 1.0
    assert oolong.score("no number", 3) == 0.0
    assert oolong.score(True, 1) == 1.0 or oolong.score(True, 1) == 0.0


def test_bad_size_is_refused():
    with pytest.raises(ValueError):
        oolong.generate(0, 1)
