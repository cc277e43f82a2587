"""One partial HNSW index per embedding dimension (migration 0070 builds it as its owner), and
the dense search statement whose expression and predicate match it."""

from __future__ import annotations

import logging

from docrag.store.connections import PgConnections

_log = logging.getLogger(__name__)

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


class EmbeddingIndexes(PgConnections):
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
