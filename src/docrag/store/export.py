"""A tenant's data, or one principal's, as a zip of JSON files and files (issue 21.3).

:func:`export_zip` yields the archive in pieces while it reads: the rows come through
server-side cursors a few hundred at a time, and each piece is handed on as soon as the zip
writer produced it, so neither the rows nor the archive are ever held whole in memory. The
whole export is one REPEATABLE READ, READ ONLY transaction: a snapshot, consistent across
files. Layout::

    tenant.json  api_keys.json  collections.json        (tenant exports only)
    documents.json                                      (metadata, tenant exports only)
    documents/<id>/text.txt  documents/<id>/chunks.json (the stored text and its chunks)
    documents/<id>/original                             (the uploaded file, decrypted, while it is
                                                        still queued or kept: store/crypto.py)
    conversations.json  answers.json  feedback.json
    manifest.json                                       (last: counts, sizes and SHA-256 of every file)

An actor's export (``actor``: the API key or user id recorded in ``created_by``/``feedback``,
migration 0120) holds its key, conversations, answers and feedback: documents record no
creator, they are the tenant's. Append to :data:`SECTIONS` for a new table; ``sealer`` decrypts
the originals (uploads waiting for a worker, and originals a PII-redacted collection keeps).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any
from uuid import UUID
from zipfile import ZIP_DEFLATED, ZipFile

import psycopg
from psycopg.rows import dict_row

from docrag.store.crypto import Sealer
from docrag.store.postgres import Store

FORMAT = "docrag-export/1"


@dataclass(frozen=True, slots=True)
class Section:
    """One JSON file of the export: an array of the rows ``tenant_sql`` (or, for an actor's
    export, ``actor_sql``; None: not part of it) reads with the parameters ``t`` and ``a``."""

    name: str
    tenant_sql: str
    actor_sql: str | None


_ANSWERS = (
    "SELECT id, conversation_id, turn, question, resolved_question, answer, answered, reason, generator,"
    " collections, sentences, source_deleted, redacted_at, created_by, created_at FROM answers"
)
_CONVERSATIONS = "SELECT id, title, created_by, created_at, updated_at FROM conversations"
_FEEDBACK = "SELECT id, answer_id, key_id, user_id, rating, comment, created_at, updated_at FROM feedback"
_KEYS = "SELECT id, name, role, created_at, revoked_at FROM api_keys"  # never the key's hash
_USERS = (  # never a password hash, TOTP secret or recovery code
    "SELECT id, email, role, created_at, disabled_at, totp_enabled_at IS NOT NULL AS mfa_enabled FROM users"
)
_SESSIONS = (
    "SELECT id, user_id, created_at, refreshed_at, expires_at, revoked_at, user_agent, address FROM sessions"
)
_AUDIT = "SELECT id, at, actor, action, target, source, request_id, detail FROM audit_log"

SECTIONS: list[Section] = [
    Section("tenant", "SELECT id, name, created_at FROM tenants WHERE id = %(t)s", None),
    Section(
        "api_keys",
        f"{_KEYS} WHERE tenant_id = %(t)s ORDER BY created_at, id",
        f"{_KEYS} WHERE tenant_id = %(t)s AND id = %(a)s",
    ),
    Section(
        "collections",
        "SELECT id, name, embedding_model, embedding_dim, content_version, retain_documents_days,"
        " retain_answers_days, created_at FROM collections WHERE tenant_id = %(t)s ORDER BY name",
        None,
    ),
    Section(
        "conversations",
        f"{_CONVERSATIONS} WHERE tenant_id = %(t)s ORDER BY created_at, id",
        f"{_CONVERSATIONS} WHERE tenant_id = %(t)s AND created_by = %(a)s ORDER BY created_at, id",
    ),
    Section(
        "answers",
        f"{_ANSWERS} WHERE tenant_id = %(t)s ORDER BY created_at, id",
        f"{_ANSWERS} WHERE tenant_id = %(t)s AND created_by = %(a)s ORDER BY created_at, id",
    ),
    Section(
        "feedback",
        f"{_FEEDBACK} WHERE tenant_id = %(t)s ORDER BY id",
        f"{_FEEDBACK} WHERE tenant_id = %(t)s AND (key_id = %(a)s OR user_id = %(a)s) ORDER BY id",
    ),
    Section(
        "users",
        f"{_USERS} WHERE tenant_id = %(t)s ORDER BY created_at, id",
        f"{_USERS} WHERE tenant_id = %(t)s AND id = %(a)s",
    ),
    Section(
        "sessions",
        f"{_SESSIONS} WHERE tenant_id = %(t)s ORDER BY created_at, id",
        f"{_SESSIONS} WHERE tenant_id = %(t)s AND user_id = %(a)s ORDER BY created_at, id",
    ),
    Section(
        "audit",
        f"{_AUDIT} WHERE tenant_id = %(t)s ORDER BY id",
        f"{_AUDIT} WHERE tenant_id = %(t)s AND actor IN ('key:' || %(a)s, 'user:' || %(a)s) ORDER BY id",
    ),
]

_DOCUMENTS = (
    "SELECT d.id, d.collection_id, c.name AS collection, d.title, d.filename, d.mime,"
    " encode(d.content_hash, 'hex') AS sha256, d.size_bytes, d.page_count, d.page_starts, d.chunk_count,"
    " d.status, d.version, d.created_at, d.updated_at, u.document_id IS NOT NULL AS original"
    " FROM documents d JOIN collections c ON c.tenant_id = d.tenant_id AND c.id = d.collection_id"
    " LEFT JOIN uploads u ON u.tenant_id = d.tenant_id AND u.document_id = d.id"
    " WHERE d.tenant_id = %(t)s ORDER BY d.created_at, d.id"
)
# The same documents, in the same order, with their text and stored original.
_DOCUMENT_FILES = (
    "SELECT d.id, d.text, coalesce(o.data, u.data) AS original,"
    " CASE WHEN o.data IS NOT NULL THEN o.key_version ELSE u.key_version END AS key_version"
    " FROM documents d"
    " LEFT JOIN uploads u ON u.tenant_id = d.tenant_id AND u.document_id = d.id"
    " LEFT JOIN originals o ON o.tenant_id = d.tenant_id AND o.document_id = d.id"
    " WHERE d.tenant_id = %(t)s ORDER BY d.created_at, d.id"
)
_CHUNKS = (
    "SELECT ord, start_offset, end_offset, heading_path, page_start, page_end, content FROM chunks"
    " WHERE tenant_id = %(t)s AND document_id = %(d)s ORDER BY ord"
)


def _json_default(value: object) -> object:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _dumps(value: object) -> bytes:
    return json.dumps(value, default=_json_default, ensure_ascii=False).encode()


class _Sink:
    """The zip writer's output: an unseekable stream, drained as the export goes."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def drain(self) -> Iterator[bytes]:
        if self._parts:
            data, self._parts = b"".join(self._parts), []
            yield data


class _Entry:
    """One file of the archive, written in pieces, with its size and checksum for the manifest."""

    def __init__(self, archive: ZipFile, name: str, manifest: dict[str, dict[str, Any]]) -> None:
        self._out: IO[bytes] = archive.open(name, "w", force_zip64=True)
        self._hash = hashlib.sha256()
        self._size = 0
        self._name = name
        self._manifest = manifest

    def write(self, data: bytes) -> None:
        self._out.write(data)
        self._hash.update(data)
        self._size += len(data)

    def close(self, **extra: Any) -> None:
        self._out.close()
        self._manifest[self._name] = {"bytes": self._size, "sha256": self._hash.hexdigest(), **extra}


_CURSORS = itertools.count()


def _rows(
    conn: psycopg.Connection[Any], query: str, params: dict[str, Any], size: int
) -> Iterator[dict[str, Any]]:
    """The rows of ``query`` through a server-side cursor, ``size`` at a time."""
    with conn.cursor(name=f"docrag_export_{next(_CURSORS)}", row_factory=dict_row) as cursor:
        cursor.itersize = size
        cursor.execute(query, params)
        yield from cursor


def export_zip(
    store: Store,
    tenant_id: UUID,
    actor: UUID | None = None,
    *,
    sealer: Sealer | None = None,
) -> Iterator[bytes]:
    """The export as the pieces of a zip file (see the module's docstring)."""
    params: dict[str, Any] = {"t": tenant_id, "a": actor}
    sink = _Sink()
    files: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    with store.connection(tenant_id) as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with ZipFile(sink, "w", ZIP_DEFLATED) as archive:
            for section in SECTIONS:
                query = section.tenant_sql if actor is None else section.actor_sql
                if query is None:
                    continue
                entry = _Entry(archive, f"{section.name}.json", files)
                entry.write(b"[")
                n = 0
                for row in _rows(conn, query, params, 500):
                    entry.write((b",\n" if n else b"\n") + _dumps(row))
                    n += 1
                    yield from sink.drain()
                entry.write(b"\n]\n")
                entry.close(rows=n)
                counts[section.name] = n
                yield from sink.drain()
            if actor is None:
                counts["documents"] = yield from _documents(conn, archive, sink, files, params, sealer)
            manifest = {
                "format": FORMAT,
                "tenant_id": str(tenant_id),
                "actor": str(actor) if actor is not None else None,
                "created_at": datetime.now(UTC).isoformat(),
                "counts": counts,
                "files": files,
            }
            archive.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    yield from sink.drain()


def _documents(
    conn: psycopg.Connection[Any],
    archive: ZipFile,
    sink: _Sink,
    files: dict[str, dict[str, Any]],
    params: dict[str, Any],
    sealer: Sealer | None,
) -> Generator[bytes, None, int]:
    """documents.json, then each document's folder (two passes over one snapshot: a zip takes
    one file at a time); :returns: how many documents."""
    listing = _Entry(archive, "documents.json", files)
    listing.write(b"[")
    n = 0
    for doc in _rows(conn, _DOCUMENTS, params, 500):
        listing.write((b",\n" if n else b"\n") + _dumps(doc))
        n += 1
        yield from sink.drain()
    listing.write(b"\n]\n")
    listing.close(rows=n)
    keys: dict[int, bytes] = {}  # the tenant's data keys by version, each read once
    for doc in _rows(conn, _DOCUMENT_FILES, params, 20):  # few at a time: each carries its text
        folder = f"documents/{doc['id']}"
        text = _Entry(archive, f"{folder}/text.txt", files)
        text.write(str(doc["text"]).encode())
        text.close()
        yield from sink.drain()
        chunks = _Entry(archive, f"{folder}/chunks.json", files)
        chunks.write(b"[")
        rows = 0
        for chunk in _rows(conn, _CHUNKS, {**params, "d": doc["id"]}, 500):
            chunks.write((b",\n" if rows else b"\n") + _dumps(chunk))
            rows += 1
        chunks.write(b"\n]\n")
        chunks.close(rows=rows)
        yield from sink.drain()
        if doc["original"] is not None:
            original = _Entry(archive, f"{folder}/original", files)
            data = bytes(doc["original"])
            if sealer is not None:  # stored encrypted (store/crypto.py): the export holds the file itself
                data = sealer.open(conn, params["t"], doc["id"], data, doc["key_version"], keys=keys)
            original.write(data)
            original.close()
            yield from sink.drain()
    return n
