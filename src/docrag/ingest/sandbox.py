"""Parsing in child processes, under memory, CPU-time and wall-clock limits.

A hostile file (a PDF whose parse never ends, markup that needs gigabytes, a C library
crashing on it) must fail its own document, never the worker or the other jobs. So each parse
runs in a long-lived child process whose address space is capped (``RLIMIT_AS``,
``DOCRAG_WORKER_MEMORY_MB``) and whose CPU time per parse is capped (``RLIMIT_CPU``); the parent
also kills it at the wall-clock limit (``DOCRAG_PARSE_TIMEOUT_SECONDS``). A child that was killed
or died is replaced by a fresh one, and its document fails with a typed, permanent error:

    wall-clock or CPU time ran out                              ParseTimeout         parse_timeout
    MemoryError in the child, or the child was SIGKILLed (the   ParseMemoryExceeded  parse_memory_exceeded
    kernel's OOM killer) or aborted (a failed C allocation)
    any other crash (a signal in a C library)                   UnreadableFile       unreadable_file

Children are forked from a ``forkserver`` that has the parsers preloaded (a fresh child is
ready in about 0.1 s, and forking never copies the worker's threads, connections or model),
and stay idle between parses, one per concurrently parsing thread: a parse costs one pickle
round trip over a pipe. A child is replaced after :data:`MAX_USES` parses, and after any
memory failure, so what one document leaves behind can't affect the next ones.
"""

from __future__ import annotations

import math
import multiprocessing
import pickle
import resource
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from docrag.domain import ParsedDocument
from docrag.errors import (
    DocRAGError,
    ParseMemoryExceeded,
    ParseTimeout,
    UnreadableFile,
    error_for,
)
from docrag.ingest.parsers import ParseLimits, parse

__all__ = ["MAX_USES", "ParseSandbox"]

T = TypeVar("T")

#: Parses a child serves before it is replaced by a fresh one.
MAX_USES = 200
#: Modules the forkserver imports once, so that children start with them loaded.
# Only what most parses need: each module preloaded here adds to the address space every parse
# starts with (RLIMIT_AS counts it). Office, spreadsheet and OCR libraries load on first use.
_PRELOAD = ["docrag.ingest.sandbox", "pypdf", "docx", "bs4", "markdown_it", "lxml.etree"]
_MiB = 1024 * 1024


def _context() -> BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)  # only matters before the forkserver starts
        return context
    return multiprocessing.get_context("spawn")


class ParseSandbox:
    """Thread-safe: each concurrent :meth:`parse` gets a child process of its own."""

    def __init__(
        self, limits: ParseLimits, *, timeout_seconds: float, memory_mb: int, max_uses: int = MAX_USES
    ) -> None:
        self.limits = limits
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self._max_uses = max_uses
        self._context = _context()
        self._lock = threading.Lock()
        self._idle: list[_Child] = []
        #: Children started so far (replacements included): what crashes and recycling cost.
        self.started = 0

    def parse(self, data: bytes, filename: str | None = None, mime: str | None = None) -> ParsedDocument:
        """:func:`docrag.ingest.parsers.parse` in a child; every failure is a :class:`DocRAGError`."""
        return self.run(parse, data, filename, self.limits, mime)

    def run(self, task: Callable[..., T], *args: Any) -> T:
        """``task(*args)`` in a child, under the same limits as a parse: for other work on an
        uploaded file (rendering a PDF page for a citation). ``task`` must be a module-level
        function (it is pickled by name); every failure is a :class:`DocRAGError`."""
        child = self._take()
        try:
            result: T = child.call(task, args, self.timeout_seconds)
            return result
        except BaseException as exc:
            if not isinstance(exc, DocRAGError):  # e.g. KeyboardInterrupt while waiting: state unknown
                child.kill()
            raise
        finally:
            self._give_back(child)

    def close(self) -> None:
        """Stop the idle children (a later :meth:`parse` starts new ones)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()

    def _take(self) -> _Child:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self.started += 1
        return _Child(self._context, self.memory_mb * _MiB)

    def _give_back(self, child: _Child) -> None:
        if child.alive and child.uses < self._max_uses:
            with self._lock:
                self._idle.append(child)
        else:
            child.close()


class _Child:
    def __init__(self, context: BaseContext, memory_bytes: int) -> None:
        parent_end, child_end = context.Pipe()
        process: BaseProcess = context.Process(  # type: ignore[attr-defined]
            target=_serve, args=(child_end, memory_bytes), name="docrag-parse", daemon=True
        )
        process.start()
        child_end.close()
        self.process = process
        self.conn = parent_end
        self.alive = True
        self.uses = 0

    def call(self, task: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        self.uses += 1
        deadline = time.monotonic() + timeout
        try:
            self.conn.send_bytes(pickle.dumps((task, args, timeout), pickle.HIGHEST_PROTOCOL))
            if not self.conn.poll(max(0.0, deadline - time.monotonic())):
                self.kill()
                raise ParseTimeout(f"parsing the file took longer than {timeout:g} s; it was stopped")
            payload = self.conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise self._died(timeout) from exc
        reply: tuple[Any, ...] = pickle.loads(payload)
        if reply[0] == "ok":
            return reply[1]
        _, code, message, *raised = reply
        if code == ParseMemoryExceeded.code:
            self.close()  # its heap may be fragmented or nearly full: start the next parse afresh
        raise _rebuilt(raised[0] if raised else None, code, message)

    def _died(self, timeout: float) -> DocRAGError:
        self.process.join(5)
        self.kill()
        code = self.process.exitcode
        if code == -signal.SIGXCPU:
            return ParseTimeout(f"parsing the file used more than {timeout:g} s of CPU time; it was stopped")
        if code in (-signal.SIGKILL, -signal.SIGABRT):
            return ParseMemoryExceeded("the parser ran out of memory on this file and was stopped")
        if code is not None and code < 0:
            return UnreadableFile(f"the parser crashed on this file (signal {signal.Signals(-code).name})")
        return UnreadableFile(f"the parser crashed on this file (exit code {code})")

    def kill(self) -> None:
        self.alive = False
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def close(self) -> None:
        self.alive = False
        self.conn.close()  # the child reads EOF and exits
        self.process.join(1)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def _rebuilt(cls: type[DocRAGError] | None, code: str, message: str) -> DocRAGError:
    """The child's typed error again, with its class (its HTTP status) where it can be rebuilt."""
    if cls is not None and issubclass(cls, DocRAGError):
        try:
            return cls(message, code=code)
        except TypeError:  # a class that needs more than a message
            pass
    return error_for(code, message)


# --- in the child --------------------------------------------------------------------------------


def _serve(conn: Connection, memory_bytes: int) -> None:
    """Run requests (a parse, mostly) until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the worker's to handle (it drains)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            return
        task, args, seconds = pickle.loads(request)
        del request
        _limit_cpu(seconds)
        reply: tuple[Any, ...]
        try:
            reply = ("ok", task(*args))
        except DocRAGError as exc:
            reply = ("error", exc.code, exc.message, type(exc))
        except MemoryError:
            reply = ("error", ParseMemoryExceeded.code, "parsing the file needed more memory than allowed")
        except Exception as exc:  # parse() types every parser failure; this is a last resort
            reply = ("error", UnreadableFile.code, f"the file could not be parsed: {type(exc).__name__}")
        del args
        try:
            payload = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            payload = pickle.dumps(
                ("error", ParseMemoryExceeded.code, "the parsed document needed more memory than allowed")
            )
        del reply
        try:
            conn.send_bytes(payload)
        except OSError:  # the parent is gone
            return


def _limit_cpu(seconds: float) -> None:
    """Allow this parse ``seconds`` of CPU time on top of what the child has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
