"""Runs a group of small jobs of one tenant together (claimed together: jobs/worker.py).

Each job costs a fixed amount besides its model time: claiming it, reading its bytes, its
progress, its final write's transaction and its collection's lock. For a document of a chunk or
two that fixed part was as large as a tenth of the model's time (bench/ingest_throughput.py), so
small uploads run in groups: one claim, one read of all their bytes, each parsed and chunked on
its own, all their chunks embedded in one model call per model, and one transaction for all
their final writes. The fences and checks of a single job's run hold for each (store/
job_group_writes.py), and what fails fails alone: a job whose bytes can't be indexed fails with
its typed code while the others are written; a model error retries only that model's jobs.

A grouped job shows 'parsing' until it is indexed (no 'embedding' progress: the whole group takes
about as long as one mid-sized document). Traced jobs run one at a time, each with its own spans.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from docrag import tracing
from docrag.domain import ChunkDraft, Job, ParsedDocument
from docrag.errors import DocRAGError
from docrag.jobs.runner import JobOutcome, JobRunner, final_title
from docrag.store.job_group_writes import Completion
from docrag.store.job_uploads import StoredUpload
from docrag.store.protocol import JobQueue


@dataclass(slots=True)
class _Prepared:
    job: Job
    upload: StoredUpload
    parsed: ParsedDocument
    drafts: list[ChunkDraft]


class GroupRunner:
    def __init__(self, jobs: JobQueue, runner: JobRunner) -> None:
        self._jobs = jobs
        self._runner = runner

    def run(self, group: Sequence[Job], abort: threading.Event | None = None) -> list[JobOutcome]:
        """Process every job of ``group`` (one tenant's) to its end; :returns: their outcomes, in order.

        :raises Unavailable: when even recording an outcome fails (the leases then expire and
            other workers take the jobs over).
        """
        if len(group) == 1 or tracing.enabled():
            return [self._runner.run(job, abort) for job in group]
        settled: dict[int, tuple[JobOutcome, str]] = {}
        try:
            self._process(group, abort, settled)
        except Exception as exc:  # the whole group's: each job not yet settled ends by it
            for job in group:
                if job.id not in settled:
                    settled[job.id] = self._runner.settle(job, exc)
        for job in group:
            self._runner.count(*settled[job.id])
        return [settled[job.id][0] for job in group]

    def _process(
        self, group: Sequence[Job], abort: threading.Event | None, settled: dict[int, tuple[JobOutcome, str]]
    ) -> None:
        clock = self._runner.clock()
        uploads = self._jobs.uploads(group[0].tenant_id, group)
        clock.lap("fetch")
        ready: list[_Prepared] = []
        for job in group:
            upload = uploads.get(job.document_id)
            if upload is None:  # its bytes are gone (an abandoned job past its attempts comes alone: run())
                settled[job.id] = self._runner.fail(job, "internal_error", "the uploaded bytes are missing")
                continue
            if isinstance(upload, DocRAGError):  # its bytes can't be read (a shredded key): it alone
                settled[job.id] = self._runner.settle(job, upload)
                continue
            try:
                parsed, drafts = self._runner.prepare(upload, clock)
            except Exception as exc:
                settled[job.id] = self._runner.settle(job, exc)
                continue
            ready.append(_Prepared(job, upload, parsed, drafts))
        self._runner.stop_if_aborted(abort)
        by_model: dict[tuple[str, int, str], list[_Prepared]] = {}
        for item in ready:
            by_model.setdefault(item.upload.model, []).append(item)
        completions: list[Completion] = []
        for model, items in by_model.items():
            try:
                completions.extend(self._embed(model, items))
            except Exception as exc:  # the model's error: its jobs retry, the others go on
                for item in items:
                    settled[item.job.id] = self._runner.settle(item.job, exc)
        clock.lap("embed")
        self._runner.stop_if_aborted(abort)
        if completions:
            self._write(completions, {item.job.id: item.parsed for item in ready}, settled)
        clock.lap("write")

    def _embed(self, model: tuple[str, int, str], items: list[_Prepared]) -> list[Completion]:
        embedder = self._runner.embedder_for(model)
        documents = [
            (
                item.drafts,
                # A first version has nothing to reuse: no round trip for it.
                self._jobs.previous_vectors(item.job, embedder.model_id) if item.upload.served_chunks else {},
            )
            for item in items
        ]
        embedded = self._runner.ingestor.embed_documents(documents, embedder)
        return [
            Completion(
                item.job, final_title(item.upload, item.parsed), item.parsed, chunks, fresh, embedder.model_id
            )
            for item, (chunks, fresh) in zip(items, embedded, strict=True)
        ]

    def _write(
        self,
        completions: list[Completion],
        parsed: dict[int, ParsedDocument],
        settled: dict[int, tuple[JobOutcome, str]],
    ) -> None:
        written = self._jobs.complete_group(completions[0].job.tenant_id, completions)
        collections: set[UUID] = set()
        for completion, result in zip(completions, written, strict=True):
            job = completion.job
            if isinstance(result, DocRAGError):  # a duplicate fails, another model retries
                settled[job.id] = self._runner.settle(job, result)
            elif not result:
                settled[job.id] = (JobOutcome.LOST, "none")
            else:
                settled[job.id] = (JobOutcome.DONE, "none")
                self._runner.indexed(job, parsed[job.id])
                collections.add(job.collection_id)
        for collection_id in collections:
            self._runner.on_indexed(collection_id)
