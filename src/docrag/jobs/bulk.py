"""Many files through the queue (``docrag ingest``): enqueue each, then follow them to the end.

Files whose bytes are already stored (or queued, by an earlier interrupted run) are not queued
again, so running the same command after Ctrl-C resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from docrag.domain import Collection
from docrag.errors import DocRAGError
from docrag.ingest.pipeline import Ingestor, Upload
from docrag.jobs.submit import submit
from docrag.store.protocol import JobQueue


@dataclass
class BulkReport:
    new: int = 0  # indexed by this run (queued now, or resumed from an earlier run)
    existing: int = 0  # already indexed before this run
    failures: list[tuple[Path, str, str]] = field(default_factory=list)  # (file, code, message)
    pending: dict[UUID, Path] = field(default_factory=dict)  # queued, not final yet


def enqueue_files(
    jobs: JobQueue,
    ingestor: Ingestor,
    collection: Collection,
    files: Sequence[Path],
    report: BulkReport,
    on_final: Callable[[int], object],
) -> None:
    """Queue every file not stored yet; ``on_final(n)`` counts files already final (stored or refused)."""
    for path in files:
        try:
            queued = submit(jobs, ingestor, collection, Upload(path.read_bytes(), path.name))
        except DocRAGError as exc:
            report.failures.append((path, exc.code, exc.message))
            on_final(1)
            continue
        if queued.document.status == "indexed":
            report.existing += 1
            on_final(1)
        else:
            report.pending[queued.document.id] = path


def follow(
    jobs: JobQueue,
    tenant_id: UUID,
    report: BulkReport,
    on_final: Callable[[int], object],
    *,
    poll: float = 0.25,
) -> None:
    """Wait until every pending document is indexed or failed, moving each into the report."""
    while report.pending:
        found = {doc.id: doc for doc in jobs.documents(tenant_id, list(report.pending))}
        for gone in set(report.pending) - set(found):  # deleted meanwhile (by another client)
            report.failures.append((report.pending.pop(gone), "document_not_found", "deleted while queued"))
            on_final(1)
        for doc in found.values():
            if not doc.final:
                continue
            path = report.pending.pop(doc.id)
            if doc.status == "indexed":
                report.new += 1
            else:
                report.failures.append((path, doc.error_code or "internal_error", doc.error_message or ""))
            on_final(1)
        if report.pending:
            time.sleep(poll)
