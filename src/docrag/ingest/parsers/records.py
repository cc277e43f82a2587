"""JSON and NDJSON parsing as records: each record flattened to ``key.path: value`` lines and
kept whole as one citable block (a ``TABLE_ROW``: never cut by the chunker unless it alone is
longer than a chunk).

A top-level array (or each NDJSON line) gives one record per item; a top-level object gives one
record per key, under that key as a heading when its value is an array of objects. Arrays are
capped at :data:`MAX_ITEMS` items and nesting at :data:`MAX_DEPTH` levels (the rest is noted).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument
from docrag.errors import FileTooLarge, UnreadableFile
from docrag.ingest.detect import decode_text
from docrag.ingest.formats import JSON, NDJSON

#: Records of one document, and items of one array inside a record.
MAX_RECORDS = 100_000
MAX_ITEMS = 1_000
MAX_DEPTH = 32


def parse_json(data: bytes) -> ParsedDocument:
    try:
        value = json.loads(decode_text(data))
    except RecursionError as exc:
        raise UnreadableFile("the JSON is nested too deeply to read") from exc
    except ValueError as exc:
        raise UnreadableFile(f"the file is not valid JSON: {exc}") from exc
    builder = DocumentBuilder(JSON)
    count = 0
    if isinstance(value, dict) and any(_is_records(item) for item in value.values()):
        for key, item in value.items():
            if _is_records(item):
                builder.add(BlockKind.HEADING, str(key), level=1)
                count = _add_records(builder, item, count)
            else:
                count = _add_records(builder, [{key: item}], count)
    else:
        count = _add_records(builder, value if isinstance(value, list) else [value], count)
    return builder.build()


def parse_ndjson(data: bytes) -> ParsedDocument:
    builder = DocumentBuilder(NDJSON)
    records: list[Any] = []
    for number, line in enumerate(decode_text(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except RecursionError as exc:
            raise UnreadableFile(f"line {number} is nested too deeply to read") from exc
        except ValueError as exc:
            raise UnreadableFile(f"line {number} is not valid JSON: {exc}") from exc
        if len(records) > MAX_RECORDS:
            raise FileTooLarge(f"the file has more than {MAX_RECORDS} records")
    _add_records(builder, records, 0)
    return builder.build()


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value[:10])


def _add_records(builder: DocumentBuilder, records: list[Any], count: int) -> int:
    for record in records:
        count += 1
        if count > MAX_RECORDS:
            raise FileTooLarge(f"the file has more than {MAX_RECORDS} records")
        builder.add(BlockKind.TABLE_ROW, "\n".join(flatten(record)))
    return count


def flatten(value: Any, path: str = "", depth: int = 0) -> Iterator[str]:
    """``path: value`` lines for the scalars inside ``value``."""
    if depth > MAX_DEPTH:
        yield f"{path}: (nested deeper than {MAX_DEPTH} levels; left out)"
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value[:MAX_ITEMS]):
            yield from flatten(item, f"{path}[{index}]", depth + 1)
        if len(value) > MAX_ITEMS:
            yield f"{path}: ({len(value) - MAX_ITEMS} more items left out)"
    else:
        text = "" if value is None else json.dumps(value) if isinstance(value, bool) else str(value)
        if text.strip():
            yield f"{path}: {text}" if path else text
