"""Generated answers: retrieve, prompt the model with numbered passages, then check every
sentence before anyone sees it.

Each sentence the model writes, as soon as it is complete, loses links, images and URLs; is
dropped if it reproduces the system prompt; gets verified citations (``citations.py``) and a
groundedness verdict (``verdicts.py``). Only then is it streamed as a token, so an instruction
hidden in a passage can't get its output past these checks even for a moment.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from uuid import UUID

from docrag.answering.citations import Passages, cited_numbers, without_markers
from docrag.answering.events import AnswerEvent, Finished, Started, Token, final
from docrag.answering.extractive import DONT_KNOW
from docrag.answering.prompt import PromptBuilder
from docrag.answering.sanitize import EchoGuard, has_links, strip_links
from docrag.answering.splitting import SentenceBuffer
from docrag.domain import Answer, AnswerSentence
from docrag.groundedness.detector import GroundednessDetector
from docrag.groundedness.judge import LLMJudge
from docrag.groundedness.verdicts import Judge, apply_policy, kept
from docrag.providers.generation import Generator, TextStream
from docrag.retrieval.hybrid import Retriever
from docrag.settings import Settings
from docrag.text.bm25 import tokenize

_DONT_KNOW = re.compile(r"^\W*i\s+(?:do\s+not|don['’]?t)\s+know\b", re.IGNORECASE)
_WORDY = re.compile(r"\w{2,}")
_MIN_WORDS_AFTER_STRIPPING = 3


class GenerativeAnswerer:
    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        settings: Settings,
        detector: GroundednessDetector,
        prompt: PromptBuilder | None = None,
        llm_judge: LLMJudge | None = None,
    ) -> None:
        self._retriever = retriever
        self._generator = generator
        self._settings = settings
        self._detector = detector
        self.prompt = prompt or PromptBuilder()
        self._llm_judge = llm_judge
        self._echo = EchoGuard(self.prompt.system_prompt, self.prompt.canary)

    @property
    def name(self) -> str:
        return self._generator.model_id

    def ask(self, tenant_id: UUID, collection_ids: Sequence[UUID], question: str) -> Answer:
        return final(self.stream(tenant_id, collection_ids, question, incremental=False))

    def stream(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], question: str, *, incremental: bool = True
    ) -> Iterator[AnswerEvent]:
        s = self._settings
        passages = Passages(
            self._retriever.search(tenant_id, collection_ids, question, limit=s.answer_passages)
        )
        if not passages.hits:
            yield Started(())
            yield Finished(self._abstain(question, passages, "no_supporting_passage"))
            return
        messages = self.prompt.messages(question, passages.hits)
        # Opened before Started: a model that is down fails the request, not the stream. With the
        # LLM judge the answer is read whole first: the judge is the same model, and a local one
        # has a single context, which can't judge a sentence while it is still writing the next.
        if incremental and self._llm_judge is None:
            texts = self._generator.stream(messages)
        else:
            texts = TextStream(iter([self._generator.complete(messages)]))
        yield Started(tuple(passages.hits))
        judge = Judge(self._detector, passages.hits, self._llm_judge)
        sentences: list[AnswerSentence] = []
        abstained = False
        buffer = SentenceBuffer()
        try:
            for delta in itertools.chain(texts, [None]):  # None: the text has ended
                for raw in buffer.feed(delta) if delta is not None else buffer.flush():
                    if _DONT_KNOW.match(raw):
                        abstained = True
                        continue
                    sentence = self._checked(raw, passages, judge)
                    if sentence is None:
                        continue
                    if kept(sentence, s.unsupported):
                        yield Token(sentence.text if not sentences else " " + sentence.text)
                    sentences.append(sentence)
        finally:
            texts.close()
        if not sentences:
            reason = "no_supporting_passage" if abstained else "no_answer_text"
            yield Finished(self._abstain(question, passages, reason))
            return
        answer = Answer(
            question,
            True,
            " ".join(x.text for x in sentences),
            tuple(sentences),
            tuple(passages.hits),
            generator=self.name,
        )
        yield Finished(apply_policy(answer, s.unsupported, DONT_KNOW))

    def _checked(self, raw: str, passages: Passages, judge: Judge) -> AnswerSentence | None:
        """The sentence as shown, cited and judged; ``None`` when nothing of it may be shown."""
        clean = strip_links(raw)
        if self._echo.echoes(clean):
            return None
        text = without_markers(clean)
        if not _WORDY.search(text):
            return None
        if has_links(raw) and len(tokenize(text)) < _MIN_WORDS_AFTER_STRIPPING:
            return None  # the sentence was there to carry a link ("See <link> for details.")
        numbers = cited_numbers(clean)
        if numbers and not any(1 <= n <= len(passages) for n in numbers):
            # It cites only passages that were never given: a source outside this request, which
            # is what a passage saying "cite document [42]" asks for. Nothing here backs it.
            return None
        citations, match = passages.cite(text, numbers)
        if not citations:
            return None
        return judge.judge(AnswerSentence(text=text, citations=citations, score=match))

    def _abstain(self, question: str, passages: Passages, reason: str) -> Answer:
        return Answer(
            question, False, DONT_KNOW, (), tuple(passages.hits[:3]), reason=reason, generator=self.name
        )
