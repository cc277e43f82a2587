"""The single-page web UI served at /."""
