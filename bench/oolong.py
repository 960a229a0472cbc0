"""OOLONG-style long-context aggregation tasks: a generator and the benchmark's scorer.

OOLONG (Bertsch et al., 2025) asks a model to aggregate over thousands of records
whose labels are not written down: each line holds a question of the TREC coarse
classes, and the model must label every line before it can count.  That is the
workload a `recurse` step is for: the root model slices the context, sub-models label
the pieces, the root counts.  This module makes such inputs deterministically, of any
size, with gold answers, so tests and benchmarks need no data set download.

>>> task = generate(tokens=2000, seed=7)
>>> task.context.splitlines()[0].startswith("Date: ")
True
>>> score(task.answer, task.answer)
1.0
>>> score(5, 7)
0.5625
"""

from __future__ import annotations

import datetime
import functools
import random
import re
from dataclasses import dataclass, field

LABELS = ("abbreviation", "entity", "description", "human", "location", "numeric")
CHARS_PER_TOKEN = 4  # the usual English estimate; the same one hetflow's estimates use

_FILL = {
    "abbr": "NASA UNESCO NATO FBI DNA CPU HTML RSVP GDP WHO laser scuba radar UFO AIDS OPEC".split(),
    "thing": "instrument fabric metal grain tree dog breed currency sport language gas".split(),
    "product": "violins sails coins bread paper cheese glass rope tea ink".split(),
    "animal": "bird fish mammal insect reptile whale snake".split(),
    "work": [
        "Hamlet",
        "Moby Dick",
        "the Odyssey",
        "Don Quixote",
        "War and Peace",
        "the Iliad",
        "Frankenstein",
        "Dracula",
        "Beloved",
        "Ulysses",
    ],
    "phenomenon": [
        "the tide",
        "a rainbow",
        "thunder",
        "an eclipse",
        "rust",
        "a hiccup",
        "inflation",
        "the aurora",
        "a mirage",
        "static electricity",
    ],
    "concept": "entropy democracy irony osmosis photosynthesis gravity karma jazz".split(),
    "device": [
        "a barometer",
        "a compass",
        "a microwave oven",
        "a transistor",
        "a jet engine",
        "a refrigerator",
        "a thermostat",
        "a sundial",
    ],
    "invention": [
        "telephone",
        "light bulb",
        "printing press",
        "steam engine",
        "radio",
        "telescope",
        "bicycle",
        "zipper",
        "vaccine",
        "typewriter",
    ],
    "feat": [
        "climb Everest",
        "fly across the Atlantic",
        "walk on the Moon",
        "sail around the world",
        "reach the South Pole",
        "swim the Channel",
    ],
    "landmark": [
        "the Eiffel Tower",
        "Machu Picchu",
        "the Great Barrier Reef",
        "Petra",
        "the Taj Mahal",
        "Angkor Wat",
        "Mount Kilimanjaro",
        "the Alhambra",
    ],
    "city": [
        "Lagos",
        "Osaka",
        "Lyon",
        "Quito",
        "Perth",
        "Bergen",
        "Cusco",
        "Hanoi",
        "Tbilisi",
        "Porto",
        "Dakar",
        "Oaxaca",
    ],
    "unit": "inches feet ounces seconds grams days cups".split(),
    "bigger": "mile pound hour kilogram year gallon".split(),
}

_TEMPLATES = {
    "abbreviation": (
        "What does {abbr} stand for?",
        "What is the full form of {abbr}?",
        "What is {abbr} an abbreviation of?",
    ),
    "entity": (
        "What kind of {thing} is used to make {product}?",
        "Which {animal} is the fastest in the world?",
        "What was the name of the ship in {work}?",
        "What {thing} is most common in {city}?",
    ),
    "description": (
        "Why does {phenomenon} happen?",
        "What is the definition of {concept}?",
        "How does {device} work?",
        "What causes {phenomenon}?",
    ),
    "human": (
        "Who invented the {invention}?",
        "Who was the first person to {feat}?",
        "Who wrote {work}?",
        "Who was the mayor of {city} in 1950?",
    ),
    "location": (
        "Where is {landmark}?",
        "What country is {city} in?",
        "Which river flows through {city}?",
        "Where was the {invention} first built?",
    ),
    "numeric": (
        "How many {unit} are in a {bigger}?",
        "When was the {invention} invented?",
        "How far is {city} from the sea?",
        "What is the population of {city}?",
        "How tall is {landmark}?",
    ),
}


@dataclass(frozen=True)
class Record:
    """One line of the context, with the label the context does not show."""

    date: str
    user: int
    instance: str
    label: str

    def line(self) -> str:
        return f"Date: {self.date} || User: {self.user} || Instance: {self.instance}"


@dataclass(frozen=True)
class OolongTask:
    """A context, a question about it, the gold answer and the true label counts."""

    context: str
    question: str
    answer: str | int
    labels: dict[str, int]
    kind: str = "count"
    records: tuple[Record, ...] = field(default=(), repr=False)

    def label_of(self, instance: str) -> str:
        """The true label of an instance text (an oracle for tests and benchmarks)."""
        return self._labels_by_instance[instance]

    @functools.cached_property
    def _labels_by_instance(self) -> dict[str, str]:
        return {r.instance: r.label for r in self.records}


def _instance(rng: random.Random, label: str) -> str:
    template = rng.choice(_TEMPLATES[label])
    names = re.findall(r"{(\w+)}", template)
    return template.format(**{n: rng.choice(_FILL[n]) for n in names})


def _question(rng: random.Random, counts: dict[str, int]) -> tuple[str, str | int, str]:
    ranked = sorted(LABELS, key=lambda lab: -counts[lab])
    options = ", ".join(LABELS)
    kinds = ["count", "count", "compare"]
    if counts[ranked[0]] > counts[ranked[1]]:
        kinds.append("most_common")
    if counts[ranked[-1]] < counts[ranked[-2]]:
        kinds.append("least_common")
    kind = rng.choice(kinds)
    if kind == "count":
        label = rng.choice(LABELS)
        q = f"How many data points in the dataset are labeled as '{label}'? Answer with a number."
        return q, counts[label], kind
    if kind == "most_common":
        q = f"Which label is the most common in the dataset? Answer with one of: {options}."
        return q, ranked[0], kind
    if kind == "least_common":
        q = f"Which label is the least common in the dataset? Answer with one of: {options}."
        return q, ranked[-1], kind
    distinct = [(a, b) for a in LABELS for b in LABELS if a < b and counts[a] != counts[b]]
    if not distinct:
        label = rng.choice(LABELS)
        q = f"How many data points in the dataset are labeled as '{label}'? Answer with a number."
        return q, counts[label], "count"
    a, b = rng.choice(distinct)
    q = f"Which is more common in the dataset: label '{a}' or label '{b}'? Answer with the label."
    return q, (a if counts[a] > counts[b] else b), kind


def generate(tokens: int, seed: int) -> OolongTask:
    """A task whose context is about `tokens` tokens long; the same seed, the same task.

    >>> generate(500, 1) == generate(500, 1)
    True
    """
    if tokens < 1:
        raise ValueError("tokens must be at least 1")
    rng = random.Random(seed)
    weights = [rng.uniform(0.3, 1.0) for _ in LABELS]
    start = datetime.date(2022, 1, 1)
    budget = tokens * CHARS_PER_TOKEN
    records: list[Record] = []
    size = 0
    while size < budget or not records:
        label = rng.choices(LABELS, weights)[0]
        day = start + datetime.timedelta(days=rng.randrange(3 * 365))
        record = Record(
            day.strftime("%b %d, %Y"), rng.randrange(10_000, 99_999), _instance(rng, label), label
        )
        records.append(record)
        size += len(record.line()) + 1
    counts = {label: 0 for label in LABELS}
    for r in records:
        counts[r.label] += 1
    question, answer, kind = _question(rng, counts)
    context = "\n".join(r.line() for r in records)
    return OolongTask(context, question, answer, counts, kind, tuple(records))


def _normalize(text: str) -> str:
    text = text.strip().lower()
    text = re.sub(r"^(answer|label)\s*:\s*", "", text)
    return text.strip(" \t\n'\"`.*")


def score(pred: object, gold: str | int) -> float:
    """OOLONG's score: exact match, or 0.75 ** |error| for a numeric gold answer.

    >>> score("Location.", "location"), score("12 items", 12), score("none", 3)
    (1.0, 1.0, 0.0)
    """
    if isinstance(gold, bool) or not isinstance(gold, (int, float)):
        return 1.0 if _normalize(str(pred)) == _normalize(str(gold)) else 0.0
    if isinstance(pred, (int, float)) and not isinstance(pred, bool):
        value = float(pred)
    else:
        found = re.search(r"-?\d+(?:\.\d+)?", str(pred).replace(",", ""))
        if found is None:
            return 0.0
        value = float(found.group())
    return 0.75 ** abs(value - gold)
