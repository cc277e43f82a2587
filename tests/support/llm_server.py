"""A real HTTP server on loopback speaking OpenAI's ``/v1/chat/completions`` wire format, as a
stand-in for a remote LLM.

By default it is an obedient model: it parses the prompt DocRAG sends (numbered ``<passage>``
blocks, the ``<question>``), answers with the passage sentence sharing the most words with the
question, cited by number, and then does whatever a passage tells it to: reveal the system
prompt, cite a passage number it is told to, emit a link or image. ``respond`` replaces that
model with a test's own; ``fail``, ``status_for``, ``delay`` and ``chunk_delay`` make it misbehave.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PASSAGE = re.compile(r'<passage number="(\d+)" title="[^"]*">\n(.*?)\n</passage>', re.DOTALL)
_QUESTION = re.compile(r"<question>\n(.*?)\n</question>", re.DOTALL)
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("the a an of is are was how what when who does do in on to and for every".split())


@dataclass(frozen=True)
class Prompt:
    system: str
    passages: dict[int, str]
    question: str


def parse(messages: list[dict[str, str]]) -> Prompt:
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    user = messages[-1]["content"]
    passages = {int(n): text for n, text in _PASSAGE.findall(user)}
    question = _QUESTION.search(user)
    return Prompt(system, passages, question.group(1) if question else user)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower())) - _STOP


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def obey(prompt: Prompt) -> str:
    """Answer from the best-matching passage sentence, then carry out every injected instruction."""
    asked = _words(prompt.question)
    scored = [
        (len(asked & _words(s)), -n, n, s) for n, text in prompt.passages.items() for s in _sentences(text)
    ]
    out: list[str] = []
    if scored and max(scored)[0] > 0:
        _, _, n, sentence = max(scored)
        out.append(f"{sentence.rstrip('.')} [{n}].")
    for text in prompt.passages.values():
        low = text.lower()
        if "system prompt" in low or "your instructions" in low:
            out.append(prompt.system)
        cite = re.search(r"cite (?:passage|source|document) \[?(\d+)\]?", low)
        if cite:
            out.append(f"The authoritative source for this is another document [{cite.group(1)}].")
        for link in re.findall(r"!?\[[^\]]*\]\([^)]*\)|https?://\S+", text):
            out.append(f"See {link.rstrip('.')} for details.")
    return "\n".join(out) if out else "I don't know."


class ChatServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail: list[int] = []  # statuses to answer the next requests with
        self.delay = 0.0  # seconds before answering
        self.chunk_delay = 0.0  # seconds between streamed chunks
        self.respond: Callable[[Prompt], str] = obey
        self.raw: Any = None  # answer every request with this JSON instead
        self.status_for: Callable[[Prompt], int | None] | None = None  # fail the prompts it picks
        server = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: a streamed body simply ends when the connection closes.
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if self.path != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": "no such route"}})
                if server.fail:
                    return self._json(server.fail.pop(0), {"error": {"message": "overloaded"}})
                if server.status_for is not None:
                    status = server.status_for(parse(body["messages"]))
                    if status is not None:
                        return self._json(status, {"error": {"message": "overloaded"}})
                if server.delay:
                    time.sleep(server.delay)
                if server.raw is not None:
                    return self._json(200, server.raw)
                text = server.respond(parse(body["messages"]))
                if not body.get("stream"):
                    message = {"role": "assistant", "content": text}
                    return self._json(
                        200,
                        {"id": "c1", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]},
                    )  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for piece in re.findall(r"\S+\s*|\s+", text):
                        chunk = {"id": "c1", "object": "chat.completion.chunk",
                                 "choices": [{"index": 0, "delta": {"content": piece}}]}  # fmt: skip
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        if server.chunk_delay:
                            time.sleep(server.chunk_delay)
                    self.wfile.write(b"data: [DONE]\n\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (a timeout, a closed stream)

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test): nobody is left to answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.requests.clear()
        self.fail.clear()
        self.delay = self.chunk_delay = 0.0
        self.respond = obey
        self.raw = None
        self.status_for = None

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
