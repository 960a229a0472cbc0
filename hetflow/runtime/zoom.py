"""``zoom``: a vision model names the box that matters; Pillow crops and enlarges it.

The model sees the image and the goal and answers with a JSON box
``{"x0", "y0", "x1", "y1"}`` — in pixels, or as fractions of the width and height
(all four within 0..1).  The box is put in order and clamped to the image, cropped,
and scaled up (Lanczos) so its longer side is as long as the image's was, up to
``MAX_SIDE`` pixels — or by ``with scale=N`` if the step says so.  The result is an
:class:`~hetflow.runtime.values.Image` (PNG), which later vision prompts receive as a
``data:`` URL.

>>> crop_box({"x0": 0.5, "y0": 0, "x1": 1, "y1": 0.5}, (200, 100))
(100, 0, 200, 50)
>>> crop_box({"x0": 150, "y0": 80, "x1": 20, "y1": 10}, (200, 100))
(20, 10, 150, 80)
"""

from __future__ import annotations

from typing import Any

from hetflow.runtime.values import Image

MAX_SIDE = 2048

BOX_SCHEMA = {
    "type": "object",
    "properties": {k: {"type": "number"} for k in ("x0", "y0", "x1", "y1")},
    "required": ["x0", "y0", "x1", "y1"],
}


def messages(image: Image, goal: str) -> list[dict]:
    """What the vision model is asked."""
    w, h = image.size
    text = (
        f"The image is {w}x{h} pixels. Find the region of it that matters for this "
        f"goal: {goal}\n"
        'Reply with only a JSON object {"x0": ..., "y0": ..., "x1": ..., "y1": ...}: '
        "the box's left, top, right and bottom edges, in pixels or as fractions (0..1) "
        "of the width and height."
    )
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": image.data_url()}},
            ],
        }
    ]


def crop_box(box: dict[str, Any], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box in whole pixels, ordered and clamped to the image; at least 1x1."""
    w, h = size
    x0, y0, x1, y1 = (float(box[k]) for k in ("x0", "y0", "x1", "y1"))
    if max(x0, y0, x1, y1) <= 1.0 and min(x0, y0, x1, y1) >= 0.0:
        x0, x1, y0, y1 = x0 * w, x1 * w, y0 * h, y1 * h
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    left = min(max(int(round(x0)), 0), w - 1)
    top = min(max(int(round(y0)), 0), h - 1)
    right = max(min(int(round(x1)), w), left + 1)
    bottom = max(min(int(round(y1)), h), top + 1)
    return left, top, right, bottom


def crop(image: Image, box: dict[str, Any], scale: float | None = None) -> Image:
    from PIL import Image as PILImage

    with image.pil() as im:
        im.load()
        region = im.crop(crop_box(box, im.size))
        longer = max(region.size)
        factor = scale if scale else max(1.0, min(max(im.size), MAX_SIDE) / longer)
        if factor != 1.0:
            size = (max(1, round(region.width * factor)), max(1, round(region.height * factor)))
            if max(size) > MAX_SIDE:
                k = MAX_SIDE / max(size)
                size = (max(1, round(size[0] * k)), max(1, round(size[1] * k)))
            region = region.resize(size, PILImage.Resampling.LANCZOS)
        return Image.from_pil(region)
