"""``docrag eval parsing``: how faithfully files of ``../shared/data/docs`` are read.

Per format (the file's extension), over every document file of the sets (their PROVENANCE,
MANIFEST, licences and ground-truth files excluded), each parsed in the sandbox as a worker
parses it:

- ``typed``: the share of files that were read, or refused with a typed code other than
  ``internal_error`` (target 100 %); ``indexed``: the share that were read;
- ``text_f1``: character-level F1 of the parsed text against the expected text where a set
  has one (pypdf's expected-text ``.txt`` files, unstructured's ``gold_standard_cct``, the
  plain-text copy of ``language-docs/eng_spa_mult.*``; for the images of a page whose PDF is in
  the set, the text layer of that PDF's first page):
  both sides whitespace-normalised, matched characters are those of the longest matching
  blocks (difflib), precision over the parsed text and recall over the expected one;
- ``page_accuracy``: the share of PDFs whose page count equals py-pdf/sample-files'
  ``files.json``;
- ``table_cell_f1``: on the ICDAR 2013 competition set, the cells of the tables found on each
  ground-truth page (docrag/ingest/parsers/pdf_tables.py) against the cells of its ``-str.xml``
  tables, as multisets of whitespace-normalised cell texts, micro-averaged.

Nothing is copied from the data sets: they are read where they lie.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docrag.domain import ParsedDocument
from docrag.errors import DocRAGError
from docrag.ingest.parsers import ParseLimits, parse
from docrag.ingest.parsers.pdf_tables import PageTables
from docrag.ingest.sandbox import ParseSandbox

__all__ = ["ParsingReport", "char_f1", "run_parsing", "table_cells_f1"]

_ICDAR = "tables_icdar2013/src/test/resources/technology/tabula/icdar2013-dataset"
_GOLD_CCT = "unstructured/test_evaluate_files/gold_standard_cct"
_NOT_DOCUMENTS = {"PROVENANCE.txt", "MANIFEST.tsv", "LICENSE", "LICENSE.md", "files.json"}
_SPACES = re.compile(r"\s+")
_HEX = re.compile(r"[0-9a-fA-F\s]+")
#: Images of a page whose born-digital PDF is in the set: OCR is scored against its first page's text.
_SCANS = {
    "DA-1p": "unstructured/pdf/DA-1p.pdf",
    "layout-parser-paper-fast": "unstructured/pdf/layout-parser-paper-fast.pdf",
}


@dataclass
class _Format:
    files: int = 0
    indexed: int = 0
    typed: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    f1: list[float] = field(default_factory=list)
    pages_right: int = 0
    pages_checked: int = 0


@dataclass
class ParsingReport:
    formats: dict[str, _Format] = field(default_factory=lambda: defaultdict(_Format))
    #: (matched, predicted, expected) cells over the ICDAR set.
    cells: tuple[int, int, int] = (0, 0, 0)
    tables_files: int = 0
    untyped: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for name, f in sorted(self.formats.items()):
            out.append(
                {
                    "format": name,
                    "files": f.files,
                    "indexed": round(f.indexed / f.files, 4) if f.files else None,
                    "typed": round(f.typed / f.files, 4) if f.files else None,
                    "text_f1": round(sum(f.f1) / len(f.f1), 4) if f.f1 else None,
                    "text_f1_files": len(f.f1),
                    "page_accuracy": round(f.pages_right / f.pages_checked, 4) if f.pages_checked else None,
                    "refusals": dict(f.codes.most_common()),
                }
            )
        return out

    def summary(self) -> dict[str, Any]:
        matched, predicted, expected = self.cells
        total = sum(f.files for f in self.formats.values())
        typed = sum(f.typed for f in self.formats.values())
        return {
            "files": total,
            "typed": round(typed / total, 4) if total else None,
            "untyped_files": self.untyped,
            "table_cell_f1": _f1(matched, predicted, expected),
            "table_cell_precision": round(matched / predicted, 4) if predicted else None,
            "table_cell_recall": round(matched / expected, 4) if expected else None,
            "table_files": self.tables_files,
        }


def normalise(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def char_f1(predicted: str, expected: str) -> float:
    """Character-level F1 of two texts, whitespace-normalised (matching blocks of difflib)."""
    a, b = normalise(predicted), normalise(expected)
    if not a or not b:
        return 1.0 if a == b else 0.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    return _f1(matched, len(a), len(b)) or 0.0


def _f1(matched: int, predicted: int, expected: int) -> float | None:
    if not predicted or not expected:
        return None
    precision, recall = matched / predicted, matched / expected
    return round(2 * precision * recall / (precision + recall), 4) if matched else 0.0


def documents(root: Path) -> Iterator[Path]:
    """Every document file of the sets: their metadata and ground truth left out."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name in _NOT_DOCUMENTS:
            continue
        relative = path.relative_to(root).as_posix()
        if "test_evaluate_files/" in relative:
            continue
        if relative.startswith("tables_icdar2013/") and path.suffix.lower() in (".xml", ".json", ".csv"):
            continue
        if relative.startswith("pypdf_resources/") and path.suffix == ".txt":
            continue  # pypdf's expected outputs
        yield path


def run_parsing(root: Path, *, limits: ParseLimits | None = None, limit: int | None = None) -> ParsingReport:
    """Parse every document under ``root`` and score it; ``limit``: at most this many files per
    format besides those with an expected text or page count (and ICDAR files)."""
    report = ParsingReport()
    expected = _expected_texts(root)
    pages = _expected_pages(root)
    sandbox = ParseSandbox(limits or ParseLimits(), timeout_seconds=120, memory_mb=2048)
    try:
        for path in documents(root):
            kind = path.suffix.lower().lstrip(".") or "(none)"
            stats = report.formats[kind]
            if limit is not None and stats.files >= limit and path not in expected and path not in pages:
                continue
            stats.files += 1
            document = _parse(sandbox, path, stats, report)
            if document is None:
                continue
            if path in expected:
                stats.f1.append(char_f1(document.text, expected[path]))
            if path in pages:
                stats.pages_checked += 1
                stats.pages_right += int(document.page_count == pages[path])
    finally:
        sandbox.close()
    report.cells, report.tables_files = _icdar(root / _ICDAR, limit)
    return report


def _parse(sandbox: ParseSandbox, path: Path, stats: _Format, report: ParsingReport) -> ParsedDocument | None:
    try:
        document = sandbox.parse(path.read_bytes(), path.name)
    except DocRAGError as exc:
        stats.codes[exc.code] += 1
        if exc.code == "internal_error":
            report.untyped.append(path.as_posix())
        else:
            stats.typed += 1
        return None
    stats.indexed += 1
    stats.typed += 1
    return document


def _expected_texts(root: Path) -> dict[Path, str]:
    """Source document -> expected text, for the pairs the sets ship."""
    found: dict[Path, str] = {}
    resources = root / "pypdf_resources" / "resources"
    for txt in sorted(resources.glob("*.txt")) if resources.is_dir() else []:
        stem = txt.name.removesuffix(".txt")
        if stem.endswith(".rot180") or "_layout_" in stem:
            continue  # the same PDF rotated, or another layout option's output
        source = resources / (stem.removesuffix(".layout") + ".pdf")
        text = txt.read_text(errors="replace")
        if source.is_file() and not _HEX.fullmatch(text):  # jpeg.txt is the image's bytes in hex
            found[source] = text
    # The same text saved in many formats: the plain-text copy is the expected text of the others.
    languages = root / "unstructured" / "language-docs"
    if (languages / "eng_spa_mult.txt").is_file():
        text = (languages / "eng_spa_mult.txt").read_text(errors="replace")
        for other in sorted(languages.glob("eng_spa_mult.*")):
            if other.suffix != ".txt":
                found[other] = text
    for stem, pdf in _SCANS.items():
        if (root / pdf).is_file():
            try:
                parsed = parse((root / pdf).read_bytes(), pdf)
            except DocRAGError:
                continue
            text = "\n\n".join(parsed.text[b.start : b.end] for b in parsed.blocks if b.page == 1)
            for image in sorted((root / "unstructured" / "img").glob(stem + ".*")):
                found[image] = text
    gold = root / _GOLD_CCT
    for txt in sorted(gold.glob("*.txt")) if gold.is_dir() else []:
        name = txt.name.removesuffix(".txt")
        sources = [p for p in (root / "unstructured").rglob(name) if "test_evaluate_files" not in p.parts]
        if sources:
            found[sources[0]] = txt.read_text(errors="replace")
    return found


def _expected_pages(root: Path) -> dict[Path, int]:
    import json

    listing = root / "pypdf_sample_files" / "files.json"
    if not listing.is_file():
        return {}
    entries = json.loads(listing.read_text())["data"]
    return {root / "pypdf_sample_files" / e["path"]: int(e["pages"]) for e in entries if "pages" in e}


def table_cells_f1(predicted: list[str], expected: list[str]) -> tuple[int, int, int]:
    """(matched, predicted, expected) counts of non-empty cells, as multisets of texts."""
    p = Counter(c for c in map(normalise, predicted) if c)
    e = Counter(c for c in map(normalise, expected) if c)
    return sum((p & e).values()), sum(p.values()), sum(e.values())


def _icdar(folder: Path, limit: int | None) -> tuple[tuple[int, int, int], int]:
    matched = predicted = expected = files = 0
    for pdf in sorted(folder.glob("*/*.pdf")):
        truths = sorted(pdf.parent.glob(pdf.stem + "*-str.xml"))[:1]  # a 2nd GT file is an alternative
        if not truths:
            continue
        if limit is not None and files >= limit:
            break
        files += 1
        gold = _gold_cells(truths[0])
        tables = PageTables(pdf.read_bytes())
        for page, cells in sorted(gold.items()):
            found = [
                cell or ""
                for kind, rows in tables.regions(page) or []
                if kind == "table"
                for row in rows
                for cell in row
            ]
            m, p, e = table_cells_f1(found, cells)
            matched, predicted, expected = matched + m, predicted + p, expected + e
    return (matched, predicted, expected), files


def _gold_cells(path: Path) -> dict[int, list[str]]:
    cells: dict[int, list[str]] = defaultdict(list)
    for region in ET.parse(path).getroot().iter("region"):
        page = int(region.get("page", "1"))
        for cell in region.iter("cell"):
            cells[page].append(cell.findtext("content") or "")
    return cells
