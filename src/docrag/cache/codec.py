"""Frozen dataclasses (an :class:`~docrag.domain.Answer` and what it holds) to JSON and back with
pydantic's :class:`~pydantic.TypeAdapter`, driven by their type hints: a cached value never needs
pickle (a shared Redis must not be able to run code in DocRAG) and a new field needs no codec change."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def dumps(value: object) -> bytes:
    return _adapter(type(value)).dump_json(value)


def loads(cls: type[T], data: bytes) -> T:
    """:raises ValueError: when ``data`` is not a ``cls`` written by :func:`dumps`."""
    try:
        value: T = _adapter(cls).validate_json(data, strict=False)
    except ValidationError as exc:
        raise ValueError(f"not a cached {cls.__name__}: {exc.error_count()} error(s)") from exc
    return value
