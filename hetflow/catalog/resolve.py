"""Check a catalog's entries against each other and fill in default prices.

Field-by-field checks (types, ranges) are pydantic's; what needs the whole
catalog is here: an offer must name a known model and chip, is listed once,
and has a price — its own, per hour, or litellm's.  Each problem comes with
the place it is about (``("offers", 3, "chip")``) so the loader can point at
the line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hetflow.catalog.prices import lookup
from hetflow.errors import closest

if TYPE_CHECKING:
    from hetflow.catalog.schema import Catalog, Offer

Loc = tuple  # ("offers", 3, "chip"), ("models", "gpt-5", "context"), ...
Problem = tuple[Loc, str]


def resolve(catalog: Catalog) -> list[Problem]:
    """Check references and fill prices in place; return the problems found."""
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    for index, offer in enumerate(catalog.offers):
        where = ("offers", index)
        for field, table in (("model", catalog.models), ("chip", catalog.chips)):
            name = getattr(offer, field)
            if name not in table:
                hint = closest(name, table)
                more = f"; did you mean '{hint}'?" if hint else ""
                problems.append(
                    (
                        where + (field,),
                        f"offer '{offer.id}' names an unknown {field} '{name}'{more}",
                    )
                )
        if offer.id in first_seen:
            problems.append(
                (
                    where,
                    f"offer '{offer.id}' is listed twice (also offers[{first_seen[offer.id]}]);"
                    " a model is offered once per chip",
                )
            )
        else:
            first_seen[offer.id] = index
        priced, problem = _priced(offer)
        if problem:
            problems.append((where + (problem[0],), problem[1]))
        else:
            catalog.offers[index] = _thinking(priced, catalog)
    return problems


def _thinking(offer: Offer, catalog: Catalog) -> Offer:
    """An offer that says nothing of reasoning reasons as its model does."""
    model = catalog.models.get(offer.model)
    if offer.thinking is not None or model is None or model.thinking is None:
        return offer
    return offer.model_copy(update={"thinking": model.thinking})


def _priced(offer: Offer) -> tuple[Offer, tuple[str, str] | None]:
    """The offer with both per-token prices set, or the field and why it cannot be."""
    given_in, given_out = offer.input_per_mtok, offer.output_per_mtok
    if offer.per_hour is not None:
        derived = offer.prices_from == "per_hour"  # a dumped catalog validated again
        if (given_in is not None or given_out is not None) and not derived:
            return offer, (
                "per_hour",
                f"offer '{offer.id}' has both per_hour and per-token prices; give one or the other",
            )
        # The per-token price a busy self-hosted machine works out to (the
        # time-to-first-token share is only in Offer.call_cost_usd).
        slot_per_s = offer.per_hour / 3600.0 / offer.concurrency
        return offer.model_copy(
            update={
                "input_per_mtok": round(slot_per_s / offer.prefill_tps * 1e6, 9),
                "output_per_mtok": round(slot_per_s / offer.output_tps * 1e6, 9),
                "prices_from": "per_hour",
            }
        ), None
    if given_in is not None and given_out is not None:
        return offer.model_copy(update={"prices_from": offer.prices_from or "catalog"}), None
    found = lookup(offer.litellm)
    if found is None:
        missing = " and ".join(
            k
            for k, v in (("input_per_mtok", given_in), ("output_per_mtok", given_out))
            if v is None
        )
        return offer, (
            "litellm",
            f"offer '{offer.id}' has no price: litellm's cost table has no '{offer.litellm}';"
            f" give {missing} (or per_hour for a self-hosted chip)",
        )
    return offer.model_copy(
        update={
            "input_per_mtok": given_in if given_in is not None else found.input_per_mtok,
            "output_per_mtok": given_out if given_out is not None else found.output_per_mtok,
            "prices_from": f"litellm:{found.key}",
        }
    ), None
