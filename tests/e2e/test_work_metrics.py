"""Metrics of the work below the API, through the real server and its in-process worker: jobs by
outcome and error code, ingestion stages, model calls, the answer cache, answer quality, feedback,
the connection pool and worker heartbeats."""

from __future__ import annotations

import time

import httpx
import pytest

from api_calls import error_code, scrape, upload, value
from docrag.settings import Settings
from queue_helpers import sql

TEXT = (
    b"The Brightwater lighthouse was built in 1871 on the northern cliffs.\n\n"
    b"Its lamp burned whale oil until 1904, when the keepers switched to kerosene.\n"
)
QUESTION = "What did the Brightwater lighthouse lamp burn until 1904?"


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    # The in-process worker runs (default); lease 3 s so heartbeats come every second.
    # conftest's settings (the service role under row security), with:
    return settings.model_copy(update={"pool_max_size": 4, "job_lease_seconds": 3.0})


def test_jobs_stages_and_models_are_counted(client: httpx.Client, anon: httpx.Client) -> None:
    before = scrape(anon)
    done = {"outcome": "done", "error_code": "none"}
    indexed = upload(client, "work-metrics", "lighthouse.txt", TEXT).json()
    assert indexed["status"] == "indexed"
    # Markup without text: parsed by the worker, then failed with its typed code.
    empty = upload(client, "work-metrics", "empty.html", b"<html><body><p> </p></body></html>")
    assert error_code(empty) == "no_text_found", empty.text
    after = scrape(anon)
    assert value(after, "docrag_jobs_total", **done) == value(before, "docrag_jobs_total", **done) + 1
    failed = {"outcome": "failed", "error_code": "no_text_found"}
    assert value(after, "docrag_jobs_total", **failed) == value(before, "docrag_jobs_total", **failed) + 1
    for stage in ("parse", "chunk", "embed", "write"):
        name = "docrag_ingest_stage_duration_seconds_count"
        assert value(after, name, stage=stage) > value(before, name, stage=stage), stage
    embeds = {"kind": "embedder", "operation": "embed_passages"}
    name = "docrag_model_call_duration_seconds_count"
    assert value(after, name, **embeds) > value(before, name, **embeds)
    # Labels are bounded: no job, document or tenant id anywhere.
    text = anon.get("/metrics").text
    assert indexed["id"] not in text and indexed["collection_id"] not in text


def test_cache_answers_and_feedback_are_counted(client: httpx.Client, anon: httpx.Client) -> None:
    assert upload(client, "quality", "lighthouse.txt", TEXT).json()["status"] == "indexed"
    before = scrape(anon)
    first = client.post("/v1/ask", json={"question": QUESTION, "collections": ["quality"]})
    again = client.post("/v1/ask", json={"question": QUESTION, "collections": ["quality"]})
    nothing = client.post(
        "/v1/ask", json={"question": "Who won the 1966 World Cup?", "collections": ["quality"]}
    )
    assert first.status_code == again.status_code == nothing.status_code == 200
    assert first.json()["answered"] and not nothing.json()["answered"]
    rated = client.post(f"/v1/answers/{first.json()['answer_id']}/feedback", json={"rating": "down"})
    assert rated.status_code == 201, rated.text
    after = scrape(anon)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("docrag_cache_lookups_total", result="miss") == 2
    assert grew("docrag_cache_lookups_total", result="hit") == 1
    assert grew("docrag_answers_total", outcome="answered") == 2
    assert grew("docrag_answers_total", outcome="abstained") == 1
    assert grew("docrag_answer_citation_coverage_ratio_count") == 2
    # Every sentence of an extractive answer is cited: all observations fall in the le=1.0 bucket,
    # none at or below 0.9.
    assert grew("docrag_answer_citation_coverage_ratio_bucket", le="0.9") == 0
    assert grew("docrag_answer_feedback_total", rating="down") == 1
    assert grew("docrag_answer_feedback_total", rating="up") == 0
    embeds = {"kind": "embedder", "operation": "embed_batch"}
    assert grew("docrag_model_call_duration_seconds_count", **embeds) >= 1


def test_pool_and_worker_heartbeats(anon: httpx.Client, database_url: str) -> None:
    samples = scrape(anon)
    assert value(samples, "docrag_db_pool_max_connections") == 4
    in_use = value(samples, "docrag_db_pool_connections", state="in_use")
    idle = value(samples, "docrag_db_pool_connections", state="idle")
    assert in_use >= 0 and idle >= 0
    assert 1 <= in_use + idle <= 4  # at least the pool's minimum, at most its limit
    assert value(samples, "docrag_workers_live") == 1
    assert 0 <= time.time() - value(samples, "docrag_worker_last_heartbeat_timestamp_seconds") < 3
    # A worker that stops beating (a crash: its row stays) is no longer live after the lease.
    sql(database_url, "UPDATE worker_heartbeats SET seen_at = now() - interval '1 hour'")
    stale = scrape(anon)
    # The live worker may beat again in between; the stale window is what's being tested.
    if time.time() - value(stale, "docrag_worker_last_heartbeat_timestamp_seconds") > 3:
        assert value(stale, "docrag_workers_live") == 0
    deadline = time.monotonic() + 5
    while value(scrape(anon), "docrag_workers_live") != 1:
        assert time.monotonic() < deadline, "the worker's heartbeat did not come back"
        time.sleep(0.2)
