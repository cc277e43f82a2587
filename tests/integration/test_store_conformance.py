"""The PostgreSQL store passes every store conformance suite (tests/support/store_conformance*.py):
the aggregates of ``Store``, the queue of ``JobStore``, the records of ``AnswerStore``, the users and
sessions of ``UserStore`` and ``SessionStore``, the re-index of ``ReindexStore`` and the readings of
``ReadingsStore``, all over this module's one database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from uuid import UUID

import pytest

from docrag.services import Runtime
from docrag.store.answers import AnswerStore
from docrag.store.heartbeats import WorkerHeartbeats
from docrag.store.jobs import JobStore
from docrag.store.keys import new_api_key
from docrag.store.postgres import Store
from docrag.store.readings import ReadingsStore
from docrag.store.reindex import ReindexStore
from docrag.store.sessions import SessionStore
from docrag.store.users import UserStore
from store_conformance import (
    ChunkSearchSuite,
    CollectionStoreSuite,
    DocumentStoreSuite,
    KeyLookupSuite,
)
from store_conformance_answers import AnswerRecordsSuite
from store_conformance_job_groups import JobGroupSuite
from store_conformance_jobs import JobQueueSuite
from store_conformance_readings import DeploymentReadingsSuite
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
    """The queue of this module's database (no worker runs over it)."""
    return JobStore(store, sealer=runtime.jobs.sealer)


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


@pytest.fixture
def deployment_readings(store: Store) -> ReadingsStore:
    return ReadingsStore(store)


@pytest.fixture(scope="module")
def replicated_readings(store: Store) -> Iterator[ReadingsStore]:
    """A second, small pool on this module's database, whose replica URL names that same primary."""
    with closing(Store(store.url, min_size=1, max_size=2, read_url=store.url)) as replicated:
        yield ReadingsStore(replicated)


@pytest.fixture(scope="module")
def unanswering_readings(store: Store) -> ReadingsStore:
    """Over a store whose pools, the replica's included, are closed: no connection answers, at
    once, where a stopped server would cost each read the pool's 30 s timeout."""
    gone = Store(store.url, min_size=0, max_size=1, read_url=store.url)
    gone.close()
    return ReadingsStore(gone)


@pytest.fixture
def beat(store: Store) -> Iterator[Callable[[str], None]]:
    """Heartbeats as the worker processes send them (jobs/worker.py), forgotten after the test."""
    heartbeats, seen = WorkerHeartbeats(store), set()

    def record(worker_id: str) -> None:
        heartbeats.beat(worker_id, threads=1)
        seen.add(worker_id)

    yield record
    for worker_id in seen:
        heartbeats.forget(worker_id)


@pytest.fixture
def record_backup(store: Store) -> Iterator[Callable[[bool], None]]:
    """A backup_runs row as ``docrag backup`` records each run (store/backup.py), removed after the test."""
    location = f"conformance-{uuid.uuid4().hex}"

    def record(ok: bool) -> None:
        with store.connection(store.ALL_TENANTS) as conn:
            conn.execute(
                "INSERT INTO backup_runs (finished_at, ok, location) VALUES (now(), %s, %s)",
                (ok, location),
            )

    yield record
    with store.connection(store.ALL_TENANTS) as conn:
        conn.execute("DELETE FROM backup_runs WHERE location = %s", (location,))


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


class TestPostgresJobGroups(JobGroupSuite):
    pass


class TestPostgresAnswerRecords(AnswerRecordsSuite):
    pass


class TestPostgresUserAccounts(UserAccountsSuite):
    pass


class TestPostgresSessionRecords(SessionRecordsSuite):
    pass


class TestPostgresCollectionReindex(CollectionReindexSuite):
    pass


class TestPostgresDeploymentReadings(DeploymentReadingsSuite):
    pass
