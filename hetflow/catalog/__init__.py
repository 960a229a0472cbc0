"""The hardware catalog: chips, the models served on them, their speed and price.

>>> from hetflow.catalog import load_catalog
>>> cat = load_catalog(None)
>>> cat.strongest_offer().model
'gpt-5'
"""

from hetflow.catalog.load import CatalogError, load_catalog, parse_catalog
from hetflow.catalog.schema import SKILLS, Catalog, Chip, Model, Offer

__all__ = [
    "SKILLS",
    "Catalog",
    "CatalogError",
    "Chip",
    "Model",
    "Offer",
    "load_catalog",
    "parse_catalog",
]
