"""Read a catalog file: TOML -> checked :class:`Catalog`, or every error with its line.

Mirrors the ``json`` module: :func:`load_catalog` reads a file (or the default
catalog shipped in the package), :func:`parse_catalog` reads text.  All errors
of a file are reported together, each a positioned :class:`Diagnostic`.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hetflow.catalog.positions import Spot, find, locate
from hetflow.catalog.resolve import Problem, resolve
from hetflow.catalog.schema import Catalog, Chip, Model, Offer
from hetflow.errors import Diagnostic, DiagnosticError, SourcePosition, closest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_LABEL = "<default catalog>"
TABLES = ("catalog", "chips", "models", "offers")
_KNOWN_KEYS = {
    "chips": set(Chip.model_fields),
    "models": set(Model.model_fields),
    "offers": set(Offer.model_fields),
}
# Values never echoed in an error: they may hold a secret.
_SECRET_HINTS = ("key", "api_base", "token", "secret", "password")


class CatalogError(DiagnosticError):
    """A catalog that cannot be used; the message names the file (and line).

    ``diagnostics`` holds one positioned :class:`Diagnostic` per problem when
    the file could be read; ``render()`` shows them like a compiler.
    """

    def __init__(self, message=None, diagnostics=(), sources=None):
        super().__init__(diagnostics, sources)
        if message is not None:
            self.args = (message,)

    def render(self) -> str:
        return super().render() if self.diagnostics else str(self)


def default_catalog_bytes() -> bytes:
    return resources.files("hetflow.catalog").joinpath("default.toml").read_bytes()


# Catalogs shipped in the package, loaded by name when no file of that name exists:
# ``--catalog local`` is the models hetflow serves on this machine (the `local` extra).
SHIPPED = ("default", "local")


def shipped_catalog_bytes(name: str) -> bytes:
    return resources.files("hetflow.catalog").joinpath(f"{name}.toml").read_bytes()


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog in ``path``, or the default one shipped with hetflow when None.

    A shipped catalog's name (``"local"``) loads that catalog unless a file of that
    name exists.
    """
    if path is None:
        return parse_catalog(default_catalog_bytes(), label=DEFAULT_LABEL, name="default")
    if isinstance(path, str) and path in SHIPPED and not Path(path).exists():
        return parse_catalog(shipped_catalog_bytes(path), label=f"<{path} catalog>", name=path)
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CatalogError(_not_found(str(path))) from None
    except OSError as err:
        raise CatalogError(f"cannot read catalog file '{path}': {err.strerror}") from None
    return parse_catalog(data, label=str(path), name=path.stem, path=str(path))


def _not_found(path: str) -> str:
    """What a missing catalog file's error says: the shipped name it may have meant."""
    message = f"catalog file '{path}' not found"
    guess = closest(path, SHIPPED) if "/" not in path and "." not in path else None
    if guess:
        return f"{message}; did you mean the shipped catalog '{guess}'?"
    return f"{message} (the shipped catalogs are {' and '.join(map(repr, SHIPPED))})"


def parse_catalog(
    data: str | bytes,
    label: str = "<catalog>",
    name: str = "catalog",
    path: str | None = None,
) -> Catalog:
    """A checked catalog from TOML text; ``label`` is the file name errors show."""
    raw_bytes = data.encode("utf-8") if isinstance(data, str) else data
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CatalogError(f"{label}: not a UTF-8 text file (byte {err.start})") from None
    sources = {label: _masked(text)}  # what errors quote: never a pasted key
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CatalogError(diagnostics=[_syntax_error(err, label, text)], sources=sources) from None
    except RecursionError:
        raise CatalogError(
            f"{label}: not a catalog: its tables or arrays nest too deeply"
        ) from None

    spots = locate(text)
    errors: list[Diagnostic] = []
    warnings = _unknown_keys(raw, spots, label)
    shaped = _shape(raw, name, spots, label, errors)
    catalog = None
    if not errors:
        try:
            catalog = Catalog.model_validate(shaped, context={"defer_checks": True})
        except ValidationError as err:
            errors += [_field_error(e, raw, spots, label) for e in err.errors()]
            # What needs the whole catalog is checked too, from the file as written, so
            # every error shows at once, not the references only after the fields are fixed.
            errors += [_problem(p, spots, label) for p in _references(shaped)]
    if catalog is not None:
        errors += [_problem(p, spots, label) for p in resolve(catalog)]
    if errors or catalog is None:
        raise CatalogError(diagnostics=errors + warnings, sources=sources)
    catalog.path = path
    catalog.hash = hashlib.sha256(raw_bytes).hexdigest()
    catalog._warnings = warnings
    return catalog


# ---- turning what went wrong into positioned diagnostics -----------------

_SECRET_LINE = re.compile(
    r'^(\s*[\w.-]*(?:key|token|secret|password)[\w.-]*\s*=\s*)(["\'])(.*?)\2', re.I | re.M
)


def _masked(text: str) -> str:
    """The file as errors quote it: a secret-looking key's value that is not a variable
    name (``api_key_env = "sk-..."``, a pasted key) shows as ``***``."""

    def mask(m: re.Match) -> str:
        value = m.group(3)
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) and value.upper() == value:
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}***{m.group(2)}"

    return _SECRET_LINE.sub(mask, text)


def _position(spot: Spot | None, label: str) -> SourcePosition:
    line, column, end = spot or (1, 1, 1)
    return SourcePosition(label, line, column, line, end)


def _syntax_error(err: Exception, label: str, text: str) -> Diagnostic:
    message = str(err)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        line, column = int(found.group(1)), int(found.group(2))
        message = message[: found.start()]
    else:  # "(at end of document)"
        message = re.sub(r"\s*\(at end of document\)$", "", message)
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
    return Diagnostic(
        "error", f"TOML syntax: {message}", SourcePosition(label, line, column, line, column + 1)
    )


def _shape(raw: dict, name: str, spots, label: str, errors: list[Diagnostic]) -> dict:
    """The file's tables in the shape :class:`Catalog` validates."""
    shaped: dict = {}
    header = raw.get("catalog", {})
    if not isinstance(header, dict):
        errors.append(_at(("catalog",), "'catalog' must be a table: [catalog]", spots, label))
        header = {}
    shaped["name"] = header.get("name", name)
    for table, kind in (("chips", dict), ("models", dict), ("offers", list)):
        value = raw.get(table, kind())
        if not isinstance(value, kind):
            form = f"[{table}.NAME] tables" if kind is dict else "[[offers]] tables"
            errors.append(_at((table,), f"'{table}' must be written as {form}", spots, label))
            continue
        if isinstance(value, dict):
            value = _undotted(table, value, spots, label, errors)
        shaped[table] = value
    return shaped


def _undotted(table: str, entries: dict, spots, label: str, errors: list[Diagnostic]) -> dict:
    """Catch ``[models.llama-3.1-8b]``: TOML reads the dots as nested tables."""
    kept = {}
    for entry_name, entry in entries.items():
        nested = (
            isinstance(entry, dict) and entry and all(isinstance(v, dict) for v in entry.values())
        )
        if not nested:
            kept[entry_name] = entry
            continue
        for part in entry:
            full = f"{entry_name}.{part}"
            message = f'a name with a dot must be quoted: [{table}."{full}"]'
            errors.append(_at((table, entry_name, part), message, spots, label))
    return kept


def _unknown_keys(raw: dict, spots, label: str) -> list[Diagnostic]:
    """Warnings for keys that look like misspelt contract keys (extra keys are allowed)."""
    found: list[Diagnostic] = []

    def check(loc: tuple, keys, known) -> None:
        for key in keys:
            if key in known:
                continue
            hint = closest(key, known)
            if hint:
                message = f"unknown key '{key}' (extra keys are kept); did you mean '{hint}'?"
                found.append(
                    Diagnostic("warning", message, _position(find(spots, loc + (key,)), label))
                )

    check((), raw, TABLES)
    for table in ("chips", "models"):
        entries = raw.get(table)
        if isinstance(entries, dict):
            for entry_name, entry in entries.items():
                if isinstance(entry, dict):
                    check((table, entry_name), entry, _KNOWN_KEYS[table])
    offers = raw.get("offers")
    if isinstance(offers, list):
        for index, entry in enumerate(offers):
            if isinstance(entry, dict):
                check(("offers", index), entry, _KNOWN_KEYS["offers"])
    return found


def _describe(loc: tuple, raw: dict) -> str:
    """``models.gpt-5.reasoning`` / ``offers[3] (gpt-oss-120b@groq-lpu).output_tps``."""
    if loc and loc[0] == "offers" and len(loc) > 1 and isinstance(loc[1], int):
        text = f"offers[{loc[1]}]"
        offers = raw.get("offers")
        entry = offers[loc[1]] if isinstance(offers, list) and loc[1] < len(offers) else None
        if isinstance(entry, dict) and {"model", "chip"} <= entry.keys():
            text += f" ({entry['model']}@{entry['chip']})"
        return ".".join([text, *map(str, loc[2:])])
    return ".".join(map(str, loc))


def _references(shaped: dict) -> list[Problem]:
    """An offer naming a model or chip the file does not define, from the raw tables
    (used when some entry does not validate, so :func:`resolve` cannot run)."""
    problems: list[Problem] = []
    models, chips, offers = shaped.get("models"), shaped.get("chips"), shaped.get("offers")
    models = models if isinstance(models, dict) else {}
    chips = chips if isinstance(chips, dict) else {}
    offers = offers if isinstance(offers, list) else []
    names = {"model": list(models), "chip": [*chips, *(() if "cpu" in chips else ("cpu",))]}
    for index, offer in enumerate(offers):
        if not isinstance(offer, dict):
            continue
        for field in ("model", "chip"):
            name = offer.get(field)
            if isinstance(name, str) and name not in names[field]:
                hint = closest(name, names[field])
                more = f"; did you mean '{hint}'?" if hint else ""
                problems.append(
                    (
                        ("offers", index, field),
                        f"offer '{offer.get('model')}@{offer.get('chip')}' names an unknown "
                        f"{field} '{name}'{more}",
                    )
                )
    return problems


# What a key takes, said the way the file is written (not pydantic's words).
_ACCEPTS = {
    "context": 'a number of tokens, like 131072 or "128k"',
    "reasoning": "a whole number from 0 to 5",
    "coding": "a whole number from 0 to 5",
    "extraction": "a whole number from 0 to 5",
    "vision": "a whole number from 0 to 5",
    "output_tps": "a number of tokens per second above 0, like 1800",
    "prefill_tps": "a number of tokens per second above 0, like 20000",
    "ttft_ms": "a number of milliseconds, 0 or more, like 300",
    "handoff_ms": "a number of milliseconds, 0 or more, like 40",
    "concurrency": "a whole number of requests in flight, 1 or more, like 16",
    "input_per_mtok": "dollars per million tokens, 0 or more, like 0.35",
    "output_per_mtok": "dollars per million tokens, 0 or more, like 0.75",
    "per_hour": "dollars per hour above 0, like 2.50",
}


def _field_error(error: Mapping[str, Any], raw: dict, spots, label: str) -> Diagnostic:
    loc = tuple(error["loc"])
    if loc == ("name",):
        loc = ("catalog", "name")
    where = _describe(loc, raw)
    key = str(loc[-1]) if loc else ""
    if error["type"] == "missing":
        message = f"{_describe(loc[:-1], raw) or 'catalog'}: missing required key '{loc[-1]}'"
    else:
        if key in _ACCEPTS and error["type"] != "value_error":
            message = f"{where}: takes {_ACCEPTS[key]}"
        elif error["type"] in ("string_type", "str_type"):
            message = f'{where}: takes text in quotes, like {key} = "..."'
        else:
            text = error["msg"].replace("Value error, ", "")
            message = f"{where}: {text.replace('Input should be', 'must be')}"
        secret = any(hint in key.lower() for hint in _SECRET_HINTS)
        if "input" in error and not secret and not isinstance(error["input"], dict | list):
            message += f" (got {_toml(error['input'])})"
    return _at(loc, message, spots, label)


def _toml(value: object) -> str:
    """A value as the file spells it: ``"128k"``, ``12``, ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _problem(problem: Problem, spots, label: str) -> Diagnostic:
    loc, message = problem
    notes: tuple[str, ...] = ()
    if "listed twice" in message:
        first = re.search(r"offers\[(\d+)\]", message)
        spot = spots.get(("offers", int(first.group(1)))) if first else None
        if spot:
            notes = (f"first listed at {label}:{spot[0]}",)
    return Diagnostic("error", message, _position(find(spots, loc), label), notes)


def _at(loc: tuple, message: str, spots, label: str) -> Diagnostic:
    return Diagnostic("error", message, _position(find(spots, loc), label))
