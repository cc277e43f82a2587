"""Turning uploaded bytes into a :class:`~docrag.domain.ParsedDocument`."""
