"""Generators: the OpenAI-compatible provider against a real loopback server speaking its wire
format (whole and streamed answers, retries, timeouts, typed failures), the registry, and the
optional llama.cpp extra."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator

import pytest

from docrag.errors import GeneratorFailed, GeneratorUnavailable, MissingDependency, Unavailable
from docrag.providers.generation import Message
from docrag.providers.generators import build_generator
from docrag.providers.openai_chat import OpenAIChatGenerator
from docrag.settings import Settings
from llm_server import ChatServer, Prompt

MESSAGES = [
    Message("system", "Answer from the passages."),
    Message(
        "user",
        '<passages>\n<passage number="1" title="Tides">\nThe tide rises twice a day at Kestrel Bay.\n'
        "</passage>\n</passages>\n\n<question>\nHow often does the tide rise at Kestrel Bay?\n</question>",
    ),
]


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    s = ChatServer()
    yield s
    s.stop()


@pytest.fixture()
def llm(server: ChatServer) -> Iterator[ChatServer]:
    server.reset()
    yield server
    server.reset()


def generator(server: ChatServer, **kwargs: float) -> OpenAIChatGenerator:
    options: dict[str, float] = {"timeout": 2.0, "retries": 2, "backoff": 0.0, **kwargs}
    return OpenAIChatGenerator(
        server.url + "/v1",
        "stand-in",
        api_key="sk-x",
        timeout=options["timeout"],
        retries=int(options["retries"]),
        backoff=options["backoff"],
    )


def test_whole_answer_speaks_the_wire_format(llm: ChatServer) -> None:
    gen = generator(llm)
    text = gen.complete(MESSAGES)
    assert text == "The tide rises twice a day at Kestrel Bay [1]."
    sent = llm.requests[-1]
    assert sent["model"] == "stand-in" and sent["stream"] is False
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert gen.model_id == "openai:stand-in"
    gen.close()


def test_streamed_answer_arrives_in_pieces(llm: ChatServer) -> None:
    llm.chunk_delay = 0.05
    gen = generator(llm)
    stream = gen.stream(MESSAGES)
    arrivals = []
    pieces = []
    for piece in stream:
        arrivals.append(time.monotonic())
        pieces.append(piece)
    assert llm.requests[-1]["stream"] is True
    assert "".join(pieces) == "The tide rises twice a day at Kestrel Bay [1]."
    assert len(pieces) >= 9
    assert arrivals[-1] - arrivals[0] > 0.3  # read as sent, not all at the end
    gen.close()


def test_server_errors_are_retried(llm: ChatServer) -> None:
    llm.fail = [500, 503]
    gen = generator(llm)
    assert "Kestrel Bay" in gen.complete(MESSAGES)
    assert len(llm.requests) == 3
    llm.fail = [429]
    assert "Kestrel Bay" in "".join(gen.stream(MESSAGES))
    gen.close()


def test_persistent_failure_is_a_typed_503(llm: ChatServer) -> None:
    llm.fail = [500] * 3
    gen = generator(llm)
    with pytest.raises(GeneratorUnavailable) as info:
        gen.complete(MESSAGES)
    assert info.value.code == "generator_unavailable" and info.value.status == 503
    assert len(llm.requests) == 3
    llm.fail = [502] * 3
    with pytest.raises(GeneratorUnavailable):
        gen.stream(MESSAGES)  # fails on opening, before any text
    gen.close()


def test_a_refusal_is_a_typed_502_at_once(llm: ChatServer) -> None:
    llm.fail = [400]
    gen = generator(llm)
    with pytest.raises(GeneratorFailed) as info:
        gen.complete(MESSAGES)
    assert info.value.code == "generator_failed" and info.value.status == 502
    assert len(llm.requests) == 1
    gen.close()


def test_slow_answers_time_out_and_are_retried(llm: ChatServer) -> None:
    llm.delay = 0.6
    gen = generator(llm, timeout=0.3, retries=1)
    started = time.monotonic()
    with pytest.raises(GeneratorUnavailable, match="no answer within"):
        gen.complete(MESSAGES)
    assert len(llm.requests) == 2
    assert time.monotonic() - started < 3
    llm.delay = 0.0
    assert "Kestrel Bay" in gen.complete(MESSAGES)
    gen.close()


def test_a_stream_that_stalls_is_a_typed_error(llm: ChatServer) -> None:
    llm.chunk_delay = 0.5
    gen = generator(llm, timeout=0.2)
    stream = gen.stream(MESSAGES)
    with pytest.raises(GeneratorUnavailable, match="stopped sending"):
        list(stream)
    gen.close()


def test_answers_in_an_unknown_format_are_typed(llm: ChatServer) -> None:
    gen = generator(llm)
    llm.raw = {"id": "c1", "object": "chat.completion", "output": "no choices here"}
    with pytest.raises(GeneratorFailed, match="unknown format"):
        gen.complete(MESSAGES)
    assert len(llm.requests) == 1  # retrying can't fix a format
    gen.close()


def test_the_stand_in_follows_the_prompt(llm: ChatServer) -> None:
    seen: list[Prompt] = []

    def record(prompt: Prompt) -> str:
        seen.append(prompt)
        return "ok"

    llm.respond = record
    generator(llm).complete(MESSAGES)
    assert seen[0].passages == {1: "The tide rises twice a day at Kestrel Bay."}
    assert seen[0].question == "How often does the tide rise at Kestrel Bay?"


def test_registry_builds_the_configured_generator(llm: ChatServer) -> None:
    assert build_generator(Settings()) is None
    built = build_generator(Settings(generator="openai", llm_base_url=llm.url, llm_model="m"))
    assert isinstance(built, OpenAIChatGenerator) and built.model_id == "openai:m"
    with pytest.raises(Unavailable, match="DOCRAG_LLM_BASE_URL"):
        build_generator(Settings(generator="openai", llm_model="m"))
    with pytest.raises(Unavailable, match="DOCRAG_LLM_MODEL"):
        build_generator(Settings(generator="openai", llm_base_url=llm.url))


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is not None, reason="llama-cpp-python installed")
def test_llama_cpp_without_the_extra_is_a_typed_error(tmp_path: object) -> None:
    with pytest.raises(MissingDependency) as info:
        build_generator(Settings(generator="llama_cpp", llm_model="/models/any.gguf"))
    assert info.value.code == "missing_dependency"
    assert "docrag[llm]" in info.value.message
