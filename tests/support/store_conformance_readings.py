"""The conformance suite of the deployment readings protocol (``DeploymentReadings``,
src/docrag/store/protocol.py), in the style of tests/support/store_conformance.py: written against
fixtures only.

Fixtures a backend provides, besides the ``collection_store``, ``document_store``, ``tenants`` and
``job_queue`` of the other suites:
  ``deployment_readings``: its readings of the suite's database (no replica);
  ``replicated_readings``: the readings of a deployment whose searches read from a replica that
  answers but is no standby (a replica URL naming a primary: no standby needs starting);
  ``unanswering_readings``: the readings of a replicated deployment whose database and replica
  answer nothing;
  ``beat``: records a worker's heartbeat by its id, as the backend's workers do;
  ``record_backup``: records a finished backup run, good (True) or failed, as its backups do.
The readings are the whole deployment's, so while the suite runs its database holds no claimable
job but its own (as for the queue's suite), no heartbeat nor backup record but those made through
``beat`` and ``record_backup``, which each test's end forgets.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from uuid import UUID

import psycopg
import pytest

from docrag.errors import Unavailable
from docrag.store.heartbeats import Fleet
from docrag.store.protocol import CollectionStore, DeploymentReadings, DocumentStore, JobQueue
from docrag.store.readings import Backlog
from docrag.store.replica import ReplicaStatus
from store_conformance import DIM, MODEL
from store_conformance_jobs import Claims, enqueue

#: How far the database's clock and this process's may be apart, and a slow statement take.
SLACK = 30.0


class DeploymentReadingsSuite:
    def test_a_live_database_answers(self, deployment_readings: DeploymentReadings) -> None:
        assert deployment_readings.ping() is None
        assert deployment_readings.has_pgvector()
        assert not deployment_readings.replicated

    def test_pool_stats_count_this_process_connections(self, deployment_readings: DeploymentReadings) -> None:
        stats = deployment_readings.pool_stats()
        assert all(isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in stats.items())
        assert 0 <= stats["pool_available"] <= stats["pool_size"] <= stats["pool_max"]
        assert stats["requests_waiting"] >= 0

    def test_the_backlog_counts_the_jobs_claimable_now(
        self,
        deployment_readings: DeploymentReadings,
        job_queue: JobQueue,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        tenants: tuple[UUID, UUID],
    ) -> None:
        claims = Claims(job_queue)
        try:
            assert deployment_readings.backlog() == Backlog(0, 0.0)
            collection = collection_store.create_collection(
                tenants[0], f"r-{uuid.uuid4().hex[:10]}", MODEL, DIM
            )
            enqueue(job_queue, collection, b"first in line")
            enqueue(job_queue, collection, b"second in line")
            time.sleep(0.3)
            queued = deployment_readings.backlog()
            assert queued.depth == 2 and 0.3 <= queued.oldest_seconds < SLACK
            delayed = claims.any()
            assert delayed is not None
            assert deployment_readings.backlog().depth == 1
            assert job_queue.retry(delayed, "unavailable: later", 3600.0)
            assert deployment_readings.backlog().depth == 1  # waiting out its delay: not claimable now
            last = claims.any()
            assert last is not None and last.document_id != delayed.document_id
            assert deployment_readings.backlog() == Backlog(0, 0.0)
            assert job_queue.fail(last, "internal_error", "done with it")
            document_store.delete_document(delayed.tenant_id, delayed.document_id)  # nor left for later
        finally:
            claims.end()

    def test_the_fleet_counts_the_workers_seen_lately(
        self, deployment_readings: DeploymentReadings, beat: Callable[[str], None]
    ) -> None:
        assert deployment_readings.fleet(60.0) == Fleet(0, 0.0)
        beat("conformance/one")
        fleet = deployment_readings.fleet(60.0)
        assert fleet.live == 1 and abs(fleet.last_seen - time.time()) < SLACK
        beat("conformance/one")  # the same worker again
        beat("conformance/two")
        newest = deployment_readings.fleet(60.0)
        assert newest.live == 2 and newest.last_seen >= fleet.last_seen
        time.sleep(0.3)
        stale = deployment_readings.fleet(0.2)
        assert stale == Fleet(0, newest.last_seen)  # none fresh, but the newest is still known

    def test_backup_readings_follow_the_last_successful_run(
        self, deployment_readings: DeploymentReadings, record_backup: Callable[[bool], None]
    ) -> None:
        assert (deployment_readings.last_backup_age(), deployment_readings.last_backup_time()) == (None, 0.0)
        record_backup(False)
        assert (deployment_readings.last_backup_age(), deployment_readings.last_backup_time()) == (None, 0.0)
        record_backup(True)
        when, age = deployment_readings.last_backup_time(), deployment_readings.last_backup_age()
        assert when is not None and abs(when - time.time()) < SLACK
        assert age is not None and 0 <= age < SLACK
        time.sleep(0.1)
        record_backup(False)  # a failed run since changes neither
        assert deployment_readings.last_backup_time() == when
        later = deployment_readings.last_backup_age()
        assert later is not None and later >= age + 0.1

    def test_a_replica_that_is_no_standby_is_reported_so(
        self, replicated_readings: DeploymentReadings
    ) -> None:
        assert replicated_readings.replicated
        assert replicated_readings.replica_status() == ReplicaStatus(
            "not_a_standby", in_use=True, lag_seconds=0.0, replay_paused=False
        )

    def test_a_database_that_does_not_answer_is_an_error(
        self, unanswering_readings: DeploymentReadings
    ) -> None:
        for read in (
            unanswering_readings.ping,
            unanswering_readings.has_pgvector,
            unanswering_readings.backlog,
            lambda: unanswering_readings.fleet(60.0),
            unanswering_readings.last_backup_age,
            unanswering_readings.last_backup_time,
        ):
            # The health checks take either for a database that is down (observability/health.py).
            with pytest.raises((Unavailable, psycopg.Error)):
                read()
        assert unanswering_readings.pool_stats()["pool_max"] >= 0  # asks nothing of the database
        assert unanswering_readings.replicated
        down = unanswering_readings.replica_status()  # reported, not raised
        assert down.status == "down" and down.error
