"""Runs one claimed ingestion job: parse, chunk, embed (with progress), then the fenced final write.

Permanent errors (the bytes can't be indexed: a :class:`BadInput`) fail the document at once
with their typed code. Anything else (database or model unavailable, an unexpected error) is
retried with exponential backoff until the job's attempts are used up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from uuid import UUID

from docrag import tracing
from docrag.domain import ChunkDraft, Collection, Job, ParsedDocument
from docrag.errors import BadInput, DocRAGError, KeyDestroyed
from docrag.ingest.pipeline import Ingestor, Upload, document_title
from docrag.ingest.redaction import redact_document
from docrag.instruments import ingest_stage_seconds, jobs_finished
from docrag.providers.protocol import Embedder
from docrag.settings import Settings
from docrag.store.job_traces import JobTraces
from docrag.store.job_uploads import StoredUpload
from docrag.store.protocol import JobQueue
from docrag.text.pii import redact

_log = logging.getLogger(__name__)


class JobOutcome(StrEnum):
    """How one run of a claimed job ended (what enqueueing did is store/jobs.py's EnqueueOutcome)."""

    DONE = "done"
    FAILED = "failed"
    RETRYING = "retrying"
    HANDED_BACK = "handed_back"  # the worker is stopping: queued again for another one
    LOST = "lost"  # the lease ran out and another worker took the job: nothing was written


class _Stop(Exception):
    def __init__(self, outcome: JobOutcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


class _StageClock:
    def __init__(self, totals: dict[str, float], lock: threading.Lock) -> None:
        self._totals = totals
        self._lock = lock
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        with self._lock:
            self._totals[stage] = self._totals.get(stage, 0.0) + now - self._last
        ingest_stage_seconds().labels(stage).observe(now - self._last)
        self._last = now


def final_title(upload: StoredUpload, parsed: ParsedDocument) -> str:
    """The indexed document's title (the caller's, else its own...), redacted where its text is."""
    title = document_title(upload.title, upload.filename, parsed)
    return redact(title) if upload.redact else title


def retry_delay(attempt: int, base: float) -> float:
    """Exponential backoff after the ``attempt``-th failed try (1-based), at most an hour."""
    return float(min(base * 2 ** (attempt - 1), 3600.0))


class JobRunner:
    def __init__(
        self,
        jobs: JobQueue,
        ingestor: Ingestor,
        settings: Settings,
        *,
        on_indexed: Callable[[UUID], None] | None = None,
        traces: JobTraces | None = None,
        collections: Callable[[UUID, UUID], Collection] | None = None,
    ) -> None:
        self._jobs = jobs
        self._ingestor = ingestor
        self._settings = settings
        #: Called with the collection id after a document (version) is indexed: drops stale caches.
        self._on_indexed = on_indexed
        #: While tracing, a job's ``ingest`` span continues the trace of the request that queued it.
        self._traces = traces
        #: (tenant, collection id) -> Collection: where a document's attachments are submitted
        #: as documents of their own (not submitted without it).
        self._collections = collections
        #: Seconds spent per stage (fetch, parse, chunk, embed, write) over every job run, for
        #: ``docrag worker``'s exit summary and the throughput benchmark's profile.
        self.stage_seconds: dict[str, float] = {}
        self._stage_lock = threading.Lock()

    def run(self, job: Job, abort: threading.Event | None = None) -> JobOutcome:
        """Process ``job`` to its end; with ``abort`` set, hand it back at the next checkpoint.

        :raises Unavailable: when even recording the outcome fails (the lease then expires and
            another worker takes the job over).
        """
        if not tracing.enabled():
            outcome, code = self._run(job, abort)
        else:
            parent = tracing.context_of(self._traces.of(job)) if self._traces is not None else None
            attributes: tracing.Attributes = {
                "docrag.job_id": job.id,
                "docrag.document_id": str(job.document_id),
                "docrag.attempt": job.attempts,
            }
            with tracing.span("ingest", attributes, parent=parent):
                outcome, code = self._run(job, abort)
                tracing.annotate({"docrag.outcome": outcome.value, "docrag.error_code": code})
        self.count(outcome, code)
        return outcome

    def _run(self, job: Job, abort: threading.Event | None) -> tuple[JobOutcome, str]:
        """The outcome and its error code ("none" unless the job failed or is retried)."""
        if job.attempts > job.max_attempts:
            # Only a job whose workers died (lease ran out) comes back past its last attempt.
            message = f"ingestion was abandoned {job.attempts - 1} times (a worker crashed or hung)"
            return self.fail(job, "internal_error", message)
        try:
            return self._process(job, abort)
        except Exception as exc:
            return self.settle(job, exc)

    def settle(self, job: Job, exc: Exception) -> tuple[JobOutcome, str]:
        """The outcome of ``job`` when ``exc`` stopped its run, recorded: handed back, failed (its
        bytes can't be indexed: a :class:`BadInput`), or retried later (anything else)."""
        if isinstance(exc, _Stop):
            if exc.outcome is JobOutcome.HANDED_BACK and not self._jobs.hand_back(job):
                return JobOutcome.LOST, "none"
            return exc.outcome, "none"
        if isinstance(exc, BadInput | KeyDestroyed):  # a shredded data key never comes back: no retry
            return self.fail(job, exc.code, exc.message)
        if isinstance(exc, DocRAGError):
            return self.retry_later(job, exc.code, exc.message)
        # A bug or a library failing: logged, then retried like a transient error.
        _log.error("job %s failed unexpectedly", job.id, exc_info=exc)
        return self.retry_later(job, "internal_error", f"{type(exc).__name__}: {exc}")

    @staticmethod
    def count(outcome: JobOutcome, code: str) -> None:
        jobs_finished().labels(outcome.value, code).inc()

    def _process(self, job: Job, abort: threading.Event | None) -> tuple[JobOutcome, str]:
        clock = self.clock()
        upload = self._jobs.upload(job)
        if upload is None:
            self._checkpoint(job, "parsing", 0.0, abort)  # no bytes and not ours: a lost job
            return self.fail(job, "internal_error", "the uploaded bytes are missing")
        clock.lap("fetch")
        parsed, drafts = self.prepare(upload, clock)
        self._checkpoint(job, "embedding", 0.0, abort)
        embedder = self.embedder_for(upload.model)
        # A first version has nothing to reuse: no round trip for it.
        reuse = self._jobs.previous_vectors(job, embedder.model_id) if upload.served_chunks else {}
        clock.lap("fetch")
        with tracing.span("embed", {"docrag.chunks": len(drafts)} if tracing.enabled() else None):
            chunks, embedded = self._ingestor.embed(
                drafts,
                # The last batch's progress is the final write's (progress 1, indexed).
                lambda done, total: self._checkpoint(
                    job, "embedding", done / total, abort, write=done < total
                ),
                reuse=reuse,
                embedder=embedder,
            )
            tracing.annotate({"docrag.embedded": embedded})
        clock.lap("embed")
        title = final_title(upload, parsed)
        with tracing.span("write"):
            written = self._jobs.complete(
                job, title=title, parsed=parsed, chunks=chunks, embedded=embedded, model=embedder.model_id
            )
        clock.lap("write")
        if not written:
            return JobOutcome.LOST, "none"
        self.indexed(job, parsed)
        self.on_indexed(job.collection_id)
        return JobOutcome.DONE, "none"

    # -- what a group run (jobs/group_runner.py) shares with a single job's ---------------------

    def clock(self) -> _StageClock:
        """A stopwatch adding each stage's seconds to :attr:`stage_seconds`."""
        return _StageClock(self.stage_seconds, self._stage_lock)

    def prepare(self, upload: StoredUpload, clock: _StageClock) -> tuple[ParsedDocument, list[ChunkDraft]]:
        """Parse (redacting where the collection says so) and chunk an upload.

        :raises BadInput: when its bytes can't be indexed."""
        with tracing.span("parse", {"docrag.bytes": len(upload.data)} if tracing.enabled() else None):
            parsed = self._ingestor.parse(upload.data, upload.filename, upload.mime)
            if upload.redact:  # before chunking: no chunk, vector or answer sees the PII
                parsed = redact_document(parsed)
        clock.lap("parse")
        with tracing.span("chunk"):
            drafts = self._ingestor.chunk(parsed)
            tracing.annotate({"docrag.chunks": len(drafts)})
        clock.lap("chunk")
        return parsed, drafts

    @property
    def ingestor(self) -> Ingestor:
        return self._ingestor

    def indexed(self, job: Job, parsed: ParsedDocument) -> None:
        """After a job's final write: an e-mail's attachments are queued as documents."""
        if parsed.attachments and self._collections is not None:
            self._submit_attachments(job, parsed, self._collections(job.tenant_id, job.collection_id))

    def on_indexed(self, collection_id: UUID) -> None:
        if self._on_indexed is not None:
            self._on_indexed(collection_id)

    def embedder_for(self, collection_model: tuple[str, int, str]) -> Embedder:
        """The model that built the collection's vectors (a collection never mixes models), given
        its (model, dimension, name).

        :raises Conflict: (embedding_model_mismatch: retried, then failed) when none here did."""
        model, dim, name = collection_model
        return self._ingestor.embedder_for(model, dim, repr(name))

    def _submit_attachments(self, job: Job, parsed: ParsedDocument, collection: Collection) -> None:
        """An e-mail's attachments become documents of their own in its collection (queued like
        uploads; the same bytes already there are not stored twice). One that can't be taken
        (unsupported, empty, too large) is skipped: the e-mail's text lists its name."""
        from docrag.jobs.submit import submit

        for attachment in parsed.attachments:
            try:
                submit(self._jobs, self._ingestor, collection, Upload(attachment.data, attachment.name))
            except BadInput as exc:
                _log.info(
                    "attachment %r of document %s not queued: %s", attachment.name, job.document_id, exc.code
                )

    @staticmethod
    def stop_if_aborted(abort: threading.Event | None) -> None:
        """:raises: the signal to hand the job back, once the worker is told to."""
        if abort is not None and abort.is_set():
            raise _Stop(JobOutcome.HANDED_BACK)

    def _checkpoint(
        self, job: Job, status: str, progress: float, abort: threading.Event | None, *, write: bool = True
    ) -> None:
        self.stop_if_aborted(abort)
        if write and not self._jobs.progress(job, status, progress):
            raise _Stop(JobOutcome.LOST)

    def fail(self, job: Job, code: str, message: str) -> tuple[JobOutcome, str]:
        return (JobOutcome.FAILED if self._jobs.fail(job, code, message) else JobOutcome.LOST), code

    def retry_later(self, job: Job, code: str, message: str) -> tuple[JobOutcome, str]:
        if job.attempts >= job.max_attempts:
            return self.fail(job, code, message)
        delay = retry_delay(job.attempts, self._settings.job_retry_base_seconds)
        if not self._jobs.retry(job, f"{code}: {message}", delay):
            return JobOutcome.LOST, code
        return JobOutcome.RETRYING, code
