"""PDF page text: pypdf's extractor (the old reader) against PDFium (docrag/ingest/parsers/pdf_text.py).

    python bench/pdf_text.py --data ../shared/data/docs [--limit N] [--worst 20]

For every PDF pypdf can open (decrypted with the empty password, at most 2000 pages), each page is
read both ways and goes through the same paragraph logic (``_add_page``). Prints one JSON line per
file: the CPU seconds of each reader (PDFium's includes the decompression check of its streams),
the difflib ratio of the two word sequences (per page, weighted by length), and the share of the
old words (a multiset) found in the new text (``recall``) and of the new in the old
(``precision``); then the totals and the files that differ most.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import logging
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pypdf

from docrag.domain import DocumentBuilder
from docrag.ingest.parsers.pdf import MAX_DECOMPRESSED, MAX_PAGES, _add_page, _limits
from docrag.ingest.parsers.pdf_text import PageTexts


def words(page_text: str) -> list[str]:
    builder = DocumentBuilder("application/pdf")
    _add_page(builder, page_text, 1, [])
    return builder.build().text.split()


def timed(read: Any, pages: list[Any]) -> tuple[list[str], float]:
    started = time.process_time()
    texts = []
    for number, page in enumerate(pages, start=1):
        try:
            texts.append(read(number, page))
        except Exception:  # a page either reader fails on counts as empty text here
            texts.append("")
    return texts, time.process_time() - started


def compare(path: Path) -> dict[str, Any] | None:
    data = path.read_bytes()
    with _limits(MAX_DECOMPRESSED):
        try:
            reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                return None
            pages = list(reader.pages)
        except Exception:  # unreadable for pypdf: the parser refuses it before any text is read
            return None
        if len(pages) > MAX_PAGES:
            return None
        old, old_s = timed(lambda _, page: page.extract_text() or "", pages)
        texts = PageTexts(data, reader)
        new, new_s = timed(texts.text, pages)
    old_words, new_words = Counter[str](), Counter[str]()
    matched = weight = 0.0
    for before, after in zip(old, new, strict=True):
        a, b = words(before), words(after)
        old_words.update(a)
        new_words.update(b)
        if a or b:
            size = max(len(a), len(b))
            matched += difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() * size
            weight += size
    common = sum((old_words & new_words).values())
    return {
        "pages": len(pages),
        "pypdf_s": round(old_s, 3),
        "pdfium_s": round(new_s, 3),
        "ratio": round(matched / weight, 4) if weight else 1.0,
        "recall": round(common / old_words.total(), 4) if old_words else 1.0,
        "precision": round(common / new_words.total(), 4) if new_words else 1.0,
        "words": [old_words.total(), new_words.total()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=0, help="at most this many PDFs")
    parser.add_argument("--worst", type=int, default=20, help="files listed by lowest ratio")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)  # pypdf logs every oddity of the damaged files
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(args.data.rglob("*.pdf")):
        if args.limit and len(rows) >= args.limit:
            break
        row = compare(path)
        if row is not None:
            rows[str(path.relative_to(args.data))] = row
            print(json.dumps({"file": str(path.relative_to(args.data)), **row}), flush=True)
    old = sum(r["words"][0] for r in rows.values()) or 1

    def weighted(key: str) -> float:  # by each file's old word count
        return round(sum(r[key] * r["words"][0] for r in rows.values()) / old, 4)

    total = {
        "files": len(rows),
        "pypdf_s": round(sum(r["pypdf_s"] for r in rows.values()), 2),
        "pdfium_s": round(sum(r["pdfium_s"] for r in rows.values()), 2),
        "identical_files": sum(r["ratio"] == 1.0 for r in rows.values()),
        "median_ratio": sorted(r["ratio"] for r in rows.values())[len(rows) // 2] if rows else None,
        "weighted_ratio": weighted("ratio"),
        "weighted_recall": weighted("recall"),
    }
    print(json.dumps({"total": total}))
    for name, row in sorted(rows.items(), key=lambda item: item[1]["ratio"])[: args.worst]:
        print(json.dumps({"worst": name, **row}))


if __name__ == "__main__":
    main()
