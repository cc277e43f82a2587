"""The PostgreSQL store passes every store conformance suite (tests/support/store_conformance*.py):
the aggregates of ``Store``, the queue of ``JobStore``, the records of ``AnswerStore``, the users and
sessions of ``UserStore`` and ``SessionStore`` and the re-index of
``ReindexStore``, all over this module's one database."""

from __future__ import annotations

import uuid
from uuid import UUID

import pytest

from docrag.services import Runtime
from docrag.store.answers import AnswerStore
from docrag.store.jobs import JobStore
from docrag.store.keys import new_api_key
from docrag.store.postgres import Store
from docrag.store.reindex import ReindexStore
from docrag.store.sessions import SessionStore
from docrag.store.users import UserStore
from store_conformance import (
    MODEL,
    ChunkSearchSuite,
    CollectionStoreSuite,
    DocumentStoreSuite,
    KeyLookupSuite,
)
from store_conformance_answers import AnswerRecordsSuite
from store_conformance_jobs import JobQueueSuite
from store_conformance_reindex import CollectionReindexSuite
from store_conformance_sessions import SessionRecordsSuite
from store_conformance_users import UserAccountsSuite


@pytest.fixture(scope="module")
def store(runtime: Runtime) -> Store:
    return runtime.store


@pytest.fixture
def tenant_names() -> tuple[str, str]:
    return f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"


@pytest.fixture
def tenants(store: Store, tenant_names: tuple[str, str]) -> tuple[UUID, UUID]:
    first, second = tenant_names
    return store.ensure_tenant(first), store.ensure_tenant(second)


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


@pytest.fixture
def job_queue(store: Store, runtime: Runtime) -> JobStore:
    """The queue of this module's database (no worker runs over it), embedding with the suite's model."""
    return JobStore(store, sealer=runtime.jobs.sealer, embedding_model=MODEL)


@pytest.fixture
def answer_records(store: Store) -> AnswerStore:
    return AnswerStore(store)


@pytest.fixture
def raters(store: Store, tenants: tuple[UUID, UUID]) -> tuple[UUID, UUID]:
    first, second = (store.add_api_key(tenants[0], f"rater {n}", new_api_key(), "reader") for n in (1, 2))
    return first, second


@pytest.fixture
def user_accounts(store: Store) -> UserStore:
    return UserStore(store)


@pytest.fixture
def session_records(store: Store) -> SessionStore:
    return SessionStore(store)


@pytest.fixture
def collection_reindex(store: Store) -> ReindexStore:
    return ReindexStore(store)


class TestPostgresCollectionStore(CollectionStoreSuite):
    pass


class TestPostgresDocumentStore(DocumentStoreSuite):
    pass


class TestPostgresChunkSearch(ChunkSearchSuite):
    pass


class TestPostgresKeyLookup(KeyLookupSuite):
    pass


class TestPostgresJobQueue(JobQueueSuite):
    pass


class TestPostgresAnswerRecords(AnswerRecordsSuite):
    pass


class TestPostgresUserAccounts(UserAccountsSuite):
    pass


class TestPostgresSessionRecords(SessionRecordsSuite):
    pass


class TestPostgresCollectionReindex(CollectionReindexSuite):
    pass
