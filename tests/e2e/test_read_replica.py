"""Searches on a read replica (DOCRAG_DATABASE_READ_URL, issue 16.5; store/replica.py): a real
primary and its streaming standby (tests/pg_cluster.py), DocRAG on both through the API.

That searches read the standby is shown by its lag: with replay paused there, a document indexed
on the primary is not found; once replay resumes it is. With the standby stopped, searches go to
the primary (and the health checks say so); started again, they return to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from uuid import UUID

import httpx
import pytest

from api_calls import upload
from docrag.services import Runtime
from docrag.settings import Settings
from pg_cluster import Cluster

KB = "replicated"
APP_ROLE = "docrag_replica_app"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Durability is not under test: no fsync, so the run stays short on a busy machine.
    with Cluster(options=("fsync=off", "synchronous_commit=off")) as found:
        yield found


@pytest.fixture(scope="module")
def settings(cluster: Cluster) -> Settings:
    """Migrated by the primary's superuser, served as a role that owns nothing (row security binds
    it), searches on the standby as the same role (a physical copy has the same roles)."""
    assert cluster.standby is not None
    cluster.primary.execute("CREATE DATABASE docrag")
    cluster.primary.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
    return Settings(
        database_url=cluster.primary.url("docrag", APP_ROLE),
        database_owner_url=cluster.primary.url("docrag"),
        database_read_url=cluster.standby.url("docrag", APP_ROLE),
        database_read_retry_seconds=5.0,
        exact_search_max_chunks=0,  # the dense leg's SQL (HNSW, transaction-local settings) on the standby
        pool_max_size=4,
    )


def _found(client: httpx.Client, word: str) -> bool:
    got = client.post("/v1/search", json={"query": word, "collections": [KB], "limit": 5})
    assert got.status_code == 200, got.text
    return any(word in hit["text"] for hit in got.json()["hits"])


def _pause_replay(cluster: Cluster) -> None:
    assert cluster.standby is not None
    cluster.standby.execute("SELECT pg_wal_replay_pause()")
    deadline = time.monotonic() + 20
    while cluster.standby.execute("SELECT pg_get_wal_replay_pause_state()") != "paused":
        assert time.monotonic() < deadline, "replay did not pause"
        time.sleep(0.05)


def _document(word: str) -> bytes:
    return (
        f"# The {word} survey\n\nThe {word} survey counted lighthouse keepers along the northern coast. "
        f"Every keeper of the {word} district logged the lamp hours twice a day.\n"
    ).encode()


def test_searches_read_the_replica_and_see_its_lag(client: httpx.Client, cluster: Cluster) -> None:
    assert cluster.standby is not None
    first = upload(client, KB, "first.md", _document("Quillonbrae"))
    assert first.status_code == 201, first.text
    cluster.wait_replayed()
    assert _found(client, "Quillonbrae")

    _pause_replay(cluster)
    try:
        ready = client.get("/health/ready").json()
        assert ready["status"] == "ok" and ready["read_replica"]["replay_paused"] is True
        second = upload(client, KB, "second.md", _document("Zarnovexia"))
        assert second.status_code == 201, second.text
        # Indexed on the primary (documents are read there), not yet on the replica searches read.
        assert client.get(f"/v1/documents/{second.json()['id']}").json()["status"] == "indexed"
        assert not _found(client, "Zarnovexia")
        assert _found(client, "Quillonbrae")
    finally:
        cluster.standby.execute("SELECT pg_wal_replay_resume()")
    cluster.wait_replayed()
    assert _found(client, "Zarnovexia")


def test_the_read_pool_is_the_replica_and_row_security_binds_it(runtime: Runtime, cluster: Cluster) -> None:
    cluster.wait_replayed()
    tenant = runtime.default_tenant
    with runtime.store.connection(tenant, read=True) as conn:
        row = conn.execute("SELECT pg_is_in_recovery() AS standby, count(*) AS n FROM chunks").fetchone()
    assert row is not None and row["standby"] is True and row["n"] > 0
    # Without a tenant (and for another one) row security shows no rows, with no WHERE clause at all.
    for other in (None, UUID(int=1)):
        with runtime.store.connection(other, read=True) as conn:
            hidden = conn.execute("SELECT count(*) AS n FROM chunks").fetchone()
        assert hidden is not None and hidden["n"] == 0
    with runtime.store.connection(tenant) as conn:  # everything else: the primary
        primary = conn.execute("SELECT pg_is_in_recovery() AS standby").fetchone()
    assert primary is not None and primary["standby"] is False


def test_a_replica_down_sends_searches_to_the_primary_until_it_is_back(
    client: httpx.Client, anon: httpx.Client, cluster: Cluster, runtime: Runtime
) -> None:
    assert cluster.standby is not None and runtime.store.replica is not None
    cluster.standby.stop("immediate")
    try:
        assert _found(client, "Zarnovexia")  # answered from the primary
        ready = anon.get("/health/ready")
        assert ready.status_code == 200  # the primary serves searches: still ready
        assert ready.json()["read_replica"]["status"] == "down"
        assert ready.json()["read_replica"]["in_use"] is False
        components = client.get("/health/components").json()
        assert components["status"] == "degraded"
        assert components["components"]["read_replica"]["status"] == "down"
        metrics = anon.get("/metrics").text
        fallbacks = [
            line for line in metrics.splitlines() if line.startswith("docrag_read_replica_fallbacks")
        ]
        assert fallbacks and float(fallbacks[0].split()[-1]) > 0
    finally:
        cluster.standby.start()
    cluster.wait_replayed()
    deadline = time.monotonic() + 10
    while not runtime.store.replica.in_use:  # DOCRAG_DATABASE_READ_RETRY_SECONDS after the failure
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # Back on the replica: its lag shows again.
    _pause_replay(cluster)
    try:
        third = upload(client, KB, "third.md", _document("Brevinthal"))
        assert third.status_code == 201, third.text
        assert not _found(client, "Brevinthal")
    finally:
        cluster.standby.execute("SELECT pg_wal_replay_resume()")
    cluster.wait_replayed()
    assert _found(client, "Brevinthal")
    replica = client.get("/health/ready").json()["read_replica"]
    assert replica["lag_seconds"] < 30  # 0 unless WAL arrived and awaits replay at that instant
    assert replica == {**replica, "status": "ok", "in_use": True, "replay_paused": False}
