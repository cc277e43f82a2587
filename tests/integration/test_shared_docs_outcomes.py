"""Every file of ../shared/data/docs is indexed or refused with a typed reason (issue 19, point 4).

Each file goes through the sandboxed parse and the chunker, as the worker does. An outcome is
typed when it is chunks, or a :class:`DocRAGError` whose code is not ``internal_error`` and
whose message is readable; anything else (an untyped exception escaping the parser, the chunker
crashing on a parsed document) fails the test and is listed with its file.

The set is evaluation data outside the repository: without it the test is skipped, except
under ``CI=true``, where a missing set is a failure (it would otherwise pass by testing nothing).
"""

from __future__ import annotations

from collections import Counter

from ci_strict import require
from docrag.errors import DocRAGError
from docrag.ingest.chunking import chunk_document
from docrag.ingest.parsers import ParseLimits
from docrag.ingest.sandbox import ParseSandbox
from docrag.text.tokenizer import count_tokens
from paths import DOCS

#: Extensions the shared set holds whose format has a parser of its own (issue 19).
PARSED_FORMATS = (
    ".pptx",
    ".xlsx",
    ".csv",
    ".tsv",
    ".eml",
    ".msg",
    ".epub",
    ".odt",
    ".rtf",
    ".json",
    ".ndjson",
)


def _outcome(sandbox: ParseSandbox, data: bytes, name: str) -> str:
    """'indexed', or the typed error code; raises what is not typed."""
    if not data.strip():
        return "empty_file"  # Ingestor.check_size refuses these before parsing
    try:
        parsed = sandbox.parse(data, name)
    except DocRAGError as exc:
        assert exc.code != "internal_error", exc.message
        assert len(exc.message) > 10, f"unreadable message {exc.message!r}"
        return exc.code
    drafts = chunk_document(parsed, max_tokens=512, target_tokens=300, count_tokens=count_tokens)
    return "indexed" if drafts else "no_text_found"


def test_every_shared_doc_has_a_typed_outcome() -> None:
    require(DOCS.is_dir(), f"the evaluation set {DOCS}")
    files = sorted(p for p in DOCS.rglob("*") if p.is_file())
    assert len(files) > 100, f"only {len(files)} files under {DOCS}"
    sandbox = ParseSandbox(ParseLimits(), timeout_seconds=60, memory_mb=2048)
    outcomes: Counter[str] = Counter()
    by_format: dict[str, Counter[str]] = {suffix: Counter() for suffix in PARSED_FORMATS}
    untyped: list[str] = []
    try:
        for path in files:
            try:
                outcome = _outcome(sandbox, path.read_bytes(), path.name)
                outcomes[outcome] += 1
                if path.suffix.lower() in by_format:
                    by_format[path.suffix.lower()][outcome] += 1
            except Exception as exc:  # collected so one run lists every failing file
                untyped.append(f"{path.relative_to(DOCS)}: {type(exc).__name__}: {exc}")
    finally:
        sandbox.close()
    assert not untyped, "\n".join(untyped)
    assert outcomes["indexed"] > len(files) // 2, outcomes
    # Formats with a parser (issue 19): none is refused as unsupported, and most are indexed.
    for suffix, counts in by_format.items():
        assert "unsupported_file_type" not in counts, (suffix, counts)
        assert counts["indexed"] >= 0.75 * sum(counts.values()), (suffix, counts)
