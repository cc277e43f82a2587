"""Builds the configured generator from settings (``DOCRAG_GENERATOR`` and ``DOCRAG_LLM_*``)."""

from __future__ import annotations

from docrag.errors import Unavailable
from docrag.providers.generation import Generator
from docrag.settings import Settings


def build_generator(settings: Settings) -> Generator | None:
    """The LLM to write answers with; ``None`` for ``extractive`` (no model: quoted sentences).

    :raises Unavailable: a setting the generator needs is missing, or the LLM judge has no model.
    :raises MissingDependency: ``llama_cpp`` without the ``docrag[llm]`` extra.
    """
    s = settings
    if s.generator == "extractive":
        if s.groundedness_judge == "llm":
            raise Unavailable(
                "DOCRAG_GROUNDEDNESS_JUDGE=llm needs a language model: DOCRAG_GENERATOR=openai or llama_cpp"
            )
        return None
    if s.generator == "llama_cpp":
        from docrag.providers.llama_cpp import LlamaCppGenerator, bundled_model

        return LlamaCppGenerator(
            s.llm_model or bundled_model(),
            context_tokens=s.llm_context_tokens,
            max_tokens=s.llm_max_tokens,
            temperature=s.llm_temperature,
        )
    from docrag.providers.openai_chat import OpenAIChatGenerator

    if not s.llm_model:
        raise Unavailable(f"DOCRAG_GENERATOR={s.generator} needs DOCRAG_LLM_MODEL")

    if not s.llm_base_url:
        raise Unavailable("DOCRAG_GENERATOR=openai needs DOCRAG_LLM_BASE_URL")
    return OpenAIChatGenerator(
        s.llm_base_url,
        s.llm_model,
        api_key=s.llm_api_key.get_secret_value() if s.llm_api_key else None,
        timeout=s.llm_timeout_seconds,
        retries=s.llm_retries,
        backoff=s.llm_retry_backoff_seconds,
        max_tokens=s.llm_max_tokens,
        temperature=s.llm_temperature,
    )
