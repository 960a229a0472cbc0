"""SAMPLES.jsonl: one JSON object a line, ``{"inputs": {...}, "expect": {...}}``.

``inputs`` gives every input of the workflow; ``expect`` (optional) the expected value
of outputs or steps, by name. A line that cannot run is refused before anything is
spent, with its line number and the field that is wrong.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hetflow.errors import HetError, closest
from hetflow.plan.model import Plan


@dataclass(frozen=True)
class Sample:
    line: int
    inputs: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)


def load_samples(path: str | os.PathLike, plan: Plan) -> list[Sample]:
    """Every sample of the file, checked against the plan's inputs, outputs and steps."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HetError(f"{p}: no such samples file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HetError(f"{p}: cannot read the samples ({exc})") from None
    declared = {i.name for i in plan.inputs}
    names = set(plan.outputs) | {n.step for n in plan.nodes}
    out: list[Sample] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{p}:{number}"
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise HetError(f"{where}: not a JSON object ({exc})") from None
        if not isinstance(data, dict):
            raise HetError(f'{where}: a sample is a JSON object {{"inputs": ..., "expect": ...}}')
        extra = set(data) - {"inputs", "expect"}
        if extra:
            raise HetError(
                f"{where}: unknown field '{sorted(extra)[0]}' (a sample has inputs, expect)"
            )
        inputs = data.get("inputs")
        if not isinstance(inputs, dict):
            raise HetError(f"{where}: 'inputs' must be an object of the workflow's inputs")
        for name in inputs:
            if name not in declared:
                hint = closest(name, declared)
                more = f"; did you mean '{hint}'?" if hint else ""
                raise HetError(
                    f"{where}: inputs.{name}: the workflow '{plan.workflow}' has no input "
                    f"'{name}'{more} (its inputs: {', '.join(sorted(declared)) or 'none'})"
                )
        missing = sorted(declared - set(inputs))
        if missing:
            raise HetError(f"{where}: inputs: missing '{missing[0]}' (every input is needed)")
        expect = data.get("expect", {})
        if not isinstance(expect, dict):
            raise HetError(f"{where}: 'expect' must be an object of output or step names")
        for name in expect:
            if name not in names:
                hint = closest(name, names)
                more = f"; did you mean '{hint}'?" if hint else ""
                raise HetError(
                    f"{where}: expect.{name}: no output or step of '{plan.workflow}' is "
                    f"called '{name}'{more}"
                )
        out.append(Sample(number, inputs, expect))
    if not out:
        raise HetError(f"{p}: no samples (one JSON object a line)")
    return out
