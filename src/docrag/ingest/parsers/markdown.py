"""Markdown parsing from the markdown-it token stream."""

from __future__ import annotations

import re
from typing import Any

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument
from docrag.ingest.detect import decode_text

MIME = "text/markdown"

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?:[\w-]+[ \t]*:.*\n)(?:.*\n)*?(?:---|\.\.\.)[ \t]*(?:\n|\Z)")
_TAGS = re.compile(r"<[^>]*>")


def parse_markdown(data: bytes) -> ParsedDocument:
    from markdown_it import MarkdownIt

    text = decode_text(data).lstrip("\ufeff")
    text = _FRONT_MATTER.sub("", text.replace("\r\n", "\n"), count=1)
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    builder = DocumentBuilder(MIME)
    _Emitter(builder).run(tokens)
    return builder.build()


class _Emitter:
    def __init__(self, builder: DocumentBuilder) -> None:
        self.builder = builder
        self.items: list[list[str]] = []  # text gathered for each open list item
        self.rows: list[list[str]] = []
        self.heading = 0

    def flush_item(self) -> None:
        if self.items and self.items[-1]:
            self.builder.add(BlockKind.LIST_ITEM, "\n".join(self.items[-1]))
            self.items[-1].clear()

    def run(self, tokens: list[Any]) -> None:
        for token in tokens:
            kind = token.type
            if kind == "heading_open":
                self.flush_item()
                self.heading = int(token.tag[1:])
            elif kind == "heading_close":
                self.heading = 0
            elif kind == "list_item_open":
                self.flush_item()
                self.items.append([])
            elif kind == "list_item_close":
                self.flush_item()
                self.items.pop()
            elif kind in ("bullet_list_open", "ordered_list_open"):
                self.flush_item()
            elif kind in ("fence", "code_block"):
                self.flush_item()
                self.builder.add(BlockKind.CODE, token.content)
            elif kind == "html_block":
                self.flush_item()
                self.builder.add(BlockKind.PARAGRAPH, _TAGS.sub(" ", token.content))
            elif kind == "tr_open":
                self.rows.append([])
            elif kind == "table_close":
                lines = [" | ".join(row) for row in self.rows if any(row)]
                self.rows = []
                self.builder.add(BlockKind.TABLE, "\n".join(lines))
            elif kind == "inline":
                self.inline(token)

    def inline(self, token: Any) -> None:
        text = _inline_text(token.children or [])
        if self.rows:
            self.rows[-1].append(" ".join(text.split()))
        elif self.heading:
            self.builder.add(BlockKind.HEADING, text, level=self.heading)
        elif self.items:
            self.items[-1].append(text)
        else:
            self.builder.add(BlockKind.PARAGRAPH, text)


def _inline_text(children: list[Any]) -> str:
    parts: list[str] = []
    for child in children:
        kind = child.type
        if kind == "image":
            continue  # drop images with their alt text
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind == "softbreak":
            parts.append(" ")
        elif kind == "hardbreak":
            parts.append("\n")
        elif kind == "html_inline":
            parts.append(" " if child.content.startswith("<br") else "")
    return "".join(parts)
