"""Outcome of every file of ../shared/data/docs, per format: indexed, or refused by typed code.

    python bench/format_outcomes.py [--docs ../shared/data/docs] [--list]

Each file goes through the sandboxed parse (default limits, 60 s, 2 GiB) and the chunker, as
the worker does. Prints one row per file extension: files, indexed, and the refusals by error
code; an ``internal_error`` or an untyped exception would be listed as such (there should be
none). ``--list`` also prints each refused file with its message.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

from docrag.errors import DocRAGError
from docrag.ingest.chunking import chunk_document
from docrag.ingest.parsers import ParseLimits
from docrag.ingest.sandbox import ParseSandbox
from docrag.text.tokenizer import count_tokens

DOCS = Path(__file__).resolve().parents[2] / "shared" / "data" / "docs"


def outcome(sandbox: ParseSandbox, path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    if not data.strip():
        return "empty_file", "the file is empty"
    try:
        parsed = sandbox.parse(data, path.name)
    except DocRAGError as exc:
        return exc.code, exc.message
    except Exception as exc:  # would be a bug: reported, not hidden
        return "UNTYPED", f"{type(exc).__name__}: {exc}"
    drafts = chunk_document(parsed, max_tokens=512, target_tokens=300, count_tokens=count_tokens)
    return ("indexed", "") if drafts else ("no_text_found", "no chunks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--list", action="store_true", help="print each refused file and its message")
    args = parser.parse_args()
    files = sorted(p for p in args.docs.rglob("*") if p.is_file())
    table: dict[str, Counter[str]] = defaultdict(Counter)
    refused: list[str] = []
    sandbox = ParseSandbox(ParseLimits(), timeout_seconds=60, memory_mb=2048)
    try:
        for path in files:
            code, message = outcome(sandbox, path)
            table[path.suffix.lower() or "(none)"][code] += 1
            if code != "indexed":
                refused.append(f"{path.relative_to(args.docs)}: {code}: {message[:160]}")
    finally:
        sandbox.close()
    print(f"{'format':<10} {'files':>5} {'indexed':>7}  refused by code")
    total: Counter[str] = Counter()
    for suffix in sorted(table, key=lambda s: (-sum(table[s].values()), s)):
        counts = table[suffix]
        total.update(counts)
        rest = ", ".join(f"{code} {n}" for code, n in sorted(counts.items()) if code != "indexed")
        print(f"{suffix:<10} {sum(counts.values()):>5} {counts['indexed']:>7}  {rest}")
    rest = ", ".join(f"{code} {n}" for code, n in sorted(total.items()) if code != "indexed")
    print(f"{'all':<10} {sum(total.values()):>5} {total['indexed']:>7}  {rest}")
    untyped = total["UNTYPED"] + total["internal_error"]
    print(f"typed outcomes: {sum(total.values()) - untyped}/{sum(total.values())}")
    if args.list:
        print("\n".join(refused))


if __name__ == "__main__":
    main()
