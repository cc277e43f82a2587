"""Caches that may forget anything at any time: PostgreSQL stays the source of truth."""
