"""The PostgreSQL store passes every store conformance suite (tests/support/store_conformance.py)."""

from __future__ import annotations

import uuid
from uuid import UUID

import pytest

from docrag.services import Runtime
from docrag.store.keys import new_api_key
from docrag.store.postgres import Store
from store_conformance import ChunkSearchSuite, CollectionStoreSuite, DocumentStoreSuite, KeyLookupSuite


@pytest.fixture(scope="module")
def store(runtime: Runtime) -> Store:
    return runtime.store


@pytest.fixture
def tenants(store: Store) -> tuple[UUID, UUID]:
    return store.ensure_tenant(f"a-{uuid.uuid4().hex}"), store.ensure_tenant(f"b-{uuid.uuid4().hex}")


@pytest.fixture
def collection_store(store: Store) -> Store:
    return store


@pytest.fixture
def document_store(store: Store) -> Store:
    return store


@pytest.fixture
def chunk_search(store: Store) -> Store:
    return store


@pytest.fixture
def key_lookup(store: Store) -> Store:
    return store


@pytest.fixture
def issued_key(store: Store, tenants: tuple[UUID, UUID]) -> tuple[str, UUID]:
    secret = new_api_key()
    store.add_api_key(tenants[0], "conformance", secret, "reader")
    return secret, tenants[0]


class TestPostgresCollectionStore(CollectionStoreSuite):
    pass


class TestPostgresDocumentStore(DocumentStoreSuite):
    pass


class TestPostgresChunkSearch(ChunkSearchSuite):
    pass


class TestPostgresKeyLookup(KeyLookupSuite):
    pass
