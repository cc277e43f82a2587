"""One settings object, read from ``DOCRAG_*`` environment variables, with embedded defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCRAG_", env_file=None, extra="ignore")

    #: Where the embedded PostgreSQL keeps its data (and anything else DocRAG stores locally).
    data_dir: Path = Path("./data")
    #: Use this PostgreSQL server (with pgvector) instead of the embedded one.
    database_url: str | None = None
    pool_min_size: int = Field(default=1, ge=1)
    pool_max_size: int = Field(default=10, ge=1)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    #: Largest accepted upload, in bytes.
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)

    #: Chunking: the target and hard limit of a chunk's size, in model tokens.
    chunk_target_tokens: int = Field(default=256, ge=16)
    chunk_max_tokens: int = Field(default=256, ge=32)
    #: semantic: cuts where the topic shifts; structural: greedy packing; fixed: word windows.
    chunking: Literal["semantic", "structural", "fixed"] = "semantic"
    embed_batch_size: int = Field(default=32, ge=1)
    embed_threads: int = Field(default=0, ge=0)  # 0: let ONNX Runtime decide

    #: Retrieval: candidates taken from each leg before fusion, and the fusion itself.
    candidates: int = Field(default=100, ge=1, le=1000)
    fusion: Literal["rrf", "minmax"] = "minmax"
    fusion_dense_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    rrf_k: int = Field(default=60, ge=1)
    #: Dense leg: weight of a chunk's best-matching sentence vector added to its own score.
    dense_sentence_weight: float = Field(default=1.0, ge=0.0, le=10.0)
    #: Lexical leg: weight of the chunk's whole-document BM25 added to its own BM25.
    lexical_document_weight: float = Field(default=0.5, ge=0.0, le=10.0)
    hnsw_ef_search: int = Field(default=100, ge=10, le=1000)

    #: Extractive answers: how many sentences, and the score under which DocRAG abstains.
    answer_sentences: int = Field(default=2, ge=1, le=10)
    answer_passages: int = Field(default=8, ge=1, le=50)
    abstain_threshold: float = Field(default=0.30, ge=0.0, le=1.0)

    #: Background ingestion (docrag/jobs/): `docrag serve` runs worker threads in-process,
    #: `docrag worker` runs standalone ones; any number share one database.
    inprocess_worker: bool = True
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    #: A claimed job is a worker's for this long unless its heartbeat (every third of it) extends it.
    job_lease_seconds: float = Field(default=60.0, gt=0)
    #: Workers look for jobs this often even when no enqueue notification arrives.
    job_poll_seconds: float = Field(default=1.0, gt=0)
    job_max_attempts: int = Field(default=5, ge=1)
    #: Transient failures retry after base * 2^(attempt - 1) seconds, at most an hour.
    job_retry_base_seconds: float = Field(default=2.0, ge=0)
    #: How long `POST ...?wait=true` waits for the document to be indexed or fail.
    upload_wait_seconds: float = Field(default=300.0, gt=0)

    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()
