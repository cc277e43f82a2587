"""Pages of text rendered as images, as a scanner would give them, for the OCR tests."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

#: (top in pixels, text): two lines of one paragraph, then a paragraph further down.
PAGE_ONE = [
    (100, "The quarterly revenue grew by twelve percent."),
    (150, "Invoices are due within thirty days."),
    (500, "Penguins live mostly in the Southern Hemisphere."),
]
PAGE_TWO = [(120, "The second page talks about lighthouses and ships.")]


def page(lines: list[tuple[int, str]]) -> Image.Image:
    image = Image.new("L", (1700, 900), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 36)
    for top, text in lines:
        draw.text((100, top), text, font=font, fill=0)
    return image


def encoded(image: Image.Image, kind: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()
