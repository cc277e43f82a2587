"""The process's Prometheus instruments for work below the API: jobs, ingestion stages, models,
the answer cache and answer quality. Each is made once per process (``functools.cache``: the
default registry refuses a name twice); with PROMETHEUS_MULTIPROC_DIR set, values go to its files.

Labels are bounded: outcomes, error codes (from ``errors.py``), stage and operation names,
configured model ids. Never ids, tenants or text.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

#: Seconds, for ingestion stages and model calls (a parse or an embed batch: ms to minutes).
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
MODEL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RATIO_BUCKETS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: The ingestion stages the job runner times (``jobs/runner.py``).
STAGES = ("fetch", "parse", "chunk", "embed", "write")


@cache
def jobs_finished() -> Counter:
    return Counter(
        "docrag_jobs",
        "Ingestion job runs by outcome (done, failed, retrying, handed_back, lost) and error code",
        ("outcome", "error_code"),
        registry=REGISTRY,
    )


@cache
def ingest_stage_seconds() -> Histogram:
    return Histogram(
        "docrag_ingest_stage_duration_seconds",
        "Time one ingestion job (or group of small ones run together) spent in a stage"
        " (fetch, parse, chunk, embed, write)",
        ("stage",),
        buckets=STAGE_BUCKETS,
        registry=REGISTRY,
    )


@cache
def model_seconds() -> Histogram:
    return Histogram(
        "docrag_model_call_duration_seconds",
        "Latency of one model call, by model kind, configured model id and operation",
        ("kind", "model", "operation"),
        buckets=MODEL_BUCKETS,
        registry=REGISTRY,
    )


@cache
def model_errors() -> Counter:
    return Counter(
        "docrag_model_call_errors",
        "Model calls that raised, by model kind, configured model id and operation",
        ("kind", "model", "operation"),
        registry=REGISTRY,
    )


@cache
def vector_cache_lookups() -> Counter:
    return Counter(
        "docrag_vector_cache_lookups",
        "Chunks whose vectors a search looked up in this process's cache, by result (hit, miss)",
        ("result",),
        registry=REGISTRY,
    )


@cache
def cache_lookups() -> Counter:
    return Counter(
        "docrag_cache_lookups",
        "Answer cache lookups by backend (memory, redis) and result (hit, miss)",
        ("backend", "result"),
        registry=REGISTRY,
    )


@cache
def memory_cache_bytes() -> Gauge:
    return Gauge(
        "docrag_cache_memory_bytes",
        "Bytes (keys and values) the in-memory answer and search cache holds, summed over live processes",
        multiprocess_mode="livesum",
        registry=REGISTRY,
    )


@cache
def answers() -> Counter:
    return Counter(
        "docrag_answers",
        "Answers given, by outcome (answered, abstained)",
        ("outcome",),
        registry=REGISTRY,
    )


@cache
def unsupported_share() -> Histogram:
    return Histogram(
        "docrag_answer_unsupported_sentence_ratio",
        "Per answered question: the share of its sentences the groundedness check did not support",
        buckets=RATIO_BUCKETS,
        registry=REGISTRY,
    )


@cache
def citation_coverage() -> Histogram:
    return Histogram(
        "docrag_answer_citation_coverage_ratio",
        "Per answered question: the share of its sentences that carry at least one citation",
        buckets=RATIO_BUCKETS,
        registry=REGISTRY,
    )


@cache
def feedback() -> Counter:
    return Counter(
        "docrag_answer_feedback",
        "Feedback ratings recorded, by rating (up, down)",
        ("rating",),
        registry=REGISTRY,
    )


@cache
def health_score() -> Gauge:
    return Gauge(
        "docrag_health_score",
        "Weighted component health, 0-100, as of the last component check (docs/observability.md)",
        multiprocess_mode="mostrecent",
        registry=REGISTRY,
    )


@cache
def admission_refused() -> Counter:
    return Counter(
        "docrag_admission_refused",
        "Requests refused 503 overloaded by admission control, by route class (search, ask, upload)"
        " and why (queue_full, wait_too_long: the expected wait past the allowed one, wait_expired)",
        ("route_class", "reason"),
        registry=REGISTRY,
    )


@cache
def replica_fallbacks() -> Counter:
    return Counter(
        "docrag_read_replica_fallbacks",
        "Search-path reads sent to the primary because the read replica was down or saturated"
        " (DOCRAG_DATABASE_READ_URL; store/replica.py)",
        registry=REGISTRY,
    )
