"""Section-aware chunking: spans, token limits, pages, sentences (real MiniLM tokenizer)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docrag.domain import Block, BlockKind, ChunkDraft, DocumentBuilder, ParsedDocument
from docrag.ingest.chunking import chunk_document
from docrag.text.sentences import split_sentences
from docrag.text.tokenizer import count_tokens, splits_words

SENTENCE = "The committee reviewed the evidence on retrieval quality and found it convincing."


def paragraph(n: int, topic: str = "retrieval") -> str:
    return " ".join(f"Sentence {i} discusses {topic} with several extra words of detail." for i in range(n))


def section_of(doc: ParsedDocument, offset: int) -> int:
    """Index of the heading block that opens the section holding ``offset`` (-1: none)."""
    index = -1
    for i, block in enumerate(doc.blocks):
        if block.start > offset:
            break
        if block.kind is BlockKind.HEADING:
            index = i
    return index


def content_blocks(doc: ParsedDocument) -> list[Block]:
    return [b for b in doc.blocks if b.kind is not BlockKind.HEADING]


def check_invariants(doc: ParsedDocument, chunks: list[ChunkDraft], max_tokens: int = 256) -> None:
    text = doc.text
    assert [c.ord for c in chunks] == list(range(len(chunks)))
    previous_end = 0
    headings = [b for b in doc.blocks if b.kind is BlockKind.HEADING]
    contents = content_blocks(doc)
    for chunk in chunks:
        assert chunk.body == text[chunk.start : chunk.end]
        assert chunk.body and not chunk.body[0].isspace() and not chunk.body[-1].isspace()
        assert previous_end <= chunk.start < chunk.end
        previous_end = chunk.end
        assert count_tokens(chunk.contextual_text) <= max_tokens
        # Never crosses a heading, never straddles sections.
        if contents:
            assert not any(chunk.start < h.start < chunk.end for h in headings)
            assert section_of(doc, chunk.start) == section_of(doc, chunk.end - 1)
            covered = [b for b in contents if b.start < chunk.end and chunk.start < b.end]
            assert covered
            assert len({b.heading_path for b in covered}) == 1
            path = covered[0].heading_path
            assert path[len(path) - len(chunk.heading_path) :] == chunk.heading_path
            pages = [b.page for b in covered if b.page is not None]
            assert chunk.page_start == (min(pages) if pages else None)
            assert chunk.page_end == (max(pages) if pages else None)
        for a, b in chunk.sentences:
            assert chunk.start <= a < b <= chunk.end
            assert text[a:b].strip() == text[a:b]
    # Every non-whitespace character of a non-heading block lies in some chunk.
    covered_chars = [False] * len(text)
    for chunk in chunks:
        for i in range(chunk.start, chunk.end):
            covered_chars[i] = True
    for block in contents:
        for i in range(block.start, block.end):
            assert covered_chars[i] or text[i].isspace(), (i, text[block.start : block.end])


def test_empty_document() -> None:
    assert chunk_document(DocumentBuilder("text/plain").build()) == []


def test_heading_only_document_gives_a_chunk() -> None:
    builder = DocumentBuilder("text/markdown")
    builder.add(BlockKind.HEADING, "Title", level=1)
    builder.add(BlockKind.HEADING, "Empty section", level=2)
    chunks = chunk_document(builder.build())
    assert chunks
    assert chunks[0].body == "Title"
    assert chunks[1].heading_path == ("Title",)


def test_sections_and_heading_paths() -> None:
    builder = DocumentBuilder("text/markdown")
    builder.add(BlockKind.PARAGRAPH, "Preface before any heading.")
    builder.add(BlockKind.HEADING, "Guide", level=1)
    builder.add(BlockKind.PARAGRAPH, "Intro paragraph.")
    builder.add(BlockKind.HEADING, "Install", level=2)
    builder.add(BlockKind.HEADING, "Linux", level=3)
    builder.add(BlockKind.PARAGRAPH, "Run the installer.")
    builder.add(BlockKind.LIST_ITEM, "Step one.")
    builder.add(BlockKind.HEADING, "Usage", level=2)
    builder.add(BlockKind.PARAGRAPH, "Call the API.")
    doc = builder.build()
    chunks = chunk_document(doc)
    check_invariants(doc, chunks)
    assert [(c.heading_path, c.body) for c in chunks] == [
        ((), "Preface before any heading."),
        (("Guide",), "Intro paragraph."),
        (("Guide", "Install", "Linux"), "Run the installer.\n\nStep one."),
        (("Guide", "Usage"), "Call the API."),
    ]
    assert chunks[2].contextual_text == "Guide > Install > Linux\nRun the installer.\n\nStep one."
    assert chunks[2].sentences == (
        (chunks[2].start, chunks[2].start + len("Run the installer.")),
        (chunks[2].end - len("Step one."), chunks[2].end),
    )
    assert all(c.page_start is None and c.page_end is None for c in chunks)


def test_packs_small_blocks_up_to_target() -> None:
    builder = DocumentBuilder("text/plain")
    builder.add(BlockKind.HEADING, "Section", level=1)
    for i in range(40):
        builder.add(BlockKind.PARAGRAPH, f"Short paragraph number {i} about packing.")
    doc = builder.build()
    chunks = chunk_document(doc, max_tokens=256, target_tokens=200)
    check_invariants(doc, chunks)
    assert 1 < len(chunks) < 10
    assert all(count_tokens(c.contextual_text) <= 200 for c in chunks)
    # Greedy: each chunk but the last could not take the next block.
    assert count_tokens(chunks[0].contextual_text) > 150


def test_huge_paragraph_split_at_sentences() -> None:
    builder = DocumentBuilder("text/plain")
    builder.add(BlockKind.HEADING, "Long", level=1)
    builder.add(BlockKind.PARAGRAPH, paragraph(120))
    doc = builder.build()
    chunks = chunk_document(doc)
    check_invariants(doc, chunks)
    assert len(chunks) > 5
    sentence_ends = {b for a, b in split_sentences(doc.text)}
    for chunk in chunks:
        assert chunk.end in sentence_ends  # cut at sentence boundaries
        assert count_tokens(chunk.contextual_text) <= 200


def test_giant_sentence_without_punctuation() -> None:
    builder = DocumentBuilder("text/plain")
    builder.add(BlockKind.HEADING, "Run-on", level=1)
    builder.add(BlockKind.PARAGRAPH, " ".join(f"word{i} antidisestablishmentarianism" for i in range(2000)))
    doc = builder.build()
    chunks = chunk_document(doc)
    check_invariants(doc, chunks)
    assert len(chunks) > 10
    for chunk in chunks:
        assert doc.text[chunk.start - 1] in " \n"  # cut at word boundaries
        assert len(chunk.sentences) == 1


def test_giant_word_split_at_characters() -> None:
    # Punctuation splits word pieces, so this single "word" is thousands of tokens.
    builder = DocumentBuilder("text/plain")
    builder.add(BlockKind.PARAGRAPH, "x," * 3000 + " tail words here.")
    doc = builder.build()
    chunks = chunk_document(doc, max_tokens=64, target_tokens=48)
    check_invariants(doc, chunks, max_tokens=64)
    assert len(chunks) > 10


def test_huge_heading_path_is_truncated() -> None:
    builder = DocumentBuilder("text/markdown")
    for level in range(1, 7):
        builder.add(BlockKind.HEADING, f"Heading level {level} " + "very long title " * 12, level=level)
    builder.add(BlockKind.PARAGRAPH, paragraph(30))
    doc = builder.build()
    chunks = chunk_document(doc, max_tokens=128, target_tokens=100)
    check_invariants(doc, chunks, max_tokens=128)
    assert chunks[0].heading_path
    assert len(chunks[0].heading_path) < 6
    assert chunks[0].heading_path[-1].startswith("Heading level 6")


def test_multi_page_document_page_spans() -> None:
    builder = DocumentBuilder("application/pdf")
    builder.add(BlockKind.HEADING, "Report", page=1, level=1)
    builder.add(BlockKind.PARAGRAPH, "First page text.", page=1)
    builder.add(BlockKind.PARAGRAPH, "Continues on page two.", page=2)
    builder.add(BlockKind.PARAGRAPH, paragraph(60), page=3)
    builder.add(BlockKind.HEADING, "Annex", page=4, level=1)
    builder.add(BlockKind.TABLE, "a | b\n1 | 2", page=4)
    doc = builder.build()
    chunks = chunk_document(doc)
    check_invariants(doc, chunks)
    # Blocks pack across pages; the long page-3 paragraph is cut at sentences.
    assert chunks[0].body.startswith("First page text.\n\nContinues on page two.\n\nSentence 0 ")
    assert (chunks[0].page_start, chunks[0].page_end) == (1, 3)
    big = [c for c in chunks if c.page_start == 3]
    assert len(big) > 1 and all(c.page_end == 3 for c in big)
    assert (chunks[-1].page_start, chunks[-1].page_end, chunks[-1].heading_path) == (4, 4, ("Annex",))
    assert [doc.text[a:b] for a, b in chunks[-1].sentences] == ["a | b", "1 | 2"]


def test_sentences_match_text_and_never_cross_blocks() -> None:
    builder = DocumentBuilder("text/plain")
    builder.add(BlockKind.PARAGRAPH, "Dr. Smith arrived. He measured 3.14 units (Fig. 2).")
    builder.add(BlockKind.LIST_ITEM, "No full stop here")
    doc = builder.build()
    (chunk,) = chunk_document(doc)
    assert [doc.text[a:b] for a, b in chunk.sentences] == [
        "Dr. Smith arrived.",
        "He measured 3.14 units (Fig. 2).",
        "No full stop here",
    ]


def test_tiny_tail_is_avoided() -> None:
    paragraph_text = " ".join([SENTENCE] * 3)  # 39 word pieces
    builder = DocumentBuilder("text/plain")
    builder.add(BlockKind.HEADING, "S", level=1)  # "S\n" costs [CLS] S [SEP]: 3
    builder.add(BlockKind.PARAGRAPH, paragraph_text)
    builder.add(BlockKind.PARAGRAPH, paragraph_text)
    builder.add(BlockKind.PARAGRAPH, "Tiny.")
    doc = builder.build()
    # Greedy packing alone would give [p1 p2] (81 tokens) and a 5-token [Tiny.].
    chunks = chunk_document(doc, target_tokens=82, max_tokens=128)
    check_invariants(doc, chunks, max_tokens=128)
    assert [c.body for c in chunks] == [paragraph_text, paragraph_text + "\n\nTiny."]
    # If it fits, the tail is merged instead.
    (merged,) = chunk_document(doc, target_tokens=90, max_tokens=128)
    assert merged.body.endswith("Tiny.")


def test_counts_tokens_efficiently() -> None:
    calls = 0

    def counting(text: str) -> int:
        nonlocal calls
        calls += 1
        return count_tokens(text)

    builder = DocumentBuilder("text/plain")
    builder.add(BlockKind.HEADING, "Many", level=1)
    for i in range(300):
        builder.add(BlockKind.PARAGRAPH, f"Paragraph {i}. " + SENTENCE)
    chunks = chunk_document(builder.build(), count_tokens=counting)
    # One count per block, one per chunk, one for the heading path: linear, not quadratic.
    assert calls <= 300 + len(chunks) + 5


def test_counts_add_up_only_across_whitespace_bert_splits_at() -> None:
    """The chunker adds counts instead of tokenizing again across the gaps ``splits_words`` admits:
    every whitespace character BERT splits at, never one its normaliser deletes (Python's
    ``isspace`` admits both), nor no gap at all. "rts55" + "bjp" is 4 tokens apart, 6 glued."""
    first, second = "rts55", "bjp"
    apart = count_tokens(first) + count_tokens(second) - 2
    assert count_tokens(first + second) > apart
    for gap in [chr(c) for c in range(0x110000) if chr(c).isspace()] + ["", " \x0b", "\x0b\x1c", "a", " - "]:
        if splits_words(gap):
            assert count_tokens(first + gap + second) == apart, repr(gap)
    assert not splits_words("") and not splits_words("\x0b") and not splits_words("\x85")
    assert count_tokens(first + "\x0b" + second) != apart  # deleted: the words are glued


def test_pieces_that_abut_inside_a_word_are_counted_again() -> None:
    """Two blocks that abut inside a word fit the budget by their own counts but not together:
    the chunk is counted for real, found over ``max_tokens`` and cut between them."""
    first, second = "Figures such as rts55", "bjp come apart"
    text = first + second
    blocks = (
        Block(BlockKind.PARAGRAPH, 0, len(first), None, ()),
        Block(BlockKind.PARAGRAPH, len(first), len(text), None, ()),
    )
    doc = ParsedDocument(text, blocks, "text/plain")
    max_tokens = count_tokens(first) + count_tokens(second) - 2  # both: their tokens, [CLS], [SEP]
    assert count_tokens(text) > max_tokens
    chunks = chunk_document(doc, max_tokens=max_tokens, target_tokens=max_tokens)
    assert [c.body for c in chunks] == [first, second]
    check_invariants(doc, chunks, max_tokens=max_tokens)
    # Apart (a blank line between the blocks), the counts add up and both make one chunk.
    builder = DocumentBuilder("text/plain")
    builder.add(BlockKind.PARAGRAPH, first)
    builder.add(BlockKind.PARAGRAPH, second)
    (chunk,) = chunk_document(builder.build(), max_tokens=max_tokens, target_tokens=max_tokens)
    assert count_tokens(chunk.contextual_text) == max_tokens


_words = st.sampled_from(
    ["alpha", "Beta", "gamma.", "Delta!", "e.g.", "3.14", "Dr.", "x,y,z", "naïve", "深度", "a" * 120]
)
_block_text = st.lists(_words, min_size=1, max_size=120).map(" ".join)
_block = st.one_of(
    st.tuples(st.just(BlockKind.HEADING), st.lists(_words, min_size=1, max_size=6).map(" ".join)),
    st.tuples(st.sampled_from([BlockKind.PARAGRAPH, BlockKind.LIST_ITEM, BlockKind.TABLE]), _block_text),
    st.tuples(
        st.just(BlockKind.TABLE),
        st.lists(_block_text, min_size=1, max_size=4).map("\n".join),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(_block, st.integers(1, 4), st.integers(1, 3)), max_size=12),
    st.booleans(),
    st.sampled_from([(64, 48), (128, 100), (256, 200)]),
)
def test_property_random_documents(
    blocks: list[tuple[tuple[BlockKind, str], int, int]], paged: bool, sizes: tuple[int, int]
) -> None:
    builder = DocumentBuilder("text/plain")
    page = 1
    for (kind, text), level, page_step in blocks:
        page += page_step - 1
        builder.add(kind, text, level=level, page=page if paged else None)
    doc = builder.build()
    max_tokens, target_tokens = sizes
    chunks = chunk_document(doc, max_tokens=max_tokens, target_tokens=target_tokens)
    check_invariants(doc, chunks, max_tokens=max_tokens)
    assert bool(chunks) == bool(doc.blocks)
