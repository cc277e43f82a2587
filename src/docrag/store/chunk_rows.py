"""Chunk rows: how a document's chunks are inserted, and their OCR boxes read back.

Boxes are stored per chunk as a JSON array (migration 0140): ``{"start", "end", "page",
"box": [left, top, right, bottom], "width", "height"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from docrag.domain import StoredChunk, TextBox
from docrag.domain.records import box_record

__all__ = ["box_from", "box_record", "embedded_spans", "insert_chunks"]


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


def insert_chunks(
    conn: psycopg.Connection[Any],
    tenant_id: UUID,
    collection_id: UUID,
    document_id: UUID,
    chunks: Sequence[StoredChunk],
) -> None:
    """Insert a document's chunks (inside the caller's transaction); UNIQUE (document_id, ord)
    makes a second copy of any chunk impossible."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO chunks (tenant_id, collection_id, document_id, ord, start_offset,"
            " end_offset, heading_path, page_start, page_end, content, body, embedding,"
            " sentence_spans, sentence_vectors, boxes)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    tenant_id,
                    collection_id,
                    document_id,
                    c.draft.ord,
                    c.draft.start,
                    c.draft.end,
                    list(c.draft.heading_path),
                    c.draft.page_start,
                    c.draft.page_end,
                    c.content,
                    c.draft.body,
                    np.asarray(c.embedding, dtype=np.float32),
                    [offset for span in c.draft.sentences for offset in span],
                    c.sentence_vectors,
                    Jsonb([box_record(b) for b in c.draft.boxes]) if c.draft.boxes else None,
                )
                for c in chunks
            ],
        )


def embedded_spans(row: dict[str, Any]) -> list[tuple[int, int]]:
    """A stored chunk's sentence spans as offsets into its embedded text (heading path + body),
    from a row with ``content``, ``body``, ``start_offset`` and ``sentence_spans``: the spans
    its sentence vectors were pooled over (see ingest/pipeline.py's ``_relative_spans``)."""
    shift = len(row["content"]) - len(row["body"]) - row["start_offset"]
    flat = row["sentence_spans"]
    return [(s + shift, e + shift) for s, e in zip(flat[0::2], flat[1::2], strict=True)]
