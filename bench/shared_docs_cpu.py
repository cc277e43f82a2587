"""CPU seconds to parse and chunk every file of ../shared/data/docs, by stage (issue 13).

    python bench/shared_docs_cpu.py [--data ../shared/data/docs] [--digests out.json] [--compare before.json]

Each file is parsed in this process (``docrag.ingest.parsers.parse``, no sandbox: its child's CPU
would be hidden from ``time.process_time``) and chunked as tests/integration/test_shared_docs_outcomes.py
chunks it (512/300 tokens). Prints the CPU seconds of parsing, of the PDF stages inside it (PDFium's
page text, the table search of docrag/ingest/parsers/pdf_tables.py, split by pages where a table was
found or not), of chunking and of the token counting inside it, and the characters tokenized.

``--no-deadline`` lifts the table search's wall-clock limit (MAX_SECONDS a document): on a loaded
machine it cuts the search short, and digests from two runs would differ by the load alone.
``--digests`` writes, per file, a hash of the parsed document (text, blocks, pages, title), of the
table search's answer for every page it was asked about, and of the chunk drafts; ``--compare``
checks them against such a file from before a change and lists every file that differs, so a
speed-up can be shown to change no outcome.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from docrag.errors import DocRAGError
from docrag.ingest.chunking import chunk_document
from docrag.ingest.parsers import ParseLimits, parse, pdf_tables
from docrag.ingest.parsers.pdf_tables import MAX_PAGES_LOOKED_AT, PageTables
from docrag.ingest.parsers.pdf_text import PageTexts
from docrag.text.tokenizer import count_tokens

seconds: Counter[str] = Counter()
counts: Counter[str] = Counter()
regions_seen: list[Any] = []


def timed(stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with its CPU seconds added to ``seconds[stage]`` (nested stages overlap)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[stage] += time.process_time() - started

    return wrapper


def instrument() -> None:
    """Time the PDF stages in place: a bench measures the real code, so it wraps, not copies, it."""
    PageTexts.text = timed("pdf_text", PageTexts.text)  # type: ignore[method-assign]
    search = PageTables.regions

    def regions(self: PageTables, page: int) -> Any:
        looked_at = self.looked_at
        started = time.process_time()
        found = search(self, page)
        spent = time.process_time() - started
        searched = self.looked_at > looked_at
        kind = "table_search_found" if found else "table_search_none" if searched else "table_skipped"
        if not searched and self.looked_at < MAX_PAGES_LOOKED_AT and time.monotonic() > self._deadline:
            counts["pages_past_deadline"] += 1  # wall-clock: a loaded machine searches fewer pages
        seconds[kind] += spent
        counts[kind + "_pages"] += 1
        regions_seen.append((page, found))
        return found

    PageTables.regions = regions  # type: ignore[method-assign]


def counting(text: str) -> int:
    counts["chars_tokenized"] += len(text)
    counts["token_counts"] += 1
    started = time.process_time()
    try:
        return count_tokens(text)
    finally:
        seconds["token_counting"] += time.process_time() - started


def digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def run(data: Path) -> dict[str, dict[str, str]]:
    files = sorted(p for p in data.rglob("*") if p.is_file())
    digests: dict[str, dict[str, str]] = {}
    limits = ParseLimits()
    count_tokens("warm up")  # the tokenizer's load is not chunking
    for path in files:
        raw = path.read_bytes()
        if not raw.strip():
            continue
        regions_seen.clear()
        started = time.process_time()
        try:
            doc = parse(raw, path.name, limits)
        except DocRAGError as exc:
            seconds["parse"] += time.process_time() - started
            digests[str(path.relative_to(data))] = {"error": exc.code}
            continue
        seconds["parse"] += time.process_time() - started
        counts["chars_parsed"] += len(doc.text)
        started = time.process_time()
        drafts = chunk_document(doc, max_tokens=512, target_tokens=300, count_tokens=counting)
        seconds["chunking"] += time.process_time() - started
        digests[str(path.relative_to(data))] = {
            "doc": digest((doc.text, doc.blocks, doc.page_count, doc.title, doc.mime, doc.boxes)),
            "tables": digest(regions_seen),
            "chunks": digest(drafts),
        }
    return digests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/data/docs"))
    parser.add_argument("--digests", type=Path, help="write each file's digests here")
    parser.add_argument("--compare", type=Path, help="digests from before a change, to check against")
    parser.add_argument(
        "--no-deadline",
        action="store_true",
        help="no wall-clock limit on a PDF's table search, so that a loaded machine searches as many pages",
    )
    args = parser.parse_args()
    if args.no_deadline:
        pdf_tables.MAX_SECONDS = float("inf")
    instrument()
    started = time.process_time()
    digests = run(args.data)
    seconds["total"] = time.process_time() - started
    print(json.dumps({"cpu_s": {k: round(v, 2) for k, v in sorted(seconds.items())}, **counts}, indent=1))
    if args.digests:
        args.digests.write_text(json.dumps(digests, indent=1, sort_keys=True))
    if args.compare:
        before = json.loads(args.compare.read_text())
        names = before.keys() | digests.keys()
        changed = sorted(name for name in names if before.get(name) != digests.get(name))
        print(json.dumps({"files": len(digests), "changed": changed}, indent=1))
        if changed:
            sys.exit(1)


if __name__ == "__main__":
    main()
