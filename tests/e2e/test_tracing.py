"""OpenTelemetry traces end to end: `docrag serve` with DOCRAG_OTLP_ENDPOINT sends its spans, as
OTLP/HTTP protobuf, to a real receiver on loopback (this module's HTTP server, which decodes them
with opentelemetry-proto and also stands in for a TEI rerank server). An upload and a question
must give the agreed span names under the right parents, the upload's ingestion job must continue
the upload request's trace, a caller's traceparent must be continued, log lines must carry the
trace id, and no span may hold document text, the question or a key. Without the setting, the
SDK is not even imported."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from cli_runs import json_logged_env, json_logged_server
from docrag.settings import Settings

UPLOAD_ROUTE = "POST /v1/collections/{name}/documents"


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    events: list[str] = field(default_factory=list)


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind and kind not in ("array_value", "kvlist_value") else str(v)


class Receiver(ThreadingHTTPServer):
    """OTLP/HTTP traces at POST /v1/traces, and TEI's POST /rerank (scores: shared words)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[Span] = []
        self.exports = 0
        self.reranks = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path == "/v1/traces":
            assert self.headers.get("Content-Type") == "application/x-protobuf"
            self._traces(body)
            self._answer(ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")
        elif self.path == "/rerank":
            asked = json.loads(body)
            words = set(asked["query"].lower().split())
            scores = [
                {"index": i, "score": float(len(words & set(text.lower().split())))}
                for i, text in enumerate(asked["texts"])
            ]
            with self.server.lock:
                self.server.reranks += 1
            self._answer(json.dumps(scores).encode(), "application/json")
        else:
            self.send_error(404)

    def _traces(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        found = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    found.append(
                        Span(
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent=s.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in s.attributes},
                            resource=resource,
                            events=[str(e) for e in s.events],
                        )
                    )
        with self.server.lock:
            self.server.spans.extend(found)
            self.server.exports += 1

    def _answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@dataclass
class Run:
    spans: list[Span]
    log: list[dict[str, Any]]
    secrets: list[str]
    caller_trace: str
    caller_span: str


@pytest.fixture(scope="module")
def run(
    settings: Settings, admin_key: str, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    """One traced server: an upload (waited for), a question and a search, then a clean stop."""
    tmp = tmp_path_factory.mktemp("tracing")
    canary = f"zebracanary{uuid.uuid4().hex[:12]}"
    text = f"The {canary} quartzwhistle lantern is painted deep green. It hangs in the north tower.\n"
    question = f"Which colour is the {canary} quartzwhistle lantern?"
    rerank_key = "rk-" + uuid.uuid4().hex
    caller_trace, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    env = json_logged_env(
        settings,
        tmp / "data",
        DOCRAG_OTLP_ENDPOINT=receiver.url,
        DOCRAG_RERANKER="tei",
        DOCRAG_RERANKER_URL=receiver.url,
        DOCRAG_RERANKER_API_KEY=rerank_key,
        DOCRAG_ANSWER_CACHE_SECONDS="0",
        OTEL_BSP_SCHEDULE_DELAY="200",  # the SDK's batch interval, in ms
    )
    log_path = tmp / "server.log"
    with (
        json_logged_server(env, log_path) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=120) as c,
    ):
        up = c.post(
            "/v1/collections/traced/documents",
            params={"wait": "true"},
            files={"file": ("lantern.txt", text.encode(), "text/plain")},
            headers={"X-Request-ID": "trace-upload"},
        )
        assert up.status_code == 201, up.text
        asked = c.post(
            "/v1/ask",
            json={"question": question, "collections": ["traced"]},
            headers={"X-Request-ID": "trace-ask"},
        )
        assert asked.status_code == 200, asked.text
        assert asked.json()["answered"], asked.text
        streamed = c.post(
            "/v1/ask",
            json={"question": question, "collections": ["traced"], "stream": True},
            headers={"X-Request-ID": "trace-stream"},
        )
        assert streamed.status_code == 200 and "event: answer" in streamed.text, streamed.text
        found = c.post(
            "/v1/search",
            json={"query": question, "collections": ["traced"]},
            headers={
                "X-Request-ID": "trace-search",
                "traceparent": f"00-{caller_trace}-{caller_span}-01",
            },
        )
        assert found.status_code == 200, found.text
    assert receiver.reranks >= 2, "the TEI stand-in was never asked"
    log = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    return Run(
        list(receiver.spans), log, [canary, question, admin_key, rerank_key], caller_trace, caller_span
    )


def one(spans: list[Span], name: str, **attributes: Any) -> Span:
    found = [s for s in spans if s.name == name and attributes.items() <= s.attributes.items()]
    assert len(found) == 1, (name, attributes, [(s.name, s.attributes) for s in spans])
    return found[0]


def children(spans: list[Span], parent: Span, name: str) -> list[Span]:
    return [
        s for s in spans if s.parent == parent.span_id and s.trace_id == parent.trace_id and s.name == name
    ]


def test_ingestion_continues_the_upload_request_trace(run: Run) -> None:
    request = one(run.spans, UPLOAD_ROUTE, **{"docrag.request_id": "trace-upload"})
    assert request.attributes["http.response.status_code"] == 201
    assert request.resource["service.name"] == "docrag"
    (ingest,) = children(run.spans, request, "ingest")
    assert ingest.attributes["docrag.outcome"] == "done"
    for stage in ("parse", "chunk", "embed", "write"):
        assert len(children(run.spans, ingest, stage)) == 1, stage
    (embed,) = children(run.spans, ingest, "embed")
    model_calls = children(run.spans, embed, "embed_passages")
    assert model_calls and all(c.attributes["docrag.model.kind"] == "embedder" for c in model_calls)


def test_a_question_traces_answer_search_embed_rerank_and_judge(run: Run) -> None:
    request = one(run.spans, "POST /v1/ask", **{"docrag.request_id": "trace-ask"})
    assert request.parent == "" and request.attributes["http.route"] == "/v1/ask"
    (answer,) = children(run.spans, request, "answer")
    assert answer.attributes["docrag.answered"] is True
    (search,) = children(run.spans, answer, "search")
    assert children(run.spans, search, "embed_batch"), "the query embedding"
    (rerank,) = children(run.spans, search, "rerank")
    assert rerank.attributes["docrag.model.kind"] == "reranker"
    judged = children(run.spans, answer, "judge")
    assert judged and all(j.attributes["docrag.supported"] is True for j in judged)


def test_a_streamed_answer_keeps_its_spans_together(run: Run) -> None:
    """Each step of a streamed answer may run on another thread: the spans still nest."""
    request = one(run.spans, "POST /v1/ask", **{"docrag.request_id": "trace-stream"})
    (answer,) = children(run.spans, request, "answer")
    assert answer.attributes["docrag.incremental"] is True and answer.attributes["docrag.answered"] is True
    assert len(children(run.spans, answer, "search")) == 1
    assert children(run.spans, answer, "judge")


def test_a_callers_traceparent_is_continued(run: Run) -> None:
    request = one(run.spans, "POST /v1/search", **{"docrag.request_id": "trace-search"})
    assert (request.trace_id, request.parent) == (run.caller_trace, run.caller_span)
    assert len(children(run.spans, request, "search")) == 1


def test_log_lines_carry_the_trace_id(run: Run) -> None:
    for request_id, route in (("trace-ask", "POST /v1/ask"), ("trace-search", "POST /v1/search")):
        span = one(run.spans, route, **{"docrag.request_id": request_id})
        (line,) = [
            r for r in run.log if r.get("logger") == "docrag.access" and r.get("request_id") == request_id
        ]
        assert (line["trace_id"], line["span_id"]) == (span.trace_id, span.span_id)


def test_no_text_or_key_in_any_span(run: Run) -> None:
    assert len(run.spans) > 15
    for span in run.spans:
        dump = repr((span.name, span.attributes, span.resource, span.events))
        for secret in run.secrets:
            assert secret not in dump, (secret[:12], span.name)


def test_without_an_endpoint_the_sdk_is_never_imported(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from docrag.api.app import create_app\n"
        "from docrag.cli import main\n"
        "from docrag.settings import Settings\n"
        "from docrag.observability.tracing import start_tracing\n"
        "s = Settings()\n"
        "create_app(s)\n"
        "assert start_tracing(s) is None\n"
        # The tracing SDK and the exporters. (redis-py imports the metrics SDK by itself when it
        # is installed, as in the dev extra: that one is not ours to avoid.)
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk.trace')"
        " or m.startswith('opentelemetry.exporter')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCRAG_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
