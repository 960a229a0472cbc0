"""A run's inputs: parsed from the command line, checked and coerced to the plan's types.

On the command line an input is ``name=value`` or ``name=@path`` (the file's contents;
for an ``image`` input, the image file itself).  From Python, values are given as they
are; an ``image`` input may be an :class:`~hetflow.runtime.values.Image`, bytes, a
Pillow image or a path, and a ``list[image]`` input a list of these (on the command
line, a JSON list of paths: ``pages='["p1.png", "p2.png"]'``).  Every mistake is a one-line :class:`HetError`.

>>> parse_assignments(["q=What?", "n=3"])
{'q': 'What?', 'n': '3'}
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hetflow.errors import HetError, closest
from hetflow.plan.model import Plan
from hetflow.runtime.values import Image


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """``NAME=VALUE`` / ``NAME=@PATH`` strings → raw values (files read as text lazily)."""
    out: dict[str, Any] = {}
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise HetError(f"--input {item!r}: write NAME=VALUE or NAME=@PATH")
        if name in out:
            raise HetError(f"--input {name} is given twice")
        if value.startswith("@"):
            path = Path(value[1:]).expanduser()
            if path.is_dir():
                raise HetError(f"--input {name}=@{path}: is a directory; give a file")
            if not path.is_file():
                raise HetError(f"--input {name}=@{path}: no such file")
            out[name] = _FileRef(path)
        else:
            out[name] = value
    return out


def bare_paths(plan: Plan, given: Mapping[str, Any]) -> list[str]:
    """The ``NAME=VALUE`` inputs of a non-image type whose value names an existing file:
    most likely ``NAME=@PATH`` was meant (the run would read the path, not the file).

    An image input takes a bare path by design.
    """
    declared = {i.name: i.type for i in plan.inputs}
    out = []
    for name, value in given.items():
        if not isinstance(value, str) or "image" in declared.get(name, "image"):
            continue
        if "\n" in value or len(value) > 4096:
            continue
        try:
            if Path(value).expanduser().is_file():
                out.append(name)
        except (OSError, ValueError):
            continue
    return out


class _FileRef:
    """A deferred ``@path``: read as text or as an image once the input's type is known."""

    def __init__(self, path: Path):
        self.path = path

    def text(self, name: str) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise HetError(f"input {name}: {self.path} is not UTF-8 text") from None
        except OSError as exc:
            raise HetError(f"input {name}: cannot read {self.path}: {exc.strerror}") from None

    def __repr__(self) -> str:
        return f"@{self.path}"


def for_sizing(given: Mapping[str, Any]) -> dict[str, Any]:
    """The given values the compiler can measure: text, and files that read as text."""
    out: dict[str, Any] = {}
    for name, value in given.items():
        if isinstance(value, _FileRef):
            try:
                out[name] = value.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue  # an image, or unreadable: the run says so in one line
        elif isinstance(value, str):
            out[name] = value
    return out


def coerce_inputs(plan: Plan, given: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's inputs from what was given: every input present, each of its type."""
    declared = {i.name: i.type for i in plan.inputs}
    for name in given:
        if name not in declared:
            hint = closest(name, declared)
            raise HetError(
                f"unknown input '{name}'"
                + (
                    f" (did you mean '{hint}'?)"
                    if hint
                    else f"; the workflow's inputs are: {', '.join(declared) or 'none'}"
                )
            )
    missing = [n for n in declared if n not in given]
    if missing:
        raise HetError(
            "missing input"
            + ("s " if len(missing) > 1 else " ")
            + ", ".join(missing)
            + " (give --input NAME=VALUE or NAME=@FILE)"
        )
    values = {name: coerce(name, declared[name], given[name]) for name in declared}
    for spec in plan.inputs:
        if spec.json_schema and "image" not in spec.type:
            check_value(spec.name, spec.type, spec.json_schema, values[spec.name])
    return values


def _lenient(schema: Any) -> Any:
    """The plan's schemas list optional fields as required-but-nullable (what strict
    structured output wants); a user's input may simply leave them out."""
    if isinstance(schema, list):
        return [_lenient(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _lenient(v) for k, v in schema.items()}
    props = schema.get("properties")
    if isinstance(props, dict) and isinstance(schema.get("required"), list):
        out["required"] = [
            r
            for r in schema["required"]
            if not any(alt == {"type": "null"} for alt in props.get(r, {}).get("anyOf", []))
        ]
    return out


def check_value(name: str, type_: str, schema: dict, value: Any) -> None:
    """An input that does not match its declared type is refused before any call."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(_lenient(schema)).iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise HetError(
            f"input {name}: not a {type_}"
            + (f" at {where}" if where else "")
            + f": {error.message[:200]}"
        )


def coerce(name: str, type_: str, value: Any) -> Any:
    """One value to its declared type; strings from the command line are parsed."""
    if type_ == "image":
        return load_image(name, value)
    if isinstance(value, _FileRef):
        value = value.text(name)
    if type_ == "text":
        if not isinstance(value, str):
            raise HetError(f"input {name}: expected text, got {type(value).__name__}")
        return value
    if isinstance(value, str) and type_ != "text":
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            if type_ in ("number", "bool") or type_.startswith("list["):
                raise HetError(f"input {name}: {_short(value)} is not a {type_}") from None
            if type_ == "json":
                return value  # a bare string is valid JSON-ish data
    if type_ == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise HetError(f"input {name}: {_short(value)} is not a number")
    if type_ == "bool" and not isinstance(value, bool):
        raise HetError(f"input {name}: {_short(value)} is not true or false")
    if type_.startswith("list[") and not isinstance(value, list):
        raise HetError(f"input {name}: expected a list, got {_short(value)}")
    if type_ == "list[image]":  # each item as an image input is: a path, bytes, an Image
        return [load_image(f"{name}[{i}]", item) for i, item in enumerate(value)]
    return value


def load_image(name: str, value: Any) -> Image:
    """An image input from an Image, bytes, a Pillow image, a path or ``@path``."""
    if isinstance(value, Image):
        return value
    if isinstance(value, _FileRef):
        value = value.path
    if isinstance(value, (bytes, bytearray)):
        return Image(bytes(value), _sniff(bytes(value)))
    if hasattr(value, "save") and hasattr(value, "size"):  # a Pillow image
        return Image.from_pil(value)
    if isinstance(value, (str, os.PathLike)):
        path = Path(value).expanduser()
        if not path.is_file():
            raise HetError(f"input {name}: no such image file: {path}")
        data = path.read_bytes()
        mime = _sniff(data) or mimetypes.guess_type(path.name)[0]
        if not mime or not mime.startswith("image/"):
            raise HetError(f"input {name}: {path} is not an image (PNG, JPEG, GIF or WebP)")
        return Image(data, mime)
    raise HetError(
        f"input {name}: expected an image (a file path or bytes), got {type(value).__name__}"
    )


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


def _short(value: Any) -> str:
    s = repr(value)
    return s if len(s) <= 40 else s[:37] + "..."
