"""Run-time values that are not plain JSON: images, and how every value is stored.

A step's value is JSON-like (text, numbers, bools, records, lists) or an
:class:`Image` — what an ``image`` input or a ``zoom`` step holds.  An image keeps its
encoded bytes (PNG after a zoom) and its media type; a prompt that renders it sends it
to the model as a ``data:`` URL, and the journal and the command's output store it the
same way, so every value round-trips through JSON.

>>> img = Image(b"\\x89PNG...", "image/png")
>>> from_json(to_json({"focus": img}))["focus"] == img
True
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass
from typing import Any

_TAG = "__hetflow_image__"


@dataclass(frozen=True)
class Image:
    """An encoded image: ``data`` (PNG, JPEG... bytes) and its ``mime`` type."""

    data: bytes
    mime: str = "image/png"

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def pil(self):
        """The image decoded with Pillow."""
        from PIL import Image as PILImage

        return PILImage.open(io.BytesIO(self.data))

    @property
    def size(self) -> tuple[int, int]:
        with self.pil() as im:
            return im.size

    @classmethod
    def from_pil(cls, im) -> Image:
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return cls(buf.getvalue(), "image/png")

    @classmethod
    def from_data_url(cls, url: str) -> Image:
        head, _, payload = url.partition(",")
        mime = head.removeprefix("data:").split(";")[0] or "image/png"
        return cls(base64.b64decode(payload), mime)

    def __repr__(self) -> str:
        return f"Image({self.mime}, {len(self.data)} bytes)"


def encode(value: Any) -> Any:
    """A JSON-able copy of a value (images become tagged data URLs)."""
    if isinstance(value, Image):
        return {_TAG: value.data_url()}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(value, dict):
        if len(value) == 1 and _TAG in value:
            return Image.from_data_url(value[_TAG])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


# json.dumps(..., ensure_ascii=False, sort_keys=True, default=str) builds this encoder
# on every call; the journal writes one value per node.
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)


def to_json(value: Any) -> str:
    return _ENCODER.encode(value if type(value) is str else encode(value))


def from_json(text: str) -> Any:
    return decode(json.loads(text))


def for_output(value: Any) -> Any:
    """How a value shows in ``hetflow run``'s JSON output: images as data URLs, a number
    JSON cannot hold (NaN, infinity) as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Image):
        return value.data_url()
    if isinstance(value, dict):
        return {k: for_output(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [for_output(v) for v in value]
    return value


def has_image(value: Any) -> bool:
    if isinstance(value, Image):
        return True
    if isinstance(value, dict):
        return any(has_image(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_image(v) for v in value)
    return False
