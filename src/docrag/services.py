"""Builds DocRAG's services from settings: database (embedded or external), model, indexes.

The API's lifespan and the CLI both open one :class:`Runtime` and close it when done;
nothing is built at import time.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import cast
from uuid import UUID

from docrag.answering.cached import CachingAnswerer
from docrag.answering.cached_search import CachingSearcher
from docrag.answering.events import Answerer
from docrag.answering.extractive import ExtractiveAnswerer
from docrag.answering.generative import GenerativeAnswerer
from docrag.answering.service import AskService
from docrag.cache.tagged import MemoryCache, RedisCache, TaggedCache
from docrag.domain import Collection
from docrag.errors import NotFound
from docrag.groundedness.detector import GroundednessDetector
from docrag.groundedness.judge import LLMJudge
from docrag.identity.service import Identity
from docrag.ingest.pipeline import Ingestor
from docrag.jobs.ingest_now import IngestNow
from docrag.jobs.runner import JobRunner
from docrag.jobs.worker import Worker
from docrag.providers.batching import BatchingEmbedder
from docrag.providers.generation import Generator
from docrag.providers.generators import build_generator
from docrag.providers.model_set import ModelSet
from docrag.providers.protocol import Embedder, Reranker, close_model
from docrag.providers.registry import build_models, build_reranker
from docrag.providers.timed import timed_embedder, timed_generator, timed_reranker
from docrag.retrieval.exact import ExactVectors
from docrag.retrieval.hybrid import Retriever
from docrag.retrieval.lexical import LexicalIndexes
from docrag.settings import Settings
from docrag.store.answers import AnswerStore
from docrag.store.crypto import Sealer
from docrag.store.embedded import EmbeddedPostgres
from docrag.store.heartbeats import WorkerHeartbeats
from docrag.store.job_traces import JobTraces
from docrag.store.jobs import JobStore
from docrag.store.keyring import load as load_master_keys
from docrag.store.keys import new_api_key as new_api_key
from docrag.store.keystore import open_keystore
from docrag.store.pii_policy import PiiPolicies
from docrag.store.postgres import Store
from docrag.store.readings import ReadingsStore
from docrag.store.retention import DueDocument, RetentionReport, RetentionStore
from docrag.store.roles import open_database
from docrag.store.sessions import SessionStore
from docrag.store.subject import (
    ActorErasure,
    ActorErasureHook,
    ErasureHook,
    TenantErasure,
    erase_actor,
    erase_tenant,
)
from docrag.store.tenancy import collection_scope
from docrag.store.tenants import DEFAULT_COLLECTION, DEFAULT_TENANT
from docrag.store.users import UserStore

_log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    #: The model new collections get (``models.primary``).
    embedder: Embedder
    lexical: LexicalIndexes
    exact: ExactVectors
    retriever: Retriever
    #: Search as the API serves it: the retriever behind the answer cache's store, when it is on.
    searcher: Retriever | CachingSearcher
    ingestor: Ingestor
    #: Ingestion in this process, without the queue (``docrag eval``, benchmarks, tests).
    ingest_now: IngestNow
    jobs: JobStore
    answerer: Answerer
    answers: AnswerStore
    asker: AskService
    embedded: EmbeddedPostgres | None
    default_tenant: UUID
    #: Users, sessions and MFA (docs/auth.md); its JWT keys are read (or made) at open.
    identity: Identity
    #: Set only on the very first start: the admin key, to be shown once.
    bootstrap_key: str | None = None
    #: The configured reranker (DOCRAG_RERANKER), if any.
    reranker: Reranker | None = None
    #: The configured LLM (DOCRAG_GENERATOR), if any: None means extractive answers.
    generator: Generator | None = None
    #: The retriever's embedder: concurrent queries embedded together (providers/batching.py).
    query_embedder: BatchingEmbedder | None = None
    #: Every model this server embeds with: each collection's is the one that built its vectors.
    models: ModelSet | None = None

    #: What :meth:`open` opened, each close registered as it was opened: :meth:`close` unwinds it.
    _resources: contextlib.ExitStack = field(
        default_factory=contextlib.ExitStack, init=False, repr=False, compare=False
    )

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Open every resource in order; a failure on the way closes what was opened, in reverse."""
        with contextlib.ExitStack() as resources:
            runtime = cls._open(settings, resources)
            runtime._resources = resources.pop_all()  # from here on, closed by close()
        return runtime

    @classmethod
    def _open(cls, settings: Settings, resources: contextlib.ExitStack) -> Runtime:
        # Migrated as the schema's owner; the store's pool connects as a role that owns nothing.
        master_keys = load_master_keys(settings)  # before the database: a bad key file fails fast
        database = open_database(settings)
        embedded = database.embedded
        if embedded is not None:
            resources.callback(embedded.stop)
        store = resources.enter_context(
            contextlib.closing(
                Store(
                    database.url,
                    min_size=settings.pool_min_size,
                    max_size=settings.pool_max_size,
                    read_url=settings.database_read_url,
                    read_retry_seconds=settings.database_read_retry_seconds,
                )
            )
        )
        # Timed wrappers: docrag_model_call_duration_seconds per model and operation (unless
        # DOCRAG_METRICS=false), and a span per call while tracing.
        models = build_models(settings, lambda e: timed_embedder(e, metrics=settings.metrics))
        embedder = models.primary
        resources.callback(close_model, embedder)
        resources.callback(models.close)
        reranker = timed_reranker(build_reranker(settings), metrics=settings.metrics)
        resources.callback(close_model, reranker)
        generator = timed_generator(build_generator(settings), metrics=settings.metrics)
        resources.callback(close_model, generator)
        identity = Identity(
            UserStore(store), SessionStore(store), settings
        )  # reads (or, the first time, makes) the JWT key
        lexical = LexicalIndexes(
            store,
            document_weight=settings.lexical_document_weight,
            k1=settings.bm25_k1,
            b=settings.bm25_b,
            memory_bytes=settings.lexical_memory_mb * 2**20,
        )
        exact = ExactVectors(
            store,
            max_chunks=settings.exact_search_max_chunks,
            memory_bytes=settings.exact_search_memory_mb * 2**20,
        )
        query_models = models.mapped(lambda e: BatchingEmbedder(e, max_batch=settings.query_batch_max))
        query_embedder = resources.enter_context(
            contextlib.closing(cast(BatchingEmbedder, query_models.primary))
        )
        resources.callback(query_models.close)
        retriever = resources.enter_context(
            contextlib.closing(
                Retriever(store, query_models, lexical, settings, reranker=reranker, exact=exact)
            )
        )
        detector = GroundednessDetector(embedder)
        answerer = _answerer(
            ExtractiveAnswerer(retriever, settings, detector)
            if generator is None
            else GenerativeAnswerer(
                retriever,
                generator,
                settings,
                detector,
                llm_judge=LLMJudge(generator) if settings.groundedness_judge == "llm" else None,
            ),
            store,
            settings,
        )
        if isinstance(answerer, CachingAnswerer):
            resources.enter_context(contextlib.closing(answerer.cache))
        ingestor = resources.enter_context(
            contextlib.closing(Ingestor(models, settings, redacts=PiiPolicies(store).redacts))
        )
        answers = AnswerStore(store)
        tenant = store.ensure_tenant(DEFAULT_TENANT)
        bootstrap_key = None
        if store.count_api_keys() == 0:
            bootstrap_key = new_api_key()
            store.add_api_key(tenant, "bootstrap admin", bootstrap_key, "admin")
        return cls(
            settings=settings,
            store=store,
            embedder=embedder,
            lexical=lexical,
            exact=exact,
            retriever=retriever,
            searcher=_searcher(retriever, answerer),
            ingestor=ingestor,
            ingest_now=IngestNow(store, ingestor),
            jobs=JobStore(
                store,
                sealer=Sealer(master_keys, open_keystore(settings)),
                max_attempts=settings.job_max_attempts,
            ),
            answerer=answerer,
            answers=answers,
            asker=AskService(store, answers, answerer, settings),
            embedded=embedded,
            default_tenant=tenant,
            identity=identity,
            bootstrap_key=bootstrap_key,
            reranker=reranker,
            generator=generator,
            query_embedder=query_embedder,
            models=models,
        )

    def collection(
        self, tenant_id: UUID, name: str = DEFAULT_COLLECTION, *, create: bool = False
    ) -> Collection:
        if create and collection_scope.get() is None:  # a scoped key only uploads into its own
            return self.store.get_or_create_collection(
                tenant_id, name, self.embedder.model_id, self.embedder.dim
            )
        return self.store.collection_by_name(tenant_id, name)

    def delete_document(self, tenant_id: UUID, document_id: UUID) -> None:
        """Delete the document with its chunks and vectors, and the cached answers of its collection."""
        self.collection_changed(self.store.delete_document(tenant_id, document_id))

    def delete_collection(self, tenant_id: UUID, collection_id: UUID) -> None:
        self.store.delete_collection(tenant_id, collection_id)
        self.lexical.forget(tenant_id, collection_id)
        self.exact.forget(tenant_id, collection_id)
        self.collection_changed(collection_id)

    @property
    def readings(self) -> ReadingsStore:
        """What the health checks and the metrics read of the deployment."""
        return ReadingsStore(self.store)

    @property
    def job_traces(self) -> JobTraces:
        """Which trace each queued job continues (used while tracing is on)."""
        return JobTraces(self.store)

    def apply_retention(self, *, dry_run: bool = False) -> RetentionReport:
        """Purge, in every tenant, the documents and answers their collections' retention makes
        due (store/retention.py); with ``dry_run``, only report what is due."""
        retention = RetentionStore(self.store)
        documents: list[DueDocument] = []
        answers = conversations = 0
        for tenant in retention.tenants_with_policies():
            due = retention.due_documents(tenant)
            documents += due
            if dry_run:
                answers += retention.due_answers(tenant)
                continue
            for doc in due:
                with contextlib.suppress(NotFound):  # deleted meanwhile: as good
                    self.delete_document(tenant, doc.document_id)
            purged = retention.purge_answers(tenant)
            answers, conversations = answers + purged[0], conversations + purged[1]
        return RetentionReport(dry_run, tuple(documents), answers, conversations)

    def erase_tenant(self, tenant_id: UUID, *, on_erased: ErasureHook | None = None) -> TenantErasure:
        """Every row of the tenant (store/subject.py), then what this process and Redis derived
        from them: cached answers (a purge Redis can't take now is owed, cache/tagged.py), and
        the in-memory indexes. Other processes drop theirs at their next sweep (:meth:`forget_gone`)."""
        erased = erase_tenant(self.store, tenant_id, key_store=self.jobs.sealer.keys, on_erased=on_erased)
        for collection_id in erased.collection_ids:
            self.lexical.forget(tenant_id, collection_id)
            self.exact.forget(tenant_id, collection_id)
            self.collection_changed(collection_id)
        return erased

    def erase_actor(
        self, tenant_id: UUID, actor: UUID, *, on_erased: ActorErasureHook | None = None
    ) -> ActorErasure:
        """What ``actor`` created (its conversations, answers, feedback), and the cached answers
        of the collections it asked, which hold its questions."""
        erased = erase_actor(self.store, tenant_id, actor, on_erased=on_erased)
        for collection_id in erased.collection_ids:
            self.collection_changed(collection_id)
        return erased

    def warm_indexes(self, max_chunks: int) -> int:
        """Build the BM25 indexes of the largest collections, up to ``max_chunks`` chunks in all,
        so a fresh process does not make its first searches wait for them (about 12 s at 100k
        chunks on 2 cores). :returns: the chunks indexed."""
        with self.store.connection(self.store.ALL_TENANTS) as conn:  # a named cross-tenant read
            rows = conn.execute(
                "SELECT c.tenant_id, c.id, c.content_version, sum(d.chunk_count) AS chunks"
                " FROM collections c JOIN documents d ON d.collection_id = c.id AND d.tenant_id = c.tenant_id"
                " WHERE d.status = 'indexed' GROUP BY c.tenant_id, c.id, c.content_version"
                " ORDER BY chunks DESC"
            ).fetchall()
        done = 0
        for row in rows:
            chunks = int(row["chunks"] or 0)
            if done + chunks > max_chunks:
                continue
            self.lexical.index(row["tenant_id"], row["id"], int(row["content_version"]))
            done += chunks
        return done

    def forget_gone(self) -> int:
        """Drop what this process holds in memory of collections that no longer exist (deleted or
        erased through another process): BM25 and exact-search indexes, cached answers.
        :returns: how many collections were forgotten."""
        held = self.lexical.held() | self.exact.held()
        cache = self.answerer.cache if isinstance(self.answerer, CachingAnswerer) else None
        tagged = {UUID(tag) for tag in cache.tags()} if isinstance(cache, MemoryCache) else set()
        ids = {c for _, c in held} | tagged
        if not ids:
            return 0
        with self.store.connection(self.store.ALL_TENANTS) as conn:  # a named cross-tenant read
            rows = conn.execute("SELECT id FROM collections WHERE id = ANY(%s)", (list(ids),)).fetchall()
        gone = ids - {UUID(str(r["id"])) for r in rows}
        for tenant_id, collection_id in held:
            if collection_id in gone:
                self.lexical.forget(tenant_id, collection_id)
                self.exact.forget(tenant_id, collection_id)
        for collection_id in gone & tagged:
            self.collection_changed(collection_id)
        return len(gone)

    def collection_changed(self, collection_id: UUID) -> None:
        """Drop the cached answers drawn from the collection (their keys are already stale:
        this frees them, and removes them from a shared Redis)."""
        if isinstance(self.answerer, CachingAnswerer):
            self.answerer.forget(collection_id)

    def worker(self, concurrency: int | None = None) -> Worker:
        """Background ingestion workers over this runtime's database and model (not started)."""
        runner = JobRunner(
            self.jobs,
            self.ingestor,
            self.settings,
            on_indexed=self.collection_changed,
            traces=self.job_traces,
            collections=self.store.collection_by_id,
        )
        return Worker(
            self.jobs,
            runner,
            self.settings,
            concurrency=concurrency,
            heartbeats=WorkerHeartbeats(self.store),
        )

    def close(self) -> None:
        """Close what :meth:`open` opened, the last opened first (a second call does nothing)."""
        self._resources.close()


def _searcher(retriever: Retriever, answerer: Answerer) -> Retriever | CachingSearcher:
    """Searches cached beside the answers, when answers are cached."""
    return CachingSearcher(retriever, answerer) if isinstance(answerer, CachingAnswerer) else retriever


def _answerer(inner: Answerer, store: Store, settings: Settings) -> Answerer:
    """``inner`` behind the answer cache: Redis's when DOCRAG_REDIS_URL is set, else in memory."""
    if settings.answer_cache_seconds <= 0:
        return inner
    cache: TaggedCache
    if settings.redis_url:
        cache = RedisCache(settings.redis_url, ttl_seconds=settings.answer_cache_seconds)
    else:
        cache = MemoryCache(
            ttl_seconds=settings.answer_cache_seconds,
            max_entries=settings.answer_cache_entries,
            max_bytes=settings.answer_cache_bytes,
        )
    return CachingAnswerer(inner, cache, store, settings)
