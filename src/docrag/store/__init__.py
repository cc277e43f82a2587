"""PostgreSQL + pgvector storage: the single source of truth."""
