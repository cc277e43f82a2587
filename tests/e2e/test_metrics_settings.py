"""/metrics scrapes reuse a recent component check (each check embeds a probe text), while
/health/components stays fresh; DOCRAG_METRICS=false and DOCRAG_ACCESS_LOG=false turn the request
instrumentation off (what bench/observability_overhead.py compares against)."""

from __future__ import annotations

import logging

import httpx
import pytest

from api_calls import scrape, value
from docrag.api.app import create_app
from docrag.services import Runtime
from docrag.settings import Settings
from http_servers import serve

PROBES = {"name": "docrag_model_call_duration_seconds_count", "operation": "embed_batch"}


def probes(c: httpx.Client) -> float:
    """Query embeddings so far in this process (each health check's probe is one)."""
    samples = scrape(c)
    return value(samples, PROBES["name"], kind="embedder", operation=PROBES["operation"])


def test_scrapes_within_the_max_age_share_one_check(settings: Settings, runtime: Runtime) -> None:
    app = create_app(settings.model_copy(update={"metrics_health_max_age_seconds": 60.0}), runtime=runtime)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        first = probes(c)  # runs the check (nothing cached yet in this app)
        for _ in range(3):
            assert probes(c) == first
        assert app.state.health_cache.checks == 1
        assert value(scrape(c), "docrag_health_score") > 0


def test_a_zero_max_age_checks_at_every_scrape(settings: Settings, runtime: Runtime) -> None:
    app = create_app(settings.model_copy(update={"metrics_health_max_age_seconds": 0.0}), runtime=runtime)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        first = probes(c)
        assert probes(c) > first
        assert app.state.health_cache.checks == 2


def test_components_are_checked_fresh_and_metrics_reuse_them(settings: Settings, runtime: Runtime) -> None:
    app = create_app(settings.model_copy(update={"metrics_health_max_age_seconds": 60.0}), runtime=runtime)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        for n in (1, 2, 3):
            assert c.get("/health/components").status_code in (200, 503)
            assert app.state.health_cache.checks == n
        scrape(c)  # served from the last /health/components check
        assert app.state.health_cache.checks == 3


def test_metrics_off_has_no_route_and_counts_nothing(
    settings: Settings, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    on = create_app(settings, runtime=runtime)
    off = create_app(settings.model_copy(update={"metrics": False, "access_log": False}), runtime=runtime)
    with (
        serve(on) as on_url,
        serve(off) as off_url,
        httpx.Client(base_url=on_url, timeout=30) as watcher,
        httpx.Client(base_url=off_url, timeout=30) as c,
    ):
        labels = {"route": "/health/live", "method": "GET", "status": "200"}
        before = value(scrape(watcher), "docrag_http_requests_total", **labels)
        with caplog.at_level(logging.INFO, logger="docrag.access"):
            for _ in range(3):
                response = c.get("/health/live", headers={"X-Request-ID": "off-1"})
                assert response.status_code == 200
                assert response.headers["x-request-id"] == "off-1"  # request ids stay
        assert c.get("/metrics").status_code == 404
        # The process's one registry: the instrumented app's scrape would show the other's requests.
        assert value(scrape(watcher), "docrag_http_requests_total", **labels) == before
        assert not [r for r in caplog.records if getattr(r, "request_id", "") == "off-1"]
