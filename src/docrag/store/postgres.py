"""The PostgreSQL store: one pool, and every aggregate's statements over it.

Each aggregate lives in a module of its own (tenants.py, collection_rows.py, embedding_index.py,
documents.py, chunk_search.py; the queue, answers, keys, users... take a :class:`Store` and use
its connections); :class:`Store` is their union, and upper layers see it through the protocols of
store/protocol.py. Every query that touches user content is scoped by tenant (and collection) in
its own WHERE clause; callers can't forget it because no method takes an id without a tenant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from docrag.store.chunk_search import ChunkSearchRows
from docrag.store.collection_rows import CollectionRows
from docrag.store.documents import DocumentRows
from docrag.store.protocol import ChunkSearch, CollectionStore, DocumentStore, KeyLookup
from docrag.store.tenants import TenantRows


class Store(TenantRows, CollectionRows, DocumentRows, ChunkSearchRows):
    """Over a migrated database (store/roles.py's ``open_database`` migrates it as its owner)."""


if TYPE_CHECKING:
    # mypy proves the union implements every protocol of its aggregates (store/protocol.py).
    def _implements(store: Store) -> tuple[CollectionStore, DocumentStore, ChunkSearch, KeyLookup]:
        return store, store, store, store
