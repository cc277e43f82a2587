"""Groundedness on every answer: each sentence is scored by the shipped detector against the
passages it cites, and ``DOCRAG_UNSUPPORTED`` decides what an unsupported sentence costs.

flag: kept, marked unsupported. remove: dropped. refuse: the whole answer becomes "I don't
know" (reason ``unsupported_answer``). Evidence is analysed once per set of cited chunks, so
two sentences citing the same passage pay for it once.

With an LLM judge (``DOCRAG_GROUNDEDNESS_JUDGE=llm``, ``llm_judge.py``), a sentence the detector
finds supported is also put to the model; when the model says unsupported, the sentence is
unsupported and its support is capped as a detector red flag caps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from docrag import tracing
from docrag.domain import Answer, AnswerSentence, Hit
from docrag.groundedness.detector import VETO_CAP, GroundednessDetector, PreparedEvidence
from docrag.groundedness.judge import LLMJudge

Policy = Literal["flag", "remove", "refuse"]
UNSUPPORTED_REASON = "unsupported_answer"


class Judge:
    """Scores the sentences of one answer (make one per answer: it caches that answer's evidence)."""

    def __init__(
        self, detector: GroundednessDetector, hits: Sequence[Hit], llm: LLMJudge | None = None
    ) -> None:
        self._detector = detector
        self._llm = llm
        self._bodies = {h.chunk_id: h.body for h in hits}
        self._prepared: dict[tuple[int, ...], PreparedEvidence] = {}

    def judge(self, sentence: AnswerSentence) -> AnswerSentence:
        """The sentence with its support and verdict (a ``judge`` span while tracing)."""
        with tracing.span(
            "judge", {"docrag.citations": len(sentence.citations)} if tracing.enabled() else None
        ):
            judged = self._judge(sentence)
            tracing.annotate({"docrag.supported": bool(judged.supported)})
            return judged

    def _judge(self, sentence: AnswerSentence) -> AnswerSentence:
        if self._verbatim(sentence):
            # The sentence is the stored text it cites, word for word (every extractive answer
            # sentence is): supported by construction, and no model pass is needed to say so.
            return replace(sentence, support=1.0, supported=True)
        key = tuple(sorted({c.chunk_id for c in sentence.citations}))
        evidence = self._prepared.get(key)
        if evidence is None:
            evidence = self._detector.prepare([self._bodies[k] for k in key if k in self._bodies])
            self._prepared[key] = evidence
        verdict = self._detector.score(sentence.text, evidence)
        support, supported = verdict.score, verdict.supported
        if supported and self._llm is not None:
            passages = [self._bodies[k] for k in key if k in self._bodies]
            if self._llm.supports(sentence.text, passages) is False:
                support, supported = min(support, VETO_CAP), False
        return replace(sentence, support=round(support, 4), supported=supported)

    def _verbatim(self, sentence: AnswerSentence) -> bool:
        text = " ".join(sentence.text.split())
        return any(
            text == " ".join(c.quote.split()) and c.quote in self._bodies.get(c.chunk_id, "")
            for c in sentence.citations
        )


def kept(sentence: AnswerSentence, policy: Policy) -> bool:
    """Whether a judged sentence stays in the answer (and is streamed)."""
    return policy != "remove" or sentence.supported is not False


def apply_policy(answer: Answer, policy: Policy, dont_know: str) -> Answer:
    """The answer under ``policy``, its sentences already judged."""
    if not answer.answered:
        return answer
    unsupported = [s for s in answer.sentences if s.supported is False]
    if policy == "flag" or not unsupported:
        return answer
    if policy == "refuse":
        return replace(answer, answered=False, text=dont_know, sentences=(), reason=UNSUPPORTED_REASON)
    sentences = tuple(s for s in answer.sentences if s.supported is not False)
    if not sentences:
        return replace(answer, answered=False, text=dont_know, sentences=(), reason=UNSUPPORTED_REASON)
    return replace(answer, sentences=sentences, text=" ".join(s.text for s in sentences))
