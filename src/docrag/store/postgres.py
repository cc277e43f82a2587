"""The one store module: every SQL statement DocRAG runs against PostgreSQL lives here.

Every query that touches user content is scoped by tenant (and collection) in its own
WHERE clause; callers can't forget it because no method takes an id without a tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from docrag.domain import Collection, DocumentInfo, Hit, ParsedDocument, Principal, StoredChunk
from docrag.errors import Conflict, NotFound, Unavailable
from docrag.store.chunk_rows import box_from
from docrag.store.chunk_rows import insert_chunks as insert_chunks
from docrag.store.erasure import collection_documents, redact_stale_answers
from docrag.store.keys import KeyStore, hash_key
from docrag.store.replica import ReadReplica
from docrag.store.tenancy import ALL_TENANTS, scope_to

_log = logging.getLogger(__name__)

#: Rows fetched at least from the HNSW scan: filtered recall@10 measured 0.82-0.87 when
#: fetching 10 and 0.97 when fetching 40 (bench/scale.py, 1% collection of 100k chunks).
_MIN_DENSE_FETCH = 40

DEFAULT_TENANT = "default"
DEFAULT_COLLECTION = "default"

DOC_COLUMNS = (
    "id, tenant_id, collection_id, title, filename, mime, encode(content_hash, 'hex') AS content_hash,"
    " size_bytes, page_count, chunk_count, created_at,"
    " status, progress, error_code, error_message, updated_at, version, pending_version, embedded_chunks"
)
_HIT_COLUMNS = (
    "c.id, c.document_id, c.collection_id, d.title, c.ord, c.start_offset, c.end_offset, c.body,"
    " c.heading_path, c.page_start, c.page_end, d.version, c.boxes"
)


#: pgvector's HNSW indexes vectors of at most 2000 dimensions.
HNSW_MAX_DIM = 2000
_INDEX_LOCK_ID = 0x646F6369  # "doci": one embedding-index builder at a time


def embedding_index_name(dim: int) -> str:
    return f"chunks_embedding_{int(dim)}_idx"


def dense_sql(dim: int) -> str:
    """Dense search over ``dim``-dimensional vectors, parameters (query, tenant, collection ids,
    query, limit). Its expression and predicate are the index's, so the planner can use
    ``chunks_embedding_<dim>_idx``; they can't be parameters (a type modifier is a literal).
    """
    d = int(dim)
    vec = f"embedding::vector({d})"
    return (
        f"SELECT id, {vec} <=> %s::vector({d}) AS distance FROM chunks"
        f" WHERE tenant_id = %s AND collection_id = ANY(%s) AND vector_dims(embedding) = {d}"
        f" ORDER BY {vec} <=> %s::vector({d}) LIMIT %s"
    )


@dataclass(frozen=True, slots=True)
class LexicalCorpus:
    version: int
    ids: list[int]
    documents: list[UUID]
    texts: list[str]


@dataclass(frozen=True, slots=True)
class Scope:
    """A searched collection as a request sees it: its name, the model that built its vectors,
    and the content version its in-process indexes must match."""

    id: UUID
    name: str
    embedding_model: str
    embedding_dim: int
    content_version: int


@dataclass(frozen=True, slots=True)
class CollectionVectors:
    """A collection's chunk vectors at one content version (unit rows, float32), or only the
    version when the collection holds more chunks than were asked for (``vectors`` is None)."""

    version: int
    ids: np.ndarray[Any, Any]
    vectors: np.ndarray[Any, Any] | None


def _configure(conn: psycopg.Connection[Any]) -> None:
    from pgvector.psycopg import register_vector

    register_vector(conn)


class Store:
    """Over a migrated database (store/roles.py's ``open_database`` migrates it as its owner)."""

    ALL_TENANTS = ALL_TENANTS

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        read_url: str | None = None,
        read_retry_seconds: float = 10.0,
    ) -> None:
        self.url = url
        self.pool = ConnectionPool(
            url, min_size=min_size, max_size=max_size, configure=_configure, open=True, timeout=30
        )
        #: The search path's reads (``read=True``) go to this standby when set (store/replica.py).
        self.replica = (
            ReadReplica(
                read_url,
                min_size=min_size,
                max_size=max_size,
                retry_seconds=read_retry_seconds,
                configure=_configure,
            )
            if read_url
            else None
        )
        self._indexed_dims: set[int] = set()

    def close(self) -> None:
        if self.replica is not None:
            self.replica.close()
        self.pool.close()

    @contextmanager
    def _conn(
        self, tenant: object = None, *, read: bool = False
    ) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A pooled connection of ``tenant``; ``read``: the search path's, on the read replica if any."""
        try:
            pooled = self.replica.connection(self.pool) if read and self.replica else self.pool.connection()
            with pooled as conn:
                conn.row_factory = dict_row
                scope_to(conn, tenant)  # row security's tenant for this checkout (store/tenancy.py)
                yield conn
        except psycopg.OperationalError as exc:
            raise Unavailable(f"database unavailable: {exc}") from exc

    def connection(
        self, tenant: object = None, *, read: bool = False
    ) -> AbstractContextManager[psycopg.Connection[dict[str, Any]]]:
        """A pooled connection with dict rows whose rows are ``tenant``'s (or ALL_TENANTS');
        ``read``: the search path's (the read replica's when one is configured and up)."""
        return self._conn(tenant, read=read)

    def ping(self) -> None:
        with self._conn() as conn:
            conn.execute("SELECT 1")

    # -- tenants and keys ------------------------------------------------------------------

    def ensure_tenant(self, name: str) -> UUID:
        with self._conn(ALL_TENANTS) as conn:
            row = conn.execute(
                "INSERT INTO tenants (name) VALUES (%s) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name"
                " RETURNING id",
                (name,),
            ).fetchone()
            assert row is not None
            return UUID(str(row["id"]))

    def count_api_keys(self) -> int:
        with self._conn(ALL_TENANTS) as conn:
            row = conn.execute("SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL").fetchone()
            return int(row["n"]) if row else 0

    def add_api_key(self, tenant_id: UUID, name: str, key: str, role: str) -> UUID:
        with self._conn(tenant_id) as conn:
            row = conn.execute(
                "INSERT INTO api_keys (tenant_id, name, key_hash, role) VALUES (%s, %s, %s, %s) RETURNING id",
                (tenant_id, name, hash_key(key), role),
            ).fetchone()
            assert row is not None
            return UUID(str(row["id"]))

    def principal_for_key(self, key: str) -> Principal | None:
        """None for an unknown, revoked or expired key (store/keys.py)."""
        return KeyStore(self).principal(key)

    # -- collections -----------------------------------------------------------------------

    def create_collection(self, tenant_id: UUID, name: str, model_id: str, dim: int) -> Collection:
        with self._conn(tenant_id) as conn:
            try:
                row = conn.execute(
                    "INSERT INTO collections (tenant_id, name, embedding_model, embedding_dim)"
                    " VALUES (%s, %s, %s, %s) RETURNING id, tenant_id, name, embedding_model, embedding_dim",
                    (tenant_id, name, model_id, dim),
                ).fetchone()
            except psycopg.errors.UniqueViolation as exc:
                raise Conflict(f"collection {name!r} already exists", code="collection_exists") from exc
        assert row is not None
        self.ensure_embedding_index(dim)
        return Collection(**row)

    def get_or_create_collection(self, tenant_id: UUID, name: str, model_id: str, dim: int) -> Collection:
        with self._conn(tenant_id) as conn:
            conn.execute(
                "INSERT INTO collections (tenant_id, name, embedding_model, embedding_dim)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id, name) DO NOTHING",
                (tenant_id, name, model_id, dim),
            )
        collection = self.collection_by_name(tenant_id, name)
        self.ensure_embedding_index(collection.embedding_dim)
        return collection

    def ensure_embedding_index(self, dim: int) -> None:
        """Build the HNSW index of ``dim``-dimensional vectors unless it exists (migration 0003
        builds the 384 one). Over pgvector's HNSW limit of 2000 dimensions there is none, and
        dense search scans exactly."""
        if dim in self._indexed_dims:
            return
        if dim > HNSW_MAX_DIM:
            _log.warning(
                "no HNSW index for %d-dimensional vectors (limit %d): exact search", dim, HNSW_MAX_DIM
            )
        else:
            name = embedding_index_name(dim)
            with self._conn() as conn:
                found = conn.execute("SELECT to_regclass(%s) AS idx", (name,)).fetchone()
                if found is None or found["idx"] is None:
                    with conn.transaction():
                        # One builder at a time: two concurrent CREATE INDEX IF NOT EXISTS can collide.
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INDEX_LOCK_ID,))
                        # Built by its owner (migration 0070): the service's role owns no table.
                        conn.execute("SELECT docrag_ensure_embedding_index(%s)", (dim,))
                    _log.info("built %s", name)
        self._indexed_dims.add(dim)

    def scopes(self, tenant_id: UUID, collection_ids: Sequence[UUID]) -> list[Scope]:
        """Model, dimension and content version of each of the caller's collections, in one read."""
        with self._conn(tenant_id, read=True) as conn:
            rows = conn.execute(
                "SELECT id, name, embedding_model, embedding_dim, content_version FROM collections"
                " WHERE tenant_id = %s AND id = ANY(%s) ORDER BY name",
                (tenant_id, list(collection_ids)),
            ).fetchall()
        return [
            Scope(r["id"], r["name"], r["embedding_model"], r["embedding_dim"], r["content_version"])
            for r in rows
        ]

    def _collection_query(self, where: str, params: Sequence[object]) -> list[Collection]:
        with self._conn(params[0]) as conn:
            rows = conn.execute(
                "SELECT c.id, c.tenant_id, c.name, c.embedding_model, c.embedding_dim,"
                " (SELECT count(*) FROM documents d WHERE d.collection_id = c.id"
                "  AND d.tenant_id = c.tenant_id) AS document_count"
                f" FROM collections c WHERE {where} AND docrag_in_scope(c.id) ORDER BY c.name",
                params,
            ).fetchall()
        return [Collection(**row) for row in rows]

    def list_collections(self, tenant_id: UUID) -> list[Collection]:
        return self._collection_query("c.tenant_id = %s", (tenant_id,))

    def collection_by_name(self, tenant_id: UUID, name: str) -> Collection:
        found = self._collection_query("c.tenant_id = %s AND c.name = %s", (tenant_id, name))
        if not found:
            raise NotFound(f"collection {name!r} not found", code="collection_not_found")
        return found[0]

    def collection_by_id(self, tenant_id: UUID, collection_id: UUID) -> Collection:
        found = self._collection_query("c.tenant_id = %s AND c.id = %s", (tenant_id, collection_id))
        if not found:
            raise NotFound(f"collection {collection_id} not found", code="collection_not_found")
        return found[0]

    def delete_collection(self, tenant_id: UUID, collection_id: UUID) -> None:
        with self._conn(tenant_id) as conn, conn.transaction():
            docs = collection_documents(conn, tenant_id, collection_id)
            row = conn.execute(
                "DELETE FROM collections WHERE tenant_id = %s AND id = %s RETURNING id",
                (tenant_id, collection_id),
            ).fetchone()
            redact_stale_answers(conn, tenant_id, docs)  # after the delete: see erasure.py
        if row is None:
            raise NotFound(f"collection {collection_id} not found", code="collection_not_found")

    def content_versions(self, tenant_id: UUID, collection_ids: Sequence[UUID]) -> dict[UUID, int]:
        with self._conn(tenant_id, read=True) as conn:
            rows = conn.execute(
                "SELECT id, content_version FROM collections WHERE tenant_id = %s AND id = ANY(%s)",
                (tenant_id, list(collection_ids)),
            ).fetchall()
        return {row["id"]: int(row["content_version"]) for row in rows}

    # -- documents -------------------------------------------------------------------------

    def find_document_by_hash(
        self, tenant_id: UUID, collection_id: UUID, digest: bytes
    ) -> DocumentInfo | None:
        with self._conn(tenant_id) as conn:
            row = conn.execute(
                f"SELECT {DOC_COLUMNS} FROM documents"
                " WHERE tenant_id = %s AND collection_id = %s AND content_hash = %s",
                (tenant_id, collection_id, digest),
            ).fetchone()
        return document_info(row) if row else None

    def insert_document(
        self,
        collection: Collection,
        *,
        title: str,
        filename: str | None,
        digest: bytes,
        size_bytes: int,
        parsed: ParsedDocument,
        chunks: Sequence[StoredChunk],
    ) -> tuple[DocumentInfo, bool]:
        """Store a document and all its chunks in one transaction, already 'indexed'.

        This is the direct in-process path (``Ingestor.ingest_many``); uploads go through the
        job queue (store/jobs.py) instead.

        :returns: the document and whether it is new (False: the same bytes were already stored).
        """
        with self._conn(collection.tenant_id) as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO documents (tenant_id, collection_id, title, filename, mime, content_hash,"
                " size_bytes, page_count, text, page_starts, chunk_count, status, progress, version,"
                " pending_version, embedded_chunks)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'indexed', 1, 1, NULL, %s)"
                f" ON CONFLICT (collection_id, content_hash) DO NOTHING RETURNING {DOC_COLUMNS}",
                (
                    collection.tenant_id,
                    collection.id,
                    title,
                    filename,
                    parsed.mime,
                    digest,
                    size_bytes,
                    parsed.page_count,
                    parsed.text,
                    parsed.page_starts(),
                    len(chunks),
                    len(chunks),
                ),
            ).fetchone()
            if row is None:
                existing = conn.execute(
                    f"SELECT {DOC_COLUMNS} FROM documents WHERE collection_id = %s AND content_hash = %s",
                    (collection.id, digest),
                ).fetchone()
                assert existing is not None
                return document_info(existing), False
            document = document_info(row)
            insert_chunks(conn, collection.tenant_id, collection.id, document.id, chunks)
            bump(conn, collection.tenant_id, collection.id)
        return document, True

    def list_documents(
        self, tenant_id: UUID, collection_id: UUID, *, limit: int = 100, offset: int = 0
    ) -> list[DocumentInfo]:
        with self._conn(tenant_id) as conn:
            rows = conn.execute(
                f"SELECT {DOC_COLUMNS} FROM documents WHERE tenant_id = %s AND collection_id = %s"
                " ORDER BY created_at, id LIMIT %s OFFSET %s",
                (tenant_id, collection_id, limit, offset),
            ).fetchall()
        return [document_info(row) for row in rows]

    def get_document(self, tenant_id: UUID, document_id: UUID) -> DocumentInfo:
        with self._conn(tenant_id) as conn:
            row = conn.execute(
                f"SELECT {DOC_COLUMNS} FROM documents WHERE tenant_id = %s AND id = %s"
                " AND docrag_in_scope(collection_id)",
                (tenant_id, document_id),
            ).fetchone()
        if row is None:
            raise NotFound(f"document {document_id} not found", code="document_not_found")
        return document_info(row)

    def document_text(self, tenant_id: UUID, document_id: UUID) -> tuple[str, list[int]]:
        with self._conn(tenant_id) as conn:
            row = conn.execute(
                "SELECT text, page_starts FROM documents WHERE tenant_id = %s AND id = %s"
                " AND docrag_in_scope(collection_id)",
                (tenant_id, document_id),
            ).fetchone()
        if row is None:
            raise NotFound(f"document {document_id} not found", code="document_not_found")
        return row["text"], list(row["page_starts"])

    def delete_document(self, tenant_id: UUID, document_id: UUID) -> UUID:
        """Remove the document, and by cascade every chunk and vector, in one transaction.

        :returns: the collection it was in.
        """
        with self._conn(tenant_id) as conn, conn.transaction():
            row = conn.execute(
                "SELECT collection_id FROM documents WHERE tenant_id = %s AND id = %s"
                " AND docrag_in_scope(collection_id)",
                (tenant_id, document_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"document {document_id} not found", code="document_not_found")
            # The collection row first, as every writer of its documents takes it (store/jobs.py).
            bump(conn, tenant_id, row["collection_id"])
            conn.execute("DELETE FROM documents WHERE tenant_id = %s AND id = %s", (tenant_id, document_id))
            redact_stale_answers(conn, tenant_id, [document_id])
        return UUID(str(row["collection_id"]))

    def count_chunks(self, tenant_id: UUID, document_id: UUID | None = None) -> int:
        with self._conn(tenant_id) as conn:
            if document_id is None:
                row = conn.execute("SELECT count(*) AS n FROM chunks WHERE tenant_id = %s", (tenant_id,))
            else:
                row = conn.execute(
                    "SELECT count(*) AS n FROM chunks WHERE tenant_id = %s AND document_id = %s",
                    (tenant_id, document_id),
                )
            found = row.fetchone()
        return int(found["n"]) if found else 0

    # -- retrieval -------------------------------------------------------------------------

    def dense_search(
        self,
        tenant_id: UUID,
        collection_ids: Sequence[UUID],
        query: np.ndarray[Any, Any],
        *,
        limit: int,
        ef_search: int,
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the nearest chunks in the caller's collections.

        The tenant and collection filter is inside the index scan's query; iterative scans
        keep the result at ``limit`` rows even when the filter is selective. The query's
        dimension picks the partial HNSW index of that dimension (see :func:`dense_sql`).
        """
        with self._conn(tenant_id, read=True) as conn, conn.transaction():
            # Transaction-local settings, in one round trip. plan_cache_mode: a prepared
            # statement would otherwise switch to one generic plan for every collection after a
            # few runs; the planner must see each scope's real size to choose between an exact
            # scan (small collections) and the HNSW index.
            conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true),"
                " set_config('hnsw.iterative_scan', 'relaxed_order', true),"
                " set_config('plan_cache_mode', 'force_custom_plan', true)",
                (str(int(ef_search)),),
            )
            rows = conn.execute(
                dense_sql(int(query.shape[0])),
                (query, tenant_id, list(collection_ids), query, max(limit, _MIN_DENSE_FETCH)),
            ).fetchall()
        pairs = [(int(r["id"]), 1.0 - float(r["distance"])) for r in rows]
        # relaxed_order returns nearly sorted rows: fetch a margin, sort, then cut.
        return sorted(pairs, key=lambda p: -p[1])[:limit]

    def lexical_corpus(self, tenant_id: UUID, collection_id: UUID) -> LexicalCorpus:
        """The collection's content version and its chunks' ids, documents and texts, read in
        one snapshot."""
        with self._conn(tenant_id, read=True) as conn, conn.transaction():
            version = snapshot_version(conn, tenant_id, collection_id)
            rows = conn.execute(
                "SELECT id, document_id, content FROM chunks WHERE tenant_id = %s AND collection_id = %s"
                " ORDER BY id",
                (tenant_id, collection_id),
            ).fetchall()
        return LexicalCorpus(
            version=version,
            ids=[int(r["id"]) for r in rows],
            documents=[r["document_id"] for r in rows],
            texts=[r["content"] for r in rows],
        )

    def collection_vectors(
        self, tenant_id: UUID, collection_id: UUID, dim: int, max_chunks: int
    ) -> CollectionVectors:
        """The collection's content version and, if it holds at most ``max_chunks`` chunks, their
        ids and ``dim``-dimensional vectors scaled to unit length, read in one snapshot."""
        with self._conn(tenant_id, read=True) as conn, conn.transaction():
            version = snapshot_version(conn, tenant_id, collection_id)
            counted = conn.execute(
                "SELECT count(*) AS n FROM (SELECT 1 FROM chunks WHERE tenant_id = %s AND collection_id = %s"
                " LIMIT %s) AS bounded",
                (tenant_id, collection_id, max_chunks + 1),
            ).fetchone()
            empty = np.zeros(0, dtype=np.int64)
            if counted is None or int(counted["n"]) > max_chunks:
                return CollectionVectors(version, empty, None)
            # Binary transfer: pgvector's text format costs ~8x as much to parse (1.3 s vs 0.16 s
            # for 10k vectors here), and a search pays for this read after every change.
            rows = (
                conn.cursor(binary=True)
                .execute(
                    "SELECT id, embedding FROM chunks WHERE tenant_id = %s AND collection_id = %s"
                    " AND vector_dims(embedding) = %s ORDER BY id",
                    (tenant_id, collection_id, int(dim)),
                )
                .fetchall()
            )
        if not rows:
            return CollectionVectors(version, empty, np.zeros((0, int(dim)), dtype=np.float32))
        ids = np.fromiter((int(r["id"]) for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.stack([r["embedding"].to_numpy() for r in rows]).astype(np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return CollectionVectors(version, ids, vectors)

    def chunk_embeddings(self, tenant_id: UUID, chunk_ids: Sequence[int]) -> dict[int, np.ndarray[Any, Any]]:
        """The vectors of the given chunks of the tenant (float32)."""
        if not chunk_ids:
            return {}
        with self._conn(tenant_id, read=True) as conn:
            rows = conn.execute(
                "SELECT id, embedding FROM chunks WHERE tenant_id = %s AND id = ANY(%s)",
                (tenant_id, list(chunk_ids)),
            ).fetchall()
        return {int(r["id"]): np.asarray(r["embedding"].to_numpy(), dtype=np.float32) for r in rows}

    def sentence_vectors(self, tenant_id: UUID, chunk_ids: Sequence[int]) -> dict[int, bytes]:
        """The float16 sentence vectors of the given chunks (chunks without any are left out)."""
        if not chunk_ids:
            return {}
        with self._conn(tenant_id, read=True) as conn:
            rows = conn.execute(
                "SELECT id, sentence_vectors FROM chunks"
                " WHERE tenant_id = %s AND id = ANY(%s) AND sentence_vectors IS NOT NULL",
                (tenant_id, list(chunk_ids)),
            ).fetchall()
        return {int(r["id"]): r["sentence_vectors"] for r in rows}

    def hits(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], scored: Sequence[tuple[int, float]]
    ) -> list[Hit]:
        """Hydrate scored chunk ids, keeping only chunks that exist now in the caller's scope.

        Only chunks of a served version (``version > 0``): the worker writes chunks and the
        version in one transaction, so this is defence in depth against a half-ingested document.
        """
        if not scored:
            return []
        with self._conn(tenant_id, read=True) as conn:
            rows = conn.execute(
                f"SELECT {_HIT_COLUMNS} FROM chunks c"
                " JOIN documents d ON d.id = c.document_id AND d.tenant_id = c.tenant_id"
                " WHERE c.id = ANY(%s) AND c.tenant_id = %s AND c.collection_id = ANY(%s)"
                " AND d.version > 0",
                ([chunk_id for chunk_id, _ in scored], tenant_id, list(collection_ids)),
            ).fetchall()
        by_id = {int(r["id"]): r for r in rows}
        hits = []
        for chunk_id, score in scored:
            row = by_id.get(chunk_id)
            if row is not None:
                hits.append(_hit(row, score))
        return hits

    def sentence_data(
        self, tenant_id: UUID, chunk_ids: Sequence[int]
    ) -> dict[int, tuple[list[int], bytes | None, list[int]]]:
        """Per chunk: flattened sentence spans, float16 sentence vectors, the document's page starts."""
        with self._conn(tenant_id, read=True) as conn:
            rows = conn.execute(
                "SELECT c.id, c.sentence_spans, c.sentence_vectors, d.page_starts FROM chunks c"
                " JOIN documents d ON d.id = c.document_id AND d.tenant_id = c.tenant_id"
                " WHERE c.tenant_id = %s AND c.id = ANY(%s) AND d.version > 0",
                (tenant_id, list(chunk_ids)),
            ).fetchall()
        return {
            int(r["id"]): (list(r["sentence_spans"]), r["sentence_vectors"], list(r["page_starts"]))
            for r in rows
        }


def embedded_spans(row: dict[str, Any]) -> list[tuple[int, int]]:
    """A stored chunk's sentence spans as offsets into its embedded text (heading path + body),
    from a row with ``content``, ``body``, ``start_offset`` and ``sentence_spans``: the spans
    its sentence vectors were pooled over (see ingest/pipeline.py's ``_relative_spans``)."""
    shift = len(row["content"]) - len(row["body"]) - row["start_offset"]
    flat = row["sentence_spans"]
    return [(s + shift, e + shift) for s, e in zip(flat[0::2], flat[1::2], strict=True)]


def snapshot_version(conn: psycopg.Connection[Any], tenant_id: UUID, collection_id: UUID) -> int:
    """Start the caller's transaction as one snapshot (REPEATABLE READ) and read the collection's
    content version in it (-1: no such collection), so what the caller reads next in the same
    transaction is exactly that version's content."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    found = conn.execute(
        "SELECT content_version FROM collections WHERE tenant_id = %s AND id = %s",
        (tenant_id, collection_id),
    ).fetchone()
    return int(found["content_version"]) if found else -1


def bump(conn: psycopg.Connection[Any], tenant_id: UUID, collection_id: UUID) -> None:
    """Mark the collection's chunks changed (inside the caller's transaction), for BM25."""
    conn.execute(
        "UPDATE collections SET content_version = content_version + 1 WHERE tenant_id = %s AND id = %s",
        (tenant_id, collection_id),
    )


def document_info(row: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(
        **{
            **row,
            "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat(),
            "progress": round(float(row["progress"]), 4),
        }
    )


def _hit(row: dict[str, Any], score: float) -> Hit:
    return Hit(
        chunk_id=int(row["id"]),
        document_id=row["document_id"],
        collection_id=row["collection_id"],
        document_title=row["title"],
        ord=row["ord"],
        start=row["start_offset"],
        end=row["end_offset"],
        body=row["body"],
        heading_path=tuple(row["heading_path"]),
        page_start=row["page_start"],
        page_end=row["page_end"],
        score=score,
        document_version=row["version"],
        boxes=tuple(box_from(b) for b in row.get("boxes") or ()),
    )
