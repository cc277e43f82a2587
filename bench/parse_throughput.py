"""Parsing and chunking throughput per format, and the cost of chunking a long text of short lines.

    python bench/parse_throughput.py --data ../shared/data/docs [--ocr] [--limit 20] [--skip-long]

Part 1, per format (by file extension under ``--data``): the files that parse are parsed in this
process (no sandbox) and chunked structurally; prints bytes/s and pages/s of parsing. With
``--ocr``, images and scanned PDF pages go through Tesseract (DOCRAG_OCR=on).

Part 2, the 450 KB case (issue 19): a generated text of ~12,600 short lines (log-like records,
one per line, no blank lines) is chunked with ``DOCRAG_CHUNKING=semantic`` and the bundled model,
then its chunks are embedded as ingestion embeds them. Prints the seconds of each and their
ratio: chunking should cost little next to embedding the chunks (it used to cost 0.8 times as
much again, a model pass over every line).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from pathlib import Path

from docrag.errors import DocRAGError
from docrag.ingest.chunking import chunk_document
from docrag.ingest.parsers import OcrOptions, ParseLimits, parse

_FORMATS = {
    ".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html", ".md": "markdown",
    ".txt": "text", ".png": "image", ".jpg": "image", ".jpeg": "image", ".tif": "image", ".tiff": "image",
}  # fmt: skip


def per_format(data: Path, limit: int, ocr: bool) -> None:
    limits = ParseLimits(ocr=OcrOptions() if ocr else None)
    files: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(data.rglob("*")):
        kind = _FORMATS.get(path.suffix.lower())
        if kind and path.is_file() and len(files[kind]) < limit:
            files[kind].append(path)
    for kind, paths in sorted(files.items()):
        size = pages = ok = 0
        seconds = 0.0
        for path in paths:
            raw = path.read_bytes()
            t0 = time.perf_counter()
            try:
                doc = parse(raw, path.name, limits)
                chunk_document(doc)
            except DocRAGError:
                continue
            seconds += time.perf_counter() - t0
            size += len(raw)
            pages += doc.page_count or 0
            ok += 1
        row = {
            "format": kind,
            "files": ok,
            "bytes": size,
            "seconds": round(seconds, 2),
            "bytes_per_s": round(size / seconds) if seconds else None,
            "pages_per_s": round(pages / seconds, 2) if seconds and pages else None,
        }
        print(json.dumps(row), flush=True)


def short_lines(target_bytes: int = 450_000) -> bytes:
    """Log-like records: a timestamp, a level, a short message (~40 bytes a line)."""
    rng = random.Random(19)
    words = "disk cache user login failed ok retry queue job done start stop timeout read write sync".split()
    lines, size = [], 0
    while size < target_bytes:
        line = f"2026-01-{rng.randint(1, 28):02d} {rng.choice(['INFO', 'WARN', 'ERROR'])} " + " ".join(
            rng.choice(words) for _ in range(rng.randint(2, 5))
        )
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines).encode()


def long_short_lines() -> None:
    from docrag.ingest.pipeline import _relative_spans
    from docrag.providers.minilm_onnx import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    embedder.warm_up()
    raw = short_lines()
    doc = parse(raw, "records.txt")
    t0 = time.perf_counter()
    drafts = chunk_document(doc, mode="semantic", embed=embedder.embed_batch)
    chunking = time.perf_counter() - t0
    t0 = time.perf_counter()
    embedder.embed_passages([d.contextual_text for d in drafts], [_relative_spans(d) for d in drafts])
    embedding = time.perf_counter() - t0
    row = {
        "case": "450 KB of short lines",
        "bytes": len(raw),
        "lines": raw.count(b"\n") + 1,
        "chunks": len(drafts),
        "semantic_chunking_s": round(chunking, 2),
        "embedding_chunks_s": round(embedding, 2),
        "chunking_over_embedding": round(chunking / embedding, 2),
        "bytes_per_s_chunk_and_embed": round(len(raw) / (chunking + embedding)),
    }
    print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/data/docs"))
    parser.add_argument("--limit", type=int, default=20, help="files per format")
    parser.add_argument("--ocr", action="store_true")
    parser.add_argument("--skip-formats", action="store_true")
    parser.add_argument("--skip-long", action="store_true", help="skip the 450 KB case")
    parser.add_argument(
        "--semantic-everywhere",
        action="store_true",
        help="the behaviour before issue 19: semantic cuts in sections of any length (for comparison)",
    )
    args = parser.parse_args()
    if args.semantic_everywhere:
        import docrag.ingest.chunking

        docrag.ingest.chunking._SEMANTIC_MAX_PIECES = 10**9
    if not args.skip_formats:
        per_format(args.data, args.limit, args.ocr)
    if not args.skip_long:
        long_short_lines()


if __name__ == "__main__":
    main()
