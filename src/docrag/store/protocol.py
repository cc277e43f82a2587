"""What the layers above ask of the store, one protocol per aggregate (Haystack's DocumentStore,
in spirit): retrieval, answering, jobs, identity, the health checks and the API type against these;
store/postgres.py's ``Store`` and the aggregates over its pool (store/jobs.py, answers.py, users.py,
sessions.py, reindex.py, readings.py) are the one implementation. Identity's two protocols live in
store/protocol_identity.py and the job queue's in store/protocol_jobs.py, under the same rules.
tests/support/store_conformance*.py hold a suite per protocol that any implementation must pass.

Every method takes the caller's tenant (but the deployment's own readings, a login's tenant by
name and a refresh token's lookup): an implementation must never return another tenant's rows.
Errors are the typed ones of docrag/errors.py (``NotFound`` with ``collection_not_found``,
``document_not_found``...; ``Conflict`` with ``collection_exists``; ``Unavailable``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import numpy as np

from docrag.domain import (
    Answer,
    Collection,
    DocumentInfo,
    Hit,
    NewDocument,
    Principal,
)
from docrag.domain.records import Conversation, Feedback, FeedbackSummary, Rating, StoredAnswer
from docrag.store.protocol_jobs import JobQueue as JobQueue  # the queue's protocol lives there

if TYPE_CHECKING:
    from docrag.store.heartbeats import Fleet
    from docrag.store.readings import Backlog
    from docrag.store.reindex import NewVectors, PendingChunk
    from docrag.store.replica import ReplicaStatus


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
class ChunkVectors:
    """A chunk's vectors as one read found them, with the model its collection said built them in
    the same snapshot (a re-index swaps a collection's model and its chunks' vectors at once)."""

    model: str
    embedding: np.ndarray[Any, Any]  # float32
    sentences: bytes | None  # float16, one row per stored sentence (None: it has none)


@dataclass(frozen=True, slots=True)
class LexicalCorpus:
    version: int
    ids: list[int]
    documents: list[UUID]
    texts: list[str]


@dataclass(frozen=True, slots=True)
class CollectionVectors:
    """A collection's chunk vectors at one content version (unit rows, float32), or only the
    version when the collection holds more chunks than were asked for (``vectors`` is None)."""

    version: int
    ids: np.ndarray[Any, Any]
    vectors: np.ndarray[Any, Any] | None


class CollectionStore(Protocol):
    """A tenant's collections, and the content version each change of their chunks moves."""

    def create_collection(self, tenant_id: UUID, name: str, model_id: str, dim: int) -> Collection:
        """:raises Conflict: ``collection_exists`` when the tenant has one of that name."""
        ...

    def get_or_create_collection(self, tenant_id: UUID, name: str, model_id: str, dim: int) -> Collection: ...

    def list_collections(self, tenant_id: UUID) -> list[Collection]:
        """By name, each with its ``document_count``."""
        ...

    def collection_by_name(self, tenant_id: UUID, name: str) -> Collection:
        """:raises NotFound: ``collection_not_found``."""
        ...

    def collection_ids(self, tenant_id: UUID, names: Sequence[str]) -> list[UUID]:
        """In the order given, each name once. :raises NotFound: ``collection_not_found``."""
        ...

    def collection_by_id(self, tenant_id: UUID, collection_id: UUID) -> Collection:
        """:raises NotFound: ``collection_not_found``."""
        ...

    def delete_collection(self, tenant_id: UUID, collection_id: UUID) -> None:
        """With its documents and chunks. :raises NotFound: ``collection_not_found``."""
        ...

    def content_versions(self, tenant_id: UUID, collection_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The tenant's collections among ``collection_ids`` only."""
        ...

    def ensure_embedding_index(self, dim: int) -> None: ...


class DocumentStore(Protocol):
    """Documents and their chunks as a whole, within one tenant."""

    def find_documents_by_hash(
        self, tenant_id: UUID, collection_id: UUID, digests: Sequence[bytes]
    ) -> dict[bytes, DocumentInfo]:
        """The collection's documents whose bytes have these SHA-256 digests, by digest."""
        ...

    def insert_documents(
        self, collection: Collection, documents: Sequence[NewDocument]
    ) -> list[tuple[DocumentInfo, bool]]:
        """Each document, 'indexed', with all its chunks, in one transaction for them all, and
        whether it is new (False: the collection already holds these bytes, and that document
        is returned, unchanged). Ingestion without the queue (jobs/ingest_now.py) stores
        through this; new documents move the collection's content version, found ones do not."""
        ...

    def list_documents(
        self, tenant_id: UUID, collection_id: UUID, *, limit: int = 100, offset: int = 0
    ) -> list[DocumentInfo]:
        """Oldest first."""
        ...

    def get_document(self, tenant_id: UUID, document_id: UUID) -> DocumentInfo:
        """:raises NotFound: ``document_not_found``."""
        ...

    def document_text(self, tenant_id: UUID, document_id: UUID) -> tuple[str, list[int]]:
        """Its text and the offsets its pages start at. :raises NotFound: ``document_not_found``."""
        ...

    def delete_document(self, tenant_id: UUID, document_id: UUID) -> UUID:
        """With its chunks; :returns: its collection. :raises NotFound: ``document_not_found``."""
        ...

    def count_chunks(self, tenant_id: UUID, document_id: UUID | None = None) -> int: ...


class ChunkSearch(Protocol):
    """Retrieval's reads: always within the tenant and the collections asked for."""

    def scopes(self, tenant_id: UUID, collection_ids: Sequence[UUID]) -> list[Scope]: ...

    def dense_search(
        self,
        tenant_id: UUID,
        collection_ids: Sequence[UUID],
        query: np.ndarray[Any, Any],
        *,
        limit: int,
        ef_search: int,
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity), best first, at most ``limit``."""
        ...

    def lexical_corpus(self, tenant_id: UUID, collection_id: UUID) -> LexicalCorpus: ...

    def collection_vectors(
        self, tenant_id: UUID, collection_id: UUID, dim: int, max_chunks: int
    ) -> CollectionVectors: ...

    def sentence_vectors(self, tenant_id: UUID, chunk_ids: Sequence[int]) -> dict[int, bytes]:
        """Per chunk that has them, its sentences' vectors: float16, one row per stored sentence."""

    def chunk_vectors(self, tenant_id: UUID, chunk_ids: Sequence[int]) -> dict[int, ChunkVectors]: ...

    def hits(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], scored: Sequence[tuple[int, float]]
    ) -> list[Hit]:
        """The scored chunks that exist in scope, in the order given, with their scores and their
        stored sentences (offsets and page of each)."""
        ...


class KeyLookup(Protocol):
    def principal_for_key(self, key: str) -> Principal | None:
        """The caller an API key proves; None when it is unknown, revoked or expired."""
        ...


class AnswerRecords(Protocol):
    """Conversations, the answers given in them, and their feedback."""

    def create_conversation(
        self, tenant_id: UUID, title: str | None, *, created_by: UUID | None = None
    ) -> Conversation: ...

    def conversation(self, tenant_id: UUID, conversation_id: UUID) -> Conversation:
        """:raises NotFound: ``conversation_not_found``."""
        ...

    def history(self, tenant_id: UUID, conversation_id: UUID, turns: int) -> list[StoredAnswer]: ...

    def save(
        self,
        tenant_id: UUID,
        answer: Answer,
        *,
        resolved_question: str,
        collections: Sequence[str],
        conversation_id: UUID | None = None,
        created_by: UUID | None = None,
    ) -> StoredAnswer: ...

    def get(self, tenant_id: UUID, answer_id: UUID) -> StoredAnswer:
        """:raises NotFound: ``answer_not_found``."""
        ...

    def rate(
        self,
        tenant_id: UUID,
        answer_id: UUID,
        key_id: UUID | None,
        rating: Rating,
        comment: str | None,
        *,
        user_id: UUID | None = None,
    ) -> Feedback: ...

    def summary(self, tenant_id: UUID) -> FeedbackSummary: ...


class CollectionReindex(Protocol):
    """Re-embedding a collection beside its served vectors, then one switch (store/reindex.py).
    Until the switch, nothing a reader sees changes; the ``collection`` passed names its tenant."""

    def begin(self, collection: Collection, model_id: str, dim: int) -> None:
        """Make ``model_id`` (``dim``-dimensional) the collection's next model: again for the model
        under way resumes, keeping the vectors written; a fresh start counts none written before.

        :raises InvalidRequest: the collection already uses that model, or is not (or no longer)
            the tenant's. :raises Conflict: ``reindex_in_progress``, one to another model is under way."""
        ...

    def ensure_embedding_index(self, dim: int) -> None:
        """Have ``dim``-dimensional vectors searched by an index (nothing to do once it exists)."""
        ...

    def pending(self, collection: Collection, *, after: int, limit: int) -> list[PendingChunk]:
        """At most ``limit`` of the collection's chunks still without a new vector, in id order
        after chunk id ``after`` (0: from the first), each with its embedded text and the spans of
        its sentences in that text."""
        ...

    def write(self, collection: Collection, model_id: str, vectors: Sequence[NewVectors]) -> bool:
        """Keep new vectors of the collection's chunks (other chunk ids change nothing).

        :returns: False, writing nothing, when no re-index to ``model_id`` is under way (cancelled,
            replaced by another, or switched already)."""
        ...

    def switch(self, collection: Collection, model_id: str) -> int:
        """Serve the new vectors, all at once, if every chunk of the collection has one (chunks
        added meanwhile included): the collection's model and dimension become the new ones and
        its content version moves.

        :returns: how many chunks still lack a new vector (0: switched; otherwise nothing changed).
        :raises Conflict: ``reindex_in_progress`` when no re-index to ``model_id`` is under way
            (it was cancelled)."""
        ...

    def cancel(self, collection: Collection) -> None:
        """Drop a re-index under way and the vectors it wrote; the served ones never changed."""
        ...


class DeploymentReadings(Protocol):
    """What health checks and metrics read of the whole deployment, not of one tenant
    (store/readings.py); a method that reads the database raises ``Unavailable`` or the
    driver's error when it does not answer."""

    @property
    def replicated(self) -> bool:
        """Whether searches may read from a replica (only then is :meth:`replica_status` asked)."""
        ...

    def ping(self) -> None:
        """Returns when the database answers."""
        ...

    def replica_status(self) -> ReplicaStatus:
        """The replica's state (``ok``, ``not_a_standby`` or ``down``); only when :attr:`replicated`.
        A replica that does not answer is ``down``, not an error."""
        ...

    def pool_stats(self) -> dict[str, int]:
        """This process's connection pool, counts by name, among them the ``pool_size``,
        ``pool_available``, ``pool_max`` and ``requests_waiting`` that the gauges read. Asks
        nothing of the database."""
        ...

    def has_pgvector(self) -> bool: ...

    def backlog(self) -> Backlog:
        """Queued jobs claimable now (not those waiting out a retry's delay), and how long the
        oldest of them has waited (0 when none)."""
        ...

    def fleet(self, fresh_seconds: float) -> Fleet:
        """Worker processes whose last heartbeat is at most ``fresh_seconds`` old, and the Unix time
        of the newest heartbeat of any (0 when no worker is registered)."""
        ...

    def last_backup_age(self) -> float | None:
        """Seconds since the last successful backup; None when none succeeded."""
        ...

    def last_backup_time(self) -> float | None:
        """Unix time of the last successful backup, 0 when none succeeded; None when the database
        keeps no record of backups."""
        ...
