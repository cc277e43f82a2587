"""/metrics and X-Request-ID against the real server: route templates as labels, never ids;
scrape-time gauges from the real database; request ids echoed when safe, replaced when not."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api_calls import scrape, value
from docrag.api.app import create_app
from docrag.services import Runtime
from docrag.settings import Settings
from http_servers import serve
from queue_helpers import sql

DOC_ROUTE = "/v1/documents/{document_id}"


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    # No in-process worker: uploaded jobs stay queued, so the queue gauges have something to show.
    return Settings(database_url=database_url, pool_max_size=4, inprocess_worker=False)


def test_metrics_parse_and_expose_the_alerted_names(anon: httpx.Client) -> None:
    # Labelled series exist once observed: serve one request first.
    assert anon.get("/health/live").status_code == 200
    samples = scrape(anon)
    for name in (
        "docrag_http_requests_total",
        "docrag_http_request_duration_seconds_bucket",
        "docrag_queue_depth",
        "docrag_queue_oldest_job_age_seconds",
        "docrag_disk_free_ratio",
        "docrag_metrics_database_up",
    ):
        assert name in samples, name
    assert value(samples, "docrag_metrics_database_up") == 1
    assert 0 < value(samples, "docrag_disk_free_ratio") <= 1


def test_document_request_is_labelled_by_route_template_not_id(
    client: httpx.Client, anon: httpx.Client
) -> None:
    doc_id = str(uuid.uuid4())
    before = scrape(anon)
    labels = {"route": DOC_ROUTE, "method": "GET", "status": "404"}
    assert client.get(f"/v1/documents/{doc_id}").status_code == 404
    after = scrape(anon)
    assert value(after, "docrag_http_requests_total", **labels) == (
        value(before, "docrag_http_requests_total", **labels) + 1
    )
    assert value(after, "docrag_http_request_duration_seconds_count", **labels) == (
        value(before, "docrag_http_request_duration_seconds_count", **labels) + 1
    )
    # The id appears in no label of any sample.
    assert doc_id not in anon.get("/metrics").text


def test_unmatched_paths_share_one_label(anon: httpx.Client) -> None:
    junk = f"/no/such/{uuid.uuid4()}"
    before = value(scrape(anon), "docrag_http_requests_total", route="unmatched", status="404")
    assert anon.get(junk).status_code == 404
    text = anon.get("/metrics").text
    assert junk not in text
    samples = {
        s.name: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.labels.get("route") == "unmatched" and s.labels.get("status") == "404"
    }
    assert samples["docrag_http_requests_total"] == before + 1


def test_request_id_round_trips(anon: httpx.Client) -> None:
    rid = "trace-42.abc:DEF_x"
    response = anon.get("/health/live", headers={"X-Request-ID": rid})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == rid


@pytest.mark.parametrize(
    "bad",
    [b"x" * 129, b"has space", b"semi;colon", b"back\\slash", b"<script>", "ünïcode".encode(), b""],
)
def test_unsafe_request_id_is_replaced(anon: httpx.Client, bad: bytes) -> None:
    response = anon.get("/health/live", headers={"X-Request-ID": bad})
    assert response.status_code == 200
    got = response.headers["x-request-id"]
    assert got.encode() != bad
    assert re.fullmatch(r"[0-9a-f]{32}", got)


def test_longest_safe_request_id_is_kept(anon: httpx.Client) -> None:
    rid = "a" * 128
    assert anon.get("/health/live", headers={"X-Request-ID": rid}).headers["x-request-id"] == rid


def test_missing_request_id_is_generated_per_request(anon: httpx.Client) -> None:
    first = anon.get("/health/live").headers["x-request-id"]
    second = anon.get("/health/live").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_queue_gauges_follow_the_database(
    client: httpx.Client, anon: httpx.Client, database_url: str
) -> None:
    assert value(scrape(anon), "docrag_queue_depth") == 0
    assert value(scrape(anon), "docrag_queue_oldest_job_age_seconds") == 0
    for i in range(2):
        files = {"file": (f"q{i}.md", f"# Queued {i}\n\nThis stays queued: no worker runs.\n".encode())}
        assert client.post("/v1/collections/obs/documents", files=files).status_code == 202
    # Backdate one job so its age is known to exceed a bound, whatever the scheduling.
    sql(
        database_url,
        "UPDATE jobs SET run_after = now() - interval '10 minutes' WHERE id = (SELECT min(id) FROM jobs)",
    )
    samples = scrape(anon)
    assert value(samples, "docrag_queue_depth") == 2
    assert 600 <= value(samples, "docrag_queue_oldest_job_age_seconds") < 700
    # A job waiting out a retry backoff is not claimable, so not counted as stuck.
    sql(database_url, "UPDATE jobs SET run_after = now() + interval '1 hour'")
    samples = scrape(anon)
    assert value(samples, "docrag_queue_depth") == 0
    assert value(samples, "docrag_queue_oldest_job_age_seconds") == 0


def test_backup_gauge_follows_the_last_successful_run(anon: httpx.Client, database_url: str) -> None:
    # backup_runs comes with migration 0050; with no successful run the gauge reads 0.
    sql(database_url, "DELETE FROM backup_runs")
    assert value(scrape(anon), "docrag_backup_last_success_timestamp_seconds") == 0
    sql(
        database_url,
        "INSERT INTO backup_runs (started_at, finished_at, ok, location) VALUES"
        " (now() - interval '2 hours', now() - interval '1 hour', true, 'a'),"
        " (now() - interval '5 minutes', now(), false, 'b')",
    )
    last = value(scrape(anon), "docrag_backup_last_success_timestamp_seconds")
    assert abs(last - (time.time() - 3600)) < 120


def test_unexpected_error_keeps_request_id_and_counts_as_500(settings: Settings, runtime: Runtime) -> None:
    app = create_app(settings, runtime=runtime)

    @app.get("/boom/{thing}")
    def boom(thing: str) -> None:
        raise RuntimeError(f"boom {thing}")

    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        before = value(scrape(c), "docrag_http_requests_total", route="/boom/{thing}", status="500")
        # Connection: close, as uvicorn drops a kept-alive connection after an unhandled exception.
        response = c.get("/boom/1", headers={"X-Request-ID": "req-500", "Connection": "close"})
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        assert response.headers["x-request-id"] == "req-500"
        after = value(scrape(c), "docrag_http_requests_total", route="/boom/{thing}", status="500")
        assert after == before + 1


def test_requests_refused_before_routing_count_under_their_route(anon: httpx.Client) -> None:
    doc_id = str(uuid.uuid4())
    labels = {"route": DOC_ROUTE, "method": "GET", "status": "401"}
    before = value(scrape(anon), "docrag_http_requests_total", **labels)
    response = anon.get(f"/v1/documents/{doc_id}", headers={"X-Request-ID": "anon-1"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "anon-1"
    assert value(scrape(anon), "docrag_http_requests_total", **labels) == before + 1
