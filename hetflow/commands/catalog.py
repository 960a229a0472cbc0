"""``hetflow catalog list|show|validate``: look at a hardware catalog before compiling.

``list`` prints every offer (a table on a terminal, plain columns in a pipe),
``show NAME`` prints everything known about a model, chip or offer with its
sources, ``validate FILE`` checks a user's catalog and prints every error at
its line (``validate`` alone, or with ``--catalog FILE``, like the other two).
"""

from __future__ import annotations

import argparse
import sys

from hetflow.commands.options import CATALOG_HELP
from hetflow.commands.output import plural, say


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "catalog",
        help="list, show or validate a hardware catalog",
        description="Look at the hardware catalog: offers, models, chips, their figures and sources.",
    )
    actions = parser.add_subparsers(
        dest="catalog_action",
        metavar="ACTION",
        required=True,
        help="'hetflow catalog ACTION --help' for its options",
    )
    listing = actions.add_parser(
        "list",
        help="every offer: model, chip, speed and price",
        description="List every offer of the catalog: model, chip, litellm string, speed, "
        "time to first token, concurrency and prices.",
    )
    listing.add_argument("--catalog", metavar="FILE", help=CATALOG_HELP)
    listing.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: the whole catalog, for tools",
    )
    show = actions.add_parser(
        "show",
        help="a model, chip or offer (MODEL@CHIP): figures and sources",
        description="Show everything the catalog knows about a model, a chip or an offer "
        "(MODEL@CHIP), with where the figures come from.",
    )
    show.add_argument(
        "name", metavar="NAME", help="a model (gpt-5), a chip (groq-lpu) or an offer (MODEL@CHIP)"
    )
    show.add_argument("--catalog", metavar="FILE", help=CATALOG_HELP)
    show.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: the entry and its offers, for tools (docs/catalog.md)",
    )
    validate = actions.add_parser(
        "validate",
        help="check a catalog file; exit 1 with its errors",
        description="Check a catalog file and print every error at once, each at its line.",
    )
    validate.add_argument("file", metavar="FILE", nargs="?", help="the catalog file to check")
    validate.add_argument(
        "--catalog", metavar="FILE", help="the same as FILE (default: the shipped catalog)"
    )
    measure = actions.add_parser(
        "measure", help="time the offers for real and write the figures to a catalog file"
    )
    measure.add_argument("offers", metavar="OFFER", nargs="*", help="MODEL@CHIP (default: all)")
    measure.add_argument("--catalog", metavar="FILE", help=CATALOG_HELP)
    measure.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        required=True,
        help="where to write the catalog (- : stdout)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hetflow.catalog import CatalogError, load_catalog
    from hetflow.errors import HetError

    action = args.catalog_action
    path = args.catalog
    if action == "measure":
        return _measure(args)
    if action == "validate":
        if args.file and args.catalog and args.file != args.catalog:
            raise HetError("catalog validate: give the file once (FILE or --catalog FILE)")
        path = args.file or args.catalog
    try:
        catalog = load_catalog(path)
    except CatalogError as err:
        if not err.diagnostics:  # unreadable: one line, said once
            say(f"hetflow: error: {err}")
            return 1
        say(err.render())
        if action == "validate":
            errors = sum(d.is_error for d in err.diagnostics) or 1
            where = path or "the default catalog"
            print(f"{where}: {errors} error{'s' if errors > 1 else ''}", file=sys.stderr)
        return 1
    if action == "validate":
        return _validate(catalog, path)
    if action == "show":
        if args.format == "json":
            return _show_json(catalog, args.name)
        return _show(catalog, args.name)
    if getattr(args, "format", "text") == "json":
        return _json(catalog)
    return _list(catalog)


def _json(catalog) -> int:
    import json

    data = catalog.model_dump(mode="json")
    for offer, dumped in zip(catalog.offers, data["offers"], strict=True):
        dumped["id"] = offer.id
    print(json.dumps(data, indent=2))
    return 0


# ---- validate -------------------------------------------------------------


def _validate(catalog, path: str | None) -> int:
    from hetflow.catalog.load import DEFAULT_LABEL, default_catalog_bytes
    from hetflow.errors import render_all

    if catalog.warnings:
        text = default_catalog_bytes().decode("utf-8") if path is None else _read(path)
        say(render_all(catalog.warnings, {path or DEFAULT_LABEL: text}))
    print(
        f"{path or DEFAULT_LABEL}: ok: catalog '{catalog.name}', "
        f"{plural(len(catalog.chips), 'chip')}, {plural(len(catalog.models), 'model')}, "
        f"{plural(len(catalog.offers), 'offer')}"
        f" (sha256 {catalog.hash[:12]})"
    )
    return 0


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


# ---- list -------------------------------------------------------------------

COLUMNS = (
    "offer",
    "model",
    "chip",
    "litellm",
    "tok/s",
    "ttft ms",
    "conc",
    "$/Mtok in",
    "$/Mtok out",
)


def _money(value: float | None, per_hour: bool) -> str:
    if value is None:
        return "-"
    text = f"{value:.4g}"
    return text + "*" if per_hour else text


def _rows(catalog) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for o in catalog.offers:
        hourly = o.per_hour is not None
        rows.append(
            (
                o.id,
                o.model,
                o.chip,
                o.litellm,
                f"{o.output_tps:g}",
                f"{o.ttft_ms:g}",
                str(o.concurrency),
                _money(o.input_per_mtok, hourly),
                _money(o.output_per_mtok, hourly),
            )
        )
    return rows


def _list(catalog) -> int:
    rows = _rows(catalog)
    title = f"catalog '{catalog.name}': {plural(len(catalog.offers), 'offer')}"
    footnote = (
        "* self-hosted: per-token equivalent of per_hour at full concurrency"
        if any(o.per_hour is not None for o in catalog.offers)
        else None
    )
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, caption=footnote)
        numeric = {"tok/s", "ttft ms", "conc", "$/Mtok in", "$/Mtok out"}
        for column in COLUMNS:
            table.add_column(column, justify="right" if column in numeric else "left")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return 0
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    print(title)
    for line in (COLUMNS, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    if footnote:
        print(footnote)
    return 0


# ---- show -------------------------------------------------------------------


def _offer_json(offer) -> dict:
    data = {"id": offer.id, **offer.model_dump(mode="json", exclude_none=True)}
    if "api_base" in data:
        data["api_base"] = _value("api_base", data["api_base"])
    return data


def _show_json(catalog, name: str) -> int:
    """``{"kind": "model"|"chip"|"offer"|"offers", ...}``: the entry, with its offers."""
    import json

    lowered = name.lower()
    offers = {o.id.lower(): o for o in catalog.offers}
    models = {k.lower(): m for k, m in catalog.models.items()}
    if lowered in offers:
        offer = offers[lowered]
        data = {
            "kind": "offer",
            "offer": _offer_json(offer),
            "model": catalog.model_of(offer).model_dump(mode="json", exclude_none=True),
            "chip": catalog.chip_of(offer).model_dump(mode="json", exclude_none=True),
        }
    elif lowered in models:
        model = models[lowered]
        data = {
            "kind": "model",
            "model": model.model_dump(mode="json", exclude_none=True),
            "offers": [_offer_json(o) for o in catalog.offers if o.model == model.name],
        }
    elif catalog.find_chip(name) is not None:
        chip = catalog.find_chip(name)
        data = {
            "kind": "chip",
            "chip": chip.model_dump(mode="json", exclude_none=True),
            "offers": [_offer_json(o) for o in catalog.offers if o.chip == chip.name],
        }
    elif catalog.find_model(name):
        data = {"kind": "offers", "offers": [_offer_json(o) for o in catalog.find_model(name)]}
    else:
        return _unknown(catalog, name)
    print(json.dumps(data, indent=2))
    return 0


def _shipped_with(name: str, besides: str) -> str | None:
    """The other shipped catalog that knows ``name``, if one does."""
    from hetflow.catalog.load import SHIPPED, load_catalog

    for shipped in SHIPPED:
        if shipped == besides:
            continue
        other = load_catalog(shipped)
        if name in other.models or name in other.chips or other.find_model(name):
            return shipped
        if any(o.id == name for o in other.offers):
            return shipped
    return None


def _unknown(catalog, name: str) -> int:
    from hetflow.commands.output import error
    from hetflow.errors import closest

    known = [*catalog.models, *catalog.chips, *(o.id for o in catalog.offers)]
    hint = closest(name, known)
    more = f"; did you mean '{hint}'?" if hint else ""
    elsewhere = _shipped_with(name, besides=catalog.name)
    if elsewhere:
        more = f"; the shipped catalog '{elsewhere}' has it (--catalog {elsewhere})"
    error(f"catalog '{catalog.name}' has no model, chip or offer '{name}'{more}")
    return 1


def _show(catalog, name: str) -> int:
    lowered = name.lower()
    offers = {o.id.lower(): o for o in catalog.offers}
    models = {k.lower(): m for k, m in catalog.models.items()}
    if lowered in offers:
        print("\n".join(_offer_lines(catalog, offers[lowered])))
    elif lowered in models:
        print("\n".join(_model_lines(catalog, models[lowered])))
    elif catalog.find_chip(name) is not None:
        print("\n".join(_chip_lines(catalog, catalog.find_chip(name))))
    elif catalog.find_model(name):
        for offer in catalog.find_model(name):
            print("\n".join(_offer_lines(catalog, offer)))
    else:
        return _unknown(catalog, name)
    return 0


def _fields(entry, skip=("name",)) -> list[str]:
    data = entry.model_dump(exclude_none=True)
    width = max((len(k) for k in data), default=0)
    return [f"  {k.ljust(width)}  {_value(k, v)}" for k, v in data.items() if k not in skip]


def _value(key: str, value) -> str:
    if key == "thinking" and isinstance(value, dict):  # how a model reasons, read aloud
        tokens = ", ".join(f"{e} {t:,.0f}" for e, t in value.get("tokens", {}).items())
        grows = ", ".join(f"{e} +{t:g}" for e, t in value.get("per_input_ktok", {}).items())
        text = (
            f"{'hidden ' if value.get('hidden', True) else ''}reasoning tokens per call:"
            f" {tokens}; default effort {value.get('default_effort')}"
        )
        text += f"; per 1k input tokens: {grows}" if grows else ""
        return text + (f"; source: {value['source']}" if value.get("source") else "")
    if key == "api_base":
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(str(value))
        if parts.username or parts.password:  # never print credentials in a URL
            host = parts.hostname or ""
            host += f":{parts.port}" if parts.port else ""
            value = urlunsplit(parts._replace(netloc=f"***@{host}"))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _offer_summary(o) -> str:
    return (
        f"    {o.id}  {o.litellm}  {o.output_tps:g} tok/s  ttft {o.ttft_ms:g} ms"
        f"  ${o.input_per_mtok:.4g}/${o.output_per_mtok:.4g} per Mtok"
    )


def _model_lines(catalog, model) -> list[str]:
    lines = [f"model {model.name}", *_fields(model), "  offers:"]
    lines += [_offer_summary(o) for o in catalog.offers if o.model == model.name] or ["    (none)"]
    return lines


def _chip_lines(catalog, chip) -> list[str]:
    lines = [f"chip {chip.name}", *_fields(chip), "  offers:"]
    lines += [_offer_summary(o) for o in catalog.offers if o.chip == chip.name] or ["    (none)"]
    return lines


def _offer_lines(catalog, offer) -> list[str]:
    model, chip = catalog.model_of(offer), catalog.chip_of(offer)
    skills = ", ".join(
        f"{s} {model.skill(s)}" for s in ("reasoning", "coding", "extraction", "vision")
    )
    example_in, example_out = 10_000, 500
    thinks = offer.reasoning_tokens(None, example_in)
    reasoning = (
        f" + {thinks:,.0f} reasoning at {offer.thinking.effort(None)}" if offer.thinking else ""
    )
    return [
        f"offer {offer.id}",
        *_fields(offer, skip=()),
        f"  model: {skills}; context {model.context}",
        f"  chip: {chip.vendor}, handoff {chip.handoff_ms:g} ms",
        f"  a call of {example_in} input / {example_out} output tokens{reasoning}:"
        f" {offer.call_latency_s(example_in, example_out + thinks):.2f} s,"
        f" ${offer.call_cost_usd(example_in, example_out + thinks):.5f}",
    ]


# ---- measure --------------------------------------------------------------


def _measure(args: argparse.Namespace) -> int:
    from hetflow.catalog import load_catalog
    from hetflow.runtime.local.measure import measure_catalog

    catalog = load_catalog(args.catalog)
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731
    found = measure_catalog(
        catalog, args.offers, args.output, progress=sys.stderr.isatty(), say=say
    )
    for f in found:
        scaling = ", ".join(f"{k}: {v:.0f}" for k, v in f.throughput.items())
        say(
            f"{f.offer}: ttft {f.ttft_ms:.0f} ms, prefill {f.prefill_tps:.0f} tok/s, "
            f"output {f.output_tps:.1f} tok/s, throughput by requests in flight {{{scaling}}}"
        )
    if args.output != "-":
        say(f"wrote {args.output}")
    return 0
