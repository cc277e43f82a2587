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
    chunk_target_tokens: int = Field(default=200, ge=16)
    chunk_max_tokens: int = Field(default=256, ge=32)
    embed_batch_size: int = Field(default=32, ge=1)
    embed_threads: int = Field(default=0, ge=0)  # 0: let ONNX Runtime decide

    #: Retrieval: candidates taken from each leg before fusion, and the fusion itself.
    candidates: int = Field(default=100, ge=1, le=1000)
    fusion: Literal["rrf", "minmax"] = "minmax"
    fusion_dense_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    rrf_k: int = Field(default=60, ge=1)
    hnsw_ef_search: int = Field(default=100, ge=10, le=1000)

    #: Extractive answers: how many sentences, and the score under which DocRAG abstains.
    answer_sentences: int = Field(default=2, ge=1, le=10)
    answer_passages: int = Field(default=8, ge=1, le=50)
    abstain_threshold: float = Field(default=0.30, ge=0.0, le=1.0)

    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()
