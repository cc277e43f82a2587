"""Pluggable models: the HTTP providers against a real loopback server speaking their wire
formats (OpenAI embeddings, TEI and Cohere rerank), the local-directory loaders on tiny ONNX
models built here, the registry, and the per-collection model rule end to end."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
import uvicorn
from pydantic import ValidationError

from ci_strict import require
from docrag.api.app import create_app
from docrag.domain import Collection, ParsedDocument
from docrag.errors import Conflict, InvalidRequest, Unavailable
from docrag.ingest.pipeline import Upload
from docrag.jobs.reindex import Reindexer
from docrag.jobs.runner import JobOutcome, JobRunner
from docrag.providers.minilm_onnx import MODEL_ID as MINILM_ID
from docrag.providers.minilm_onnx import MiniLMEmbedder
from docrag.providers.onnx_directory import OnnxDirectoryEmbedder
from docrag.providers.openai_embeddings import OpenAIEmbedder
from docrag.providers.protocol import close_model
from docrag.providers.registry import build_embedder, build_reranker
from docrag.providers.rerankers import HttpReranker, OnnxCrossEncoder
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.embedding_index import dense_sql, embedding_index_name
from docrag.store.reindex import NewVectors, ReindexStore

require(importlib.util.find_spec("onnx") is not None, "onnx (the dev extra)")
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

DIM = 16
API_KEY = "sk-test"

# -- a loopback model server ---------------------------------------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def bow_vector(text: str) -> np.ndarray[Any, Any]:
    """The server's embedding: a hashed bag of words in 16 dimensions (not normalised)."""
    v = np.full(DIM, 1e-3)
    for word in _words(text):
        v[hashlib.sha256(word.encode()).digest()[0] % DIM] += 1.0
    return v


def overlap(query: str, text: str) -> float:
    q = set(_words(query))
    return len(q & set(_words(text))) / max(len(q), 1)


class ModelServer:
    """OpenAI ``/v1/embeddings``, TEI ``/rerank`` and Cohere ``/v1/rerank`` on 127.0.0.1."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.fail: list[int] = []  # status codes to answer the next requests with
        self.hang = False
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, body))
                if server.hang:
                    server.release.wait(10)
                    self.close_connection = True
                    return
                if server.fail:
                    self._send(server.fail.pop(0), {"error": "try again"}, {"Retry-After": "0"})
                elif self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self._send(401, {"error": "bad key"})
                elif self.path in ("/v1/embeddings", "/prefix/v1/embeddings"):
                    data = [
                        {"object": "embedding", "index": i, "embedding": bow_vector(t).tolist()}
                        for i, t in enumerate(body["input"])
                    ]
                    self._send(200, {"object": "list", "model": body["model"], "data": data[::-1]})
                elif self.path == "/rerank":
                    scores = [
                        {"index": i, "score": overlap(body["query"], t)} for i, t in enumerate(body["texts"])
                    ]
                    self._send(200, sorted(scores, key=lambda s: -s["score"]))
                elif self.path == "/v1/rerank":
                    docs = body["documents"]
                    results = [
                        {"index": i, "relevance_score": overlap(body["query"], d)} for i, d in enumerate(docs)
                    ]
                    results = sorted(results, key=lambda s: -s["relevance_score"])[: body["top_n"]]
                    self._send(200, {"id": "r1", "results": results})
                else:
                    self._send(404, {"error": "no such route"})

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        self.requests.clear()
        self.fail.clear()
        self.hang = False
        self.release.clear()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
    server = ModelServer()
    yield server
    server.stop()


@pytest.fixture
def server(model_server: ModelServer) -> Iterator[ModelServer]:
    model_server.reset()
    yield model_server
    model_server.release.set()
    model_server.reset()


def _embedder(server: ModelServer, **kwargs: Any) -> OpenAIEmbedder:
    options: dict[str, Any] = {"api_key": API_KEY, "timeout": 2.0, "retries": 2, "backoff": 0.01}
    return OpenAIEmbedder(server.url, "hash-bow", **(options | kwargs))


def _unit(v: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# -- OpenAI-compatible embeddings ----------------------------------------------------------


def test_openai_embedder_speaks_the_wire_format(server: ModelServer) -> None:
    texts = ["The ocean tide rises", "a cat sleeps", "tide tables", "zebra", "ocean ocean cat"]
    embedder = _embedder(server, batch_size=2)
    try:
        vectors = embedder.embed_batch(texts)
        assert embedder.dim == DIM  # learnt from the first answer
    finally:
        embedder.close()
    assert embedder.model_id == "openai:hash-bow"
    assert vectors.shape == (5, DIM) and vectors.dtype == np.float32
    # Rows come back in input order (the server lists them reversed) and normalised.
    assert np.allclose(vectors, _unit(np.stack([bow_vector(t) for t in texts])), atol=1e-6)
    assert [len(body["input"]) for _, body in server.requests] == [2, 2, 1]
    assert all(path == "/v1/embeddings" and body["model"] == "hash-bow" for path, body in server.requests)


def test_openai_base_url_ending_in_v1_is_not_doubled(server: ModelServer) -> None:
    embedder = OpenAIEmbedder(server.url + "/prefix/v1/", "hash-bow", api_key=API_KEY, dim=DIM)
    try:
        assert embedder.embed_batch(["one"]).shape == (1, DIM)
    finally:
        embedder.close()
    assert [path for path, _ in server.requests] == ["/prefix/v1/embeddings"]


def test_openai_span_vectors_embed_the_span_texts(server: ModelServer) -> None:
    text = "Cats purr softly. The stock market fell."
    cut = text.index("The")
    embedder = _embedder(server)
    try:
        (p,) = embedder.embed_passages([text], [[(0, cut - 1), (cut, len(text))]])
    finally:
        embedder.close()
    assert np.allclose(p.vector, _unit(bow_vector(text)), atol=1e-6)
    assert np.allclose(p.span_vectors[0], _unit(bow_vector("Cats purr softly.")), atol=1e-6)
    assert np.allclose(p.span_vectors[1], _unit(bow_vector("The stock market fell.")), atol=1e-6)
    assert len(server.requests) == 1  # passage and spans in one batch


def test_openai_retries_5xx_and_429_then_succeeds(server: ModelServer) -> None:
    server.fail = [500, 429]
    embedder = _embedder(server, retries=2)
    try:
        vectors = embedder.embed_batch(["after retries"])
    finally:
        embedder.close()
    assert np.allclose(vectors[0], _unit(bow_vector("after retries")), atol=1e-6)
    assert len(server.requests) == 3


def test_openai_gives_up_after_its_retries(server: ModelServer) -> None:
    server.fail = [503, 503, 503]
    embedder = _embedder(server, retries=1)
    try:
        with pytest.raises(Unavailable, match=r"failed after 2 tries: HTTP 503"):
            embedder.embed_batch(["never"])
    finally:
        embedder.close()
    assert len(server.requests) == 2


def test_openai_client_error_is_not_retried(server: ModelServer) -> None:
    embedder = _embedder(server, api_key="wrong", retries=3)
    try:
        with pytest.raises(Unavailable, match="refused the request: HTTP 401") as caught:
            embedder.embed_batch(["x"])
    finally:
        embedder.close()
    assert caught.value.code == "unavailable" and caught.value.status == 503
    assert len(server.requests) == 1


def test_openai_hanging_server_times_out(server: ModelServer) -> None:
    server.hang = True
    embedder = _embedder(server, timeout=0.3, retries=1)
    started = time.monotonic()
    try:
        with pytest.raises(Unavailable, match=r"no answer within 0.3 s"):
            embedder.embed_batch(["slow"])
    finally:
        embedder.close()
    assert time.monotonic() - started < 5
    assert len(server.requests) == 2


def test_openai_unreachable_server_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    embedder = OpenAIEmbedder(f"http://127.0.0.1:{port}", "m", retries=0)
    try:
        with pytest.raises(Unavailable, match="ConnectError"):
            embedder.embed_batch(["x"])
    finally:
        embedder.close()


def test_openai_wrong_dimension_is_refused(server: ModelServer) -> None:
    embedder = _embedder(server, dim=384)
    try:
        with pytest.raises(Unavailable, match="16-dimensional vectors; 384 expected"):
            embedder.embed_batch(["x"])
    finally:
        embedder.close()


# -- HTTP rerankers ------------------------------------------------------------------------

QUERY = "ocean tide height"
PASSAGES = ["a cat sleeps", "the ocean tide", "tide height of the ocean today", "ocean"]


def test_tei_reranker(server: ModelServer) -> None:
    reranker = HttpReranker(server.url, flavor="tei", api_key=API_KEY, batch_size=3, backoff=0.01)
    server.fail = [502]
    try:
        scores = reranker.rerank(QUERY, PASSAGES)
    finally:
        reranker.close()
    assert scores == pytest.approx([overlap(QUERY, p) for p in PASSAGES])
    assert scores == pytest.approx([0.0, 2 / 3, 1.0, 1 / 3])
    bodies = [body for path, body in server.requests if path == "/rerank"]
    assert [len(b["texts"]) for b in bodies] == [3, 3, 1]  # one retried after the 502, then batches
    assert bodies[0]["query"] == QUERY and bodies[0]["truncate"] is True


def test_cohere_reranker(server: ModelServer) -> None:
    reranker = HttpReranker(server.url, flavor="cohere", model="rerank-test", api_key=API_KEY)
    try:
        scores = reranker.rerank(QUERY, PASSAGES)
    finally:
        reranker.close()
    assert scores == pytest.approx([0.0, 2 / 3, 1.0, 1 / 3])
    ((path, body),) = server.requests
    assert path == "/v1/rerank"
    assert body == {"model": "rerank-test", "query": QUERY, "documents": PASSAGES, "top_n": 4}
    assert reranker.model_id == "cohere:rerank-test"


def test_reranker_hanging_server_times_out(server: ModelServer) -> None:
    server.hang = True
    reranker = HttpReranker(server.url, flavor="tei", api_key=API_KEY, timeout=0.3, retries=0)
    try:
        with pytest.raises(Unavailable, match=r"rerank server .* no answer within"):
            reranker.rerank(QUERY, PASSAGES)
    finally:
        reranker.close()


# -- tiny ONNX models made here ------------------------------------------------------------

WORDS = ["ocean", "tide", "height", "cat", "sleeps", "the", "of", "today", "stock", "market"]
SPECIAL = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}
VOCAB = {**SPECIAL, **{w: i + len(SPECIAL) for i, w in enumerate(WORDS)}}
TABLE = np.random.default_rng(7).normal(size=(len(VOCAB), 8)).astype(np.float32)


def _save_tokenizer(folder: Path) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordLevel(VOCAB, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    return tokenizer


def _save_model(folder: Path, nodes: list[Any], inputs: list[str], output: Any, table: Any) -> None:
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in inputs],
        [output],
        initializer=[numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))


def make_embedder_dir(
    folder: Path,
    *,
    inputs: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids"),
    pooled: bool = False,
) -> Path:
    """An embedding-table "transformer": input_ids -> Gather -> last_hidden_state; the other
    inputs are declared and ignored. ``pooled``: ReduceMean to a [batch, 8] sentence_embedding."""
    if pooled:
        nodes = [
            helper.make_node("Gather", ["table", "input_ids"], ["hidden"], axis=0),
            helper.make_node("ReduceMean", ["hidden"], ["sentence_embedding"], axes=[1], keepdims=0),
        ]
        output = helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", 8])
    else:
        nodes = [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)]
        output = helper.make_tensor_value_info(
            "last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", 8]
        )
    _save_model(folder, nodes, list(inputs), output, TABLE)
    _save_tokenizer(folder)
    return folder


def test_onnx_directory_embedder_mean_pools_the_model_output(tmp_path: Path) -> None:
    folder = make_embedder_dir(tmp_path / "tiny-embedder")
    tokenizer = _save_tokenizer(folder)
    embedder = OnnxDirectoryEmbedder(folder, batch_size=2)
    texts = ["the ocean tide", "cat", "the stock market of today fell", "Ocean height"]
    vectors = embedder.embed_batch(texts)
    expected = np.stack([TABLE[tokenizer.encode(t).ids].mean(axis=0) for t in texts])
    assert vectors.shape == (4, 8) and embedder.dim == 8
    assert np.allclose(vectors, _unit(expected), atol=1e-5)
    digest = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()[:12]
    assert embedder.model_id == f"onnx:tiny-embedder@{digest}"


def test_onnx_directory_embedder_span_vectors_pool_their_tokens(tmp_path: Path) -> None:
    embedder = OnnxDirectoryEmbedder(make_embedder_dir(tmp_path / "m"))
    text = "ocean tide. cat sleeps"
    (p,) = embedder.embed_passages([text], [[(0, 11), (12, len(text))]])
    ocean_tide = TABLE[[VOCAB["ocean"], VOCAB["tide"], VOCAB["[UNK]"]]]  # "." is unknown
    assert np.allclose(p.span_vectors[0], _unit(ocean_tide.mean(axis=0)), atol=1e-5)
    assert np.allclose(
        p.span_vectors[1], _unit(TABLE[[VOCAB["cat"], VOCAB["sleeps"]]].mean(axis=0)), atol=1e-5
    )


def test_onnx_directory_embedder_feeds_only_declared_inputs(tmp_path: Path) -> None:
    embedder = OnnxDirectoryEmbedder(
        make_embedder_dir(tmp_path / "m", inputs=("input_ids", "attention_mask"))
    )
    vector = embedder.embed_batch(["ocean cat"])[0]
    ids = [VOCAB["[CLS]"], VOCAB["ocean"], VOCAB["cat"], VOCAB["[SEP]"]]
    assert np.allclose(vector, _unit(TABLE[ids].mean(axis=0)), atol=1e-5)


def test_onnx_directory_embedder_cls_pooling_from_config(tmp_path: Path) -> None:
    folder = make_embedder_dir(tmp_path / "m")
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {"word_embedding_dimension": 8, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}
        )
    )
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 4}))
    embedder = OnnxDirectoryEmbedder(folder)
    assert np.allclose(embedder.embed_batch(["ocean tide"])[0], _unit(TABLE[VOCAB["[CLS]"]]), atol=1e-5)
    # max_seq_length 4 truncates: [CLS] ocean tide [SEP] whatever follows.
    (p,) = embedder.embed_passages(["ocean tide cat sleeps"], [[(11, 21)]])
    assert np.allclose(
        p.span_vectors[0], _unit(TABLE[VOCAB["[CLS]"]]), atol=1e-5
    )  # no token left: the vector


def test_onnx_directory_embedder_with_a_pooled_output(tmp_path: Path) -> None:
    # batch_size 1: this toy model's ReduceMean ignores the attention mask, so padding would count.
    embedder = OnnxDirectoryEmbedder(make_embedder_dir(tmp_path / "m", pooled=True), batch_size=1)
    text = "ocean tide. cat sleeps"
    (p,) = embedder.embed_passages([text], [[(12, len(text))]])
    assert embedder.dim == 8
    cls, sep = VOCAB["[CLS]"], VOCAB["[SEP]"]
    expected_span = TABLE[[cls, VOCAB["cat"], VOCAB["sleeps"], sep]].mean(axis=0)  # the span as a text
    assert np.allclose(p.span_vectors[0], _unit(expected_span), atol=1e-5)


def test_onnx_directory_without_a_model_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match=r"has no model\.onnx"):
        OnnxDirectoryEmbedder(tmp_path)


def test_onnx_cross_encoder_scores_pairs(tmp_path: Path) -> None:
    """A [batch, 1] "cross-encoder": the sum over all tokens of a per-token weight (1 for ocean,
    tide and height), through a sigmoid."""
    folder = tmp_path / "tiny-ce"
    weights = np.zeros((len(VOCAB), 1), dtype=np.float32)
    for word in ("ocean", "tide", "height"):
        weights[VOCAB[word]] = 1.0
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["hidden"], axis=0),
        helper.make_node("Constant", [], ["axes"], value=axes),
        helper.make_node("ReduceSum", ["hidden", "axes"], ["logits"], keepdims=0),
    ]
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])
    _save_model(folder, nodes, ["input_ids", "attention_mask", "token_type_ids"], output, weights)
    _save_tokenizer(folder)
    reranker = OnnxCrossEncoder(folder, batch_size=2)
    scores = reranker.rerank(QUERY, PASSAGES)
    query_part = 3.0  # ocean, tide, height in the query
    expected = [1 / (1 + np.exp(-(query_part + n))) for n in (0, 2, 3, 1)]
    assert scores == pytest.approx(expected, rel=1e-5)
    assert reranker.rerank(QUERY, []) == []
    assert reranker.model_id.startswith("onnx-ce:tiny-ce@")


# -- settings and the registry -------------------------------------------------------------


def test_registry_builds_the_configured_providers(tmp_path: Path, server: ModelServer) -> None:
    assert isinstance(build_embedder(Settings()), MiniLMEmbedder)
    assert build_reranker(Settings()) is None
    folder = make_embedder_dir(tmp_path / "m")
    assert isinstance(build_embedder(Settings(embedder=f"onnx:{folder}")), OnnxDirectoryEmbedder)
    assert isinstance(build_reranker(Settings(reranker=f"onnx:{folder}")), OnnxCrossEncoder)
    http = build_reranker(Settings(reranker="cohere", reranker_url=server.url, reranker_model="m"))
    assert isinstance(http, HttpReranker) and http.flavor == "cohere"
    http.close()
    openai = build_embedder(
        Settings(
            embedder="openai", embedder_url=server.url, embedder_model="hash-bow", embedder_api_key=API_KEY
        )
    )
    try:
        assert openai.embed_batch(["x"]).shape == (1, DIM)
    finally:
        close_model(openai)
    with pytest.raises(Unavailable, match="DOCRAG_EMBEDDER_URL"):
        build_embedder(Settings(embedder="openai"))
    with pytest.raises(Unavailable, match="needs a model name"):
        build_reranker(Settings(reranker="cohere", reranker_url=server.url))
    with pytest.raises(ValidationError):
        Settings(embedder="word2vec")
    with pytest.raises(ValidationError):
        Settings(reranker="onnx:")


def test_environment_configures_the_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCRAG_EMBEDDER", "openai")
    monkeypatch.setenv("DOCRAG_EMBEDDER_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DOCRAG_EMBEDDER_API_KEY", "secret")
    monkeypatch.setenv("DOCRAG_RERANK_TOP", "12")
    s = Settings()
    assert (s.embedder, s.embedder_url, s.rerank_top) == ("openai", "http://127.0.0.1:9", 12)
    assert s.embedder_api_key is not None and "secret" not in repr(s)


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is not None, reason="it is installed")
def test_sentence_transformers_missing_names_the_install(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="pip install sentence-transformers"):
        build_embedder(Settings(embedder=f"st:{tmp_path}"))


def test_sentence_transformers_directory(tmp_path: Path) -> None:
    st = pytest.importorskip("sentence_transformers")
    from docrag.providers.st_local import SentenceTransformerEmbedder

    words = st.models.WordEmbeddings(["[UNK]", *WORDS], np.eye(len(WORDS) + 1, dtype=np.float32))
    model = st.SentenceTransformer(modules=[words, st.models.Pooling(words.get_word_embedding_dimension())])
    model.save(str(tmp_path / "st-model"))
    embedder = SentenceTransformerEmbedder(tmp_path / "st-model")
    vectors = embedder.embed_batch(["ocean", "ocean tide", "cat"])
    assert vectors.shape == (3, len(WORDS) + 1)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


# -- end to end: a runtime on the loopback embedder, and the per-collection model rule ------


def _http_settings(database_url: str, server: ModelServer, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url,
        pool_max_size=4,
        embedder="openai",
        embedder_url=server.url,
        embedder_model="hash-bow",
        embedder_api_key=API_KEY,
        model_timeout_seconds=5,
        model_retry_backoff_seconds=0.01,
        **extra,
    )


@pytest.fixture(scope="module")
def http_runtime(database_url: str, model_server: ModelServer, runtime: Runtime) -> Iterator[Runtime]:
    """A second runtime on the module's database: the 16-dimension loopback embedder and the
    TEI reranker (``runtime``, the MiniLM one, opened first, so its migrations ran)."""
    rt = Runtime.open(
        _http_settings(
            database_url,
            model_server,
            reranker="tei",
            reranker_url=model_server.url,
            reranker_api_key=API_KEY,
            inprocess_worker=False,
        )
    )
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def minilm_collection(runtime: Runtime) -> Collection:
    """A collection built by the bundled MiniLM, holding one document."""
    coll = runtime.collection(runtime.default_tenant, "minilm-only", create=True)
    runtime.ingest_now.ingest(coll, Upload(DOCS["tides.txt"].encode(), "tides.txt"))
    return coll


DOCS = {
    "tides.txt": "The ocean tide rises twice a day. Tide height depends on the moon.\n\nSailors read tables.",
    "cats.txt": "A cat sleeps most of the day. Cats purr when content.\n\nKittens play with string.",
    "markets.txt": "The stock market fell on Monday. Traders sold shares.\n\nBond yields rose sharply.",
}


def test_runtime_on_the_http_embedder_ingests_and_searches(
    http_runtime: Runtime, model_server: ModelServer
) -> None:
    rt = http_runtime
    coll = rt.collection(rt.default_tenant, "over-http", create=True)
    assert (coll.embedding_model, coll.embedding_dim) == ("openai:hash-bow", DIM)
    results = rt.ingest_now.ingest_many(coll, [Upload(t.encode(), name) for name, t in DOCS.items()])
    assert all(r.error is None and r.created for r in results)
    hits = rt.retriever.search(rt.default_tenant, [coll.id], "ocean tide height", limit=3)
    assert hits and hits[0].document_title == "tides.txt"
    assert all(h.rerank_score is not None for h in hits)  # the TEI reranker ordered them
    assert [h.rerank_score for h in hits] == sorted((h.rerank_score or 0.0 for h in hits), reverse=True)
    assert any(path == "/rerank" for path, _ in model_server.requests)
    with rt.store.connection(rt.default_tenant) as conn:
        dims = conn.execute(
            "SELECT DISTINCT vector_dims(embedding) AS d FROM chunks WHERE collection_id = %s", (coll.id,)
        ).fetchall()
        index = conn.execute("SELECT to_regclass(%s) AS i", (embedding_index_name(DIM),)).fetchone()
    assert [r["d"] for r in dims] == [DIM]
    assert index is not None and index["i"] is not None  # built when the 16-d collection was created


def _plan(rt: Runtime, dim: int) -> str:
    vector = np.ones(dim, dtype=np.float32)
    coll = rt.collection(rt.default_tenant, f"plan-{dim}", create=True)
    with rt.store.connection(rt.default_tenant) as conn, conn.transaction():
        conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        conn.execute("SET LOCAL enable_sort = off")  # tiny tables: make the planner show it can use the index
        rows = conn.execute(
            "EXPLAIN " + dense_sql(dim), (vector, rt.default_tenant, [coll.id], vector, 10)
        ).fetchall()
    return "\n".join(str(next(iter(r.values()))) for r in rows)


def test_dense_search_uses_the_hnsw_index_of_its_dimension(runtime: Runtime, http_runtime: Runtime) -> None:
    plan = _plan(runtime, 384)
    assert "Index Scan using chunks_embedding_384_idx" in plan, plan
    plan = _plan(http_runtime, DIM)
    assert f"Index Scan using chunks_embedding_{DIM}_idx" in plan, plan


def test_a_collection_refuses_another_model(
    runtime: Runtime, http_runtime: Runtime, minilm_collection: Collection
) -> None:
    tenant, minilm = runtime.default_tenant, minilm_collection
    assert (minilm.embedding_model, minilm.embedding_dim) == (MINILM_ID, 384)
    assert runtime.retriever.search(tenant, [minilm.id], "ocean tide", limit=3)

    same = http_runtime.collection(tenant, "minilm-only", create=True)  # exists: recorded model kept
    assert same.embedding_model == minilm.embedding_model
    for attempt in (
        lambda: http_runtime.ingest_now.ingest(same, Upload(DOCS["cats.txt"].encode(), "cats.txt")),
        lambda: http_runtime.retriever.search(tenant, [minilm.id], "ocean tide", limit=3),
        lambda: http_runtime.answerer.ask(tenant, [minilm.id], "When does the tide rise?"),
    ):
        with pytest.raises(Conflict) as caught:
            attempt()
        assert (caught.value.code, caught.value.status) == ("embedding_model_mismatch", 409)
        assert MINILM_ID in caught.value.message and "(DOCRAG_EMBEDDER=minilm)" in caught.value.message
    # and the other way round
    http_coll = http_runtime.collection(tenant, "http-only", create=True)
    with pytest.raises(Conflict, match="openai:hash-bow"):
        runtime.retriever.search(tenant, [http_coll.id], "anything", limit=3)


def test_a_worker_of_another_model_does_not_complete_the_job(runtime: Runtime, http_runtime: Runtime) -> None:
    from docrag.jobs.submit import submit

    tenant = runtime.default_tenant
    coll = runtime.collection(tenant, "queued-minilm", create=True)
    with pytest.raises(Conflict):  # refused at once where the upload arrives
        submit(http_runtime.jobs, http_runtime.ingestor, coll, Upload(b"ocean tide words here", "x.txt"))
    queued = submit(runtime.jobs, runtime.ingestor, coll, Upload(b"ocean tide words here", "x.txt"))
    job = http_runtime.jobs.claim("other-model-worker", 60)  # no worker runs in this module
    assert job is not None and job.document_id == queued.document.id
    # The final write refuses vectors of another model than the collection's...
    parsed = ParsedDocument(text="ocean tide words here", blocks=(), mime="text/plain")
    other = http_runtime.embedder.model_id
    with pytest.raises(Conflict) as caught:
        http_runtime.jobs.complete(job, title="x", parsed=parsed, chunks=[], model=other)
    assert caught.value.code == "embedding_model_mismatch"
    # ...and a worker with no model of the collection's retries the job instead of indexing it.
    runner = JobRunner(http_runtime.jobs, http_runtime.ingestor, http_runtime.settings)
    assert runner.run(job) is JobOutcome.RETRYING
    assert http_runtime.jobs.documents(tenant, [queued.document.id])[0].status != "indexed"


def test_the_database_refuses_a_vector_of_another_dimension(
    runtime: Runtime, minilm_collection: Collection
) -> None:
    coll = minilm_collection
    with runtime.store.connection(coll.tenant_id) as conn:
        doc = conn.execute("SELECT id FROM documents WHERE collection_id = %s LIMIT 1", (coll.id,)).fetchone()
        assert doc is not None
        with pytest.raises(psycopg.errors.CheckViolation, match="16 dimension embedding"):
            conn.execute(
                "INSERT INTO chunks (tenant_id, collection_id, document_id, ord, start_offset, end_offset,"
                " content, body, embedding) VALUES (%s, %s, %s, 999, 0, 1, 'x', 'x', %s)",
                (coll.tenant_id, coll.id, doc["id"], np.ones(16, dtype=np.float32)),
            )


@pytest.fixture(scope="module")
def http_api(http_runtime: Runtime) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(http_runtime.settings, runtime=http_runtime),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_api_answers_409_for_another_models_collection(
    http_runtime: Runtime, minilm_collection: Collection, admin_key: str, http_api: str
) -> None:
    http_runtime.collection(http_runtime.default_tenant, "over-http", create=True)
    headers = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=http_api, headers=headers, timeout=60) as client:
        search = client.post("/v1/search", json={"query": "ocean tide", "collections": ["minilm-only"]})
        upload = client.post(
            "/v1/collections/minilm-only/documents", files={"file": ("c.txt", DOCS["cats.txt"].encode())}
        )
        ok = client.post("/v1/search", json={"query": "ocean tide", "collections": ["over-http"]})
    for response in (search, upload):
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "embedding_model_mismatch"
    assert ok.status_code == 200


# -- re-indexing a collection with another model, beside the served index --------------------


def _dims(rt: Runtime, coll: Collection) -> list[tuple[int | None, int | None]]:
    with rt.store.connection(coll.tenant_id) as conn:
        rows = conn.execute(
            "SELECT DISTINCT vector_dims(embedding) AS d, vector_dims(embedding_next) AS n FROM chunks"
            " WHERE collection_id = %s",
            (coll.id,),
        ).fetchall()
    return sorted((r["d"], r["n"]) for r in rows)


def test_reindex_builds_beside_the_served_index_then_switches(
    runtime: Runtime, http_runtime: Runtime, model_server: ModelServer
) -> None:
    tenant = runtime.default_tenant
    coll = runtime.collection(tenant, "to-reindex", create=True)
    runtime.ingest_now.ingest_many(coll, [Upload(t.encode(), n) for n, t in list(DOCS.items())[:2]])
    reindexer = Reindexer(ReindexStore(http_runtime.store), http_runtime.embedder, http_runtime.settings)
    seen_during: list[list[str]] = []

    def meanwhile(done: int, missing: int) -> None:
        if not seen_during:
            # Mid-run: the MiniLM index still serves, the new model is refused, and a worker
            # (the MiniLM ingestor) adds a document the re-index must not miss.
            hits = runtime.retriever.search(tenant, [coll.id], "stock market traders", limit=3)
            seen_during.append([h.document_title for h in hits])
            with pytest.raises(Conflict):
                http_runtime.retriever.search(tenant, [coll.id], "ocean tide", limit=3)
            runtime.ingest_now.ingest(coll, Upload(DOCS["markets.txt"].encode(), "markets.txt"))

    report = reindexer.run(runtime.store.collection_by_id(tenant, coll.id), meanwhile)
    assert seen_during and "markets.txt" not in seen_during[0]
    assert report.model == "openai:hash-bow" and report.embedded >= 3
    after = http_runtime.store.collection_by_id(tenant, coll.id)
    assert (after.embedding_model, after.embedding_dim) == ("openai:hash-bow", DIM)
    assert _dims(http_runtime, after) == [(DIM, None)]  # every chunk moved, markets.txt's too
    hits = http_runtime.retriever.search(tenant, [coll.id], "stock market traders", limit=3)
    assert hits and hits[0].document_title == "markets.txt" and hits[0].dense_score is not None
    with pytest.raises(Conflict) as caught:
        runtime.retriever.search(tenant, [coll.id], "ocean tide", limit=3)
    assert caught.value.code == "embedding_model_mismatch"
    # Workers on the old model can no longer write into it.
    with pytest.raises(Conflict):
        runtime.ingest_now.ingest(after, Upload(b"Penguins huddle in winter.", "penguins.txt"))


def test_reindex_cancel_and_refusals(runtime: Runtime, http_runtime: Runtime) -> None:
    tenant = runtime.default_tenant
    coll = runtime.collection(tenant, "reindex-cancel", create=True)
    runtime.ingest_now.ingest(coll, Upload(DOCS["cats.txt"].encode(), "cats.txt"))
    to_http = Reindexer(ReindexStore(http_runtime.store), http_runtime.embedder, http_runtime.settings)
    with pytest.raises(InvalidRequest):  # already this model
        Reindexer(ReindexStore(runtime.store), runtime.embedder, runtime.settings).run(coll)

    sql = ReindexStore(runtime.store)
    sql.begin(coll, "other-model", 8)
    with pytest.raises(Conflict) as caught:
        to_http.run(coll)
    assert caught.value.code == "reindex_in_progress"
    to_http.cancel(coll)
    assert _dims(runtime, coll) == [(384, None)]
    assert runtime.retriever.search(tenant, [coll.id], "cat sleeps", limit=3)
    # After a cancel, a half-written run leaves nothing that counts as done.
    sql.begin(coll, "openai:hash-bow", DIM)
    (first, *_) = sql.pending(coll, after=0, limit=10)
    ones = [NewVectors(first.id, np.ones(DIM, dtype=np.float32), None)]
    assert sql.write(coll, "openai:hash-bow", ones)
    sql.cancel(coll)
    assert not sql.write(coll, "openai:hash-bow", ones)
    assert _dims(runtime, coll) == [(384, None)]
