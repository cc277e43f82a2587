"""Table rows of spreadsheets, CSV and slides: named cells, one block each, never cut by the chunker
(issue 19, point 3)."""

from __future__ import annotations

from docrag.domain import BlockKind, DocumentBuilder, Table, row_text
from docrag.ingest.chunking import chunk_document
from docrag.text.tokenizer import count_tokens


def test_row_text_names_cells_and_skips_empty_ones() -> None:
    assert row_text(("Region", "Sales", "Note"), ("North", "120", "")) == "Region: North | Sales: 120"
    assert row_text((), ("a", " b  c ")) == "a | b c"
    assert row_text(("Only",), ("x", "extra")) == "Only: x | extra"


def test_header_only_table_keeps_its_header() -> None:
    assert Table(("A", "B"), ()).row_texts() == ["A | B"]


def test_chunks_never_cut_a_row() -> None:
    builder = DocumentBuilder("text/csv")
    builder.add(BlockKind.HEADING, "Sales", level=1)
    rows = tuple((f"Region {i}", str(i * 10), "Good. Very good. Q1 was fine.") for i in range(80))
    builder.add_table(Table(("Region", "Sales", "Note"), rows, caption="Quarterly sales"), page=2)
    doc = builder.build()
    row_spans = {(b.start, b.end) for b in doc.blocks if b.kind is BlockKind.TABLE_ROW}
    assert len(row_spans) == 80
    drafts = chunk_document(doc, max_tokens=64, target_tokens=48, count_tokens=count_tokens)
    assert len(drafts) > 10
    for draft in drafts:
        for start, end in row_spans:
            overlaps = start < draft.end and draft.start < end
            assert not overlaps or (draft.start <= start and end <= draft.end), (draft.body, start, end)
        # each row is one sentence, so a citation quotes a whole row
        assert all(span in row_spans for span in draft.sentences if doc.text[span[0]].startswith("R"))
        assert draft.page_start == 2
