"""Hybrid retrieval: dense (pgvector HNSW) and lexical (BM25) legs, fused, checked against PostgreSQL."""
