"""Frozen dataclasses (an :class:`~docrag.domain.Answer` and what it holds) to JSON and back,
driven by their type hints, so a cached value never needs pickle (a shared Redis must not be
able to run code in DocRAG) and a new field needs no codec change."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from functools import cache
from typing import Any, TypeVar, get_args, get_origin
from uuid import UUID

T = TypeVar("T")


def dumps(value: object) -> bytes:
    return json.dumps(_plain(value), separators=(",", ":")).encode()


def loads(cls: type[T], data: bytes) -> T:
    """:raises ValueError: when ``data`` is not a ``cls`` written by :func:`dumps`."""
    try:
        return typing.cast(T, _build(cls, json.loads(data)))
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a cached {cls.__name__}: {exc}") from exc


def _plain(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, UUID):
        return str(value)
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(tp: Any, raw: Any) -> Any:
    if raw is None:
        return None
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        return _build(options[0], raw) if len(options) == 1 else raw
    if origin is typing.Literal:
        return raw
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in raw)
        return tuple(_build(a, v) for a, v in zip(args, raw, strict=True))
    if origin is list:
        (arg,) = get_args(tp)
        return [_build(arg, v) for v in raw]
    if origin is dict:
        key, val = get_args(tp)
        return {_build(key, k): _build(val, v) for k, v in raw.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        return tp(**{f.name: _build(hints[f.name], raw[f.name]) for f in dataclasses.fields(tp) if f.init})
    if tp is UUID:
        return UUID(raw)
    if tp is float:
        return float(raw)
    return raw
