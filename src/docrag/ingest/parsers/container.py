"""ZIP containers (PPTX, XLSX, ODT/ODS, EPUB) checked before any library opens them.

The member count and declared sizes are checked first (cheap), then every member is streamed
with a running cap, since declared sizes can lie; markup members are scanned for ``<!ENTITY``
(entity expansion: "billion laughs"). XML members are then parsed by :func:`parse_xml`, which
never loads DTDs, resolves entities or touches the network.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from docrag.errors import DecompressionBomb, DocRAGError, EncryptedFile, UnreadableFile

MAX_ENTRIES = 10_000
_READ = 1 << 20
_MARKUP = (".xml", ".rels", ".opf", ".xhtml", ".html", ".htm", ".ncx")


def check_zip(data: bytes, max_uncompressed: int, label: str, *, refuse_doctype: bool = False) -> None:
    """Refuse zip bombs, encrypted members and XML entity declarations before a parser opens the
    container: declared sizes are summed first (cheap), then every part is streamed with a running
    cap, since declared sizes can lie. ``refuse_doctype``: any DTD in a markup part is refused too.

    :raises DecompressionBomb, EncryptedFile, UnreadableFile: ``label`` names the format."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ENTRIES:
                raise DecompressionBomb(f"the {label} file has too many parts ({len(infos)})")
            if any(info.flag_bits & 0x1 for info in infos):
                raise EncryptedFile(f"the {label} file is password-protected (encrypted ZIP members)")
            declared = sum(info.file_size for info in infos)
            if declared > max_uncompressed:
                raise DecompressionBomb(
                    f"the {label} file expands to {declared} bytes, more than the limit of {max_uncompressed}"
                )
            total = 0
            for info in infos:
                markup = info.filename.lower().endswith(_MARKUP)
                tail = b""
                with archive.open(info) as part:
                    while chunk := part.read(_READ):
                        total += len(chunk)
                        if total > max_uncompressed:
                            raise DecompressionBomb(
                                f"the {label} file expands past the limit of {max_uncompressed} bytes"
                            )
                        window = tail + chunk
                        if markup and refuse_doctype and b"<!DOCTYPE" in window:
                            raise UnreadableFile(f"the {label} part {info.filename} declares a DTD; refused")
                        if markup and b"<!ENTITY" in window:
                            what = "a DTD" if refuse_doctype else "XML entities"
                            raise UnreadableFile(f"the {label} part {info.filename} declares {what}; refused")
                        tail = chunk[-16:]
    except (DocRAGError, MemoryError):
        raise
    except Exception as exc:
        raise UnreadableFile(f"the {label} container is corrupt: {type(exc).__name__}: {exc}") from exc


def parse_xml(data: bytes) -> Any:
    """An lxml element tree root for ``data``, with DTDs, entities and the network all off."""
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
    )
    return etree.fromstring(data, parser)
