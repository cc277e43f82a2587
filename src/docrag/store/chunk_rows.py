"""Chunk rows read back: their OCR boxes, and the spans their sentence vectors were pooled over
(they are written by store/document_writes.py).

Boxes are stored per chunk as a JSON array (migration 0140): ``{"start", "end", "page",
"box": [left, top, right, bottom], "width", "height"}``.
"""

from __future__ import annotations

from typing import Any

from docrag.domain import TextBox
from docrag.domain.records import box_record

__all__ = ["box_from", "box_record", "embedded_spans"]


def box_from(record: dict[str, Any]) -> TextBox:
    left, top, right, bottom = (int(v) for v in record["box"])
    return TextBox(
        int(record["start"]),
        int(record["end"]),
        int(record["page"]),
        (left, top, right, bottom),
        int(record["width"]),
        int(record["height"]),
    )


def embedded_spans(row: dict[str, Any]) -> list[tuple[int, int]]:
    """A stored chunk's sentence spans as offsets into its embedded text (heading path + body),
    from a row with ``content``, ``body``, ``start_offset`` and ``sentence_spans``: the spans
    its sentence vectors were pooled over (see ingest/pipeline.py's ``_relative_spans``)."""
    shift = len(row["content"]) - len(row["body"]) - row["start_offset"]
    flat = row["sentence_spans"]
    return [(s + shift, e + shift) for s, e in zip(flat[0::2], flat[1::2], strict=True)]
