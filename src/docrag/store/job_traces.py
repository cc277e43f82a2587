"""The trace a queued job continues: the ``traceparent`` its queuing statement's span left
(migration 0073 copies it from the session setting store/tenancy.py sets). Read only while
tracing is on: one statement in the job's tenant."""

from __future__ import annotations

from docrag.domain import Job
from docrag.store.postgres import Store


class JobTraces:
    def __init__(self, store: Store) -> None:
        self._store = store

    def of(self, job: Job) -> str | None:
        """The traceparent of the span that queued the job, if it was queued while tracing."""
        with self._store.connection(job.tenant_id) as conn:
            row = conn.execute(
                "SELECT traceparent FROM jobs WHERE tenant_id = %s AND id = %s", (job.tenant_id, job.id)
            ).fetchone()
        return None if row is None else row["traceparent"]
