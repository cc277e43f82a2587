"""Extractive answers: the retrieved sentences that best answer the question, each cited.

Every candidate sentence comes from a chunk retrieved for this request in the caller's
tenant; its quote is the exact stored text at its offsets, so every citation is verifiable.
A sentence's score blends its meaning match (its late-chunked vector against the question's)
with the share of the question's terms it contains, counted half in the sentence alone and
half in the sentence with the one before it (an answer sentence often names its subject only
by "she" or "it"). A sentence that cannot hold the kind of answer asked for (a date for
"when", a number for "how many", a name for "who") loses a fixed amount. A sentence that
follows a better one in its passage takes a share of the difference: the sentence that
restates the question is often followed by the one that answers it ("... was plagued with
problems. First the crew noticed a strange odor"). Words a follow-up borrowed from the
previous turn as context steer retrieval only, not this choice. When the best score is under
the abstention threshold, the answer says it does not know and shows the closest passages.

A sentence can score well and still not answer: it is about the question's subject, but holds
none of what is asked. The answerability model (``answering/answerability.py``, weights shipped
in ``answering/assets/``) gives the probability that the best sentence answers; under
``DOCRAG_ANSWERABILITY_THRESHOLD`` the answer abstains with reason ``on_topic_not_answered``,
and the closest passages stay in it.

With a groundedness detector, each chosen sentence also gets its support verdict against the
passage it quotes, and ``DOCRAG_UNSUPPORTED`` applies as for generated answers. Streamed, the
answer's sentences are its tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from uuid import UUID

import numpy as np

from docrag.answering import answerability
from docrag.answering.answer_type import can_hold, expected
from docrag.answering.events import AnswerEvent, Finished, Started, Token, final
from docrag.answering.rewrite import without_context
from docrag.domain import Answer, AnswerSentence, Citation, Hit, Sentence
from docrag.groundedness.detector import GroundednessDetector
from docrag.groundedness.verdicts import Judge, apply_policy, kept
from docrag.retrieval.hybrid import Retriever
from docrag.settings import Settings
from docrag.text.bm25 import tokenize

DONT_KNOW = "I don't know: the documents I can search don't answer this question."
NOT_ANSWERED = (
    "I don't know: the closest passages are about this subject, but none of them answers this question."
)

#: Weights of a sentence's score: meaning match, question-term overlap, the share of that
#: overlap counted with the previous sentence as context, the cost of each retrieval rank
#: below the first, the cost of not holding the kind of answer asked for, and the share of the
#: previous sentence's lead that a sentence takes.
MEANING_WEIGHT = 0.6
OVERLAP_WEIGHT = 0.4
CONTEXT_SHARE = 0.5
RANK_COST = 0.01
WRONG_KIND_COST = 0.1
FOLLOW_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class _Candidate:
    hit: Hit
    rank: int
    start: int
    end: int
    score: float
    page: int | None


@dataclass(frozen=True, slots=True)
class Assessment:
    """The candidate sentences of one question, and how likely the best one answers it."""

    hits: tuple[Hit, ...]
    candidates: list[_Candidate]
    best: float  # the best sentence's score (0 when there is none)
    features: np.ndarray | None  # answerability features of the best sentence
    probability: float  # that the best sentence answers (0 when there is none)


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        retriever: Retriever,
        settings: Settings,
        detector: GroundednessDetector | None = None,
    ) -> None:
        self._retriever = retriever
        self._settings = settings
        self._detector = detector
        self._answerability = answerability.load_model()

    def ask(self, tenant_id: UUID, collection_ids: Sequence[UUID], question: str) -> Answer:
        return final(self.stream(tenant_id, collection_ids, question, incremental=False))

    def stream(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], question: str, *, incremental: bool = True
    ) -> Iterator[AnswerEvent]:
        answer = self._answer(tenant_id, collection_ids, question)
        if self._detector is not None and answer.answered:
            judge = Judge(self._detector, answer.passages)
            judged = tuple(judge.judge(sentence) for sentence in answer.sentences)
            answer = apply_policy(replace(answer, sentences=judged), self._settings.unsupported, DONT_KNOW)
        yield Started(answer.passages)
        if answer.answered:
            for i, sentence in enumerate(answer.sentences):
                if kept(sentence, self._settings.unsupported):
                    yield Token(sentence.text if i == 0 else " " + sentence.text)
        yield Finished(answer)

    def assess(self, tenant_id: UUID, collection_ids: Sequence[UUID], question: str) -> Assessment:
        """Retrieval, the scored candidate sentences and the answerability of the best one."""
        s = self._settings
        retrieval = self._retriever.retrieve(
            tenant_id, collection_ids, question, limit=s.answer_passages, with_vectors=True
        )
        hits = tuple(retrieval.hits)
        candidates = _candidates(hits, retrieval.sentence_vectors, question, retrieval.query_vector)
        if not candidates:
            return Assessment(hits, candidates, 0.0, None, 0.0)
        ranked = sorted(candidates, key=lambda c: -c.score)
        top = ranked[0]
        second = ranked[1].score if len(ranked) > 1 else 0.0
        x = answerability.features(
            without_context(question), _quote(top), top.score, second, top.hit.body, [h.body for h in hits]
        )
        return Assessment(hits, candidates, top.score, x, self._answerability.probability(x))

    def _answer(self, tenant_id: UUID, collection_ids: Sequence[UUID], question: str) -> Answer:
        s = self._settings
        a = self.assess(tenant_id, collection_ids, question)
        hits, candidates = a.hits, a.candidates
        probability = round(a.probability, 4) if a.features is not None else None
        reason = (
            answerability.decide(
                a.best, a.probability, close=s.abstain_threshold, answers=s.answerability_threshold
            )
            if candidates
            else answerability.NO_CLOSE_PASSAGE  # no sentence to answer with
        )
        if reason is not None:
            text = DONT_KNOW if reason == answerability.NO_CLOSE_PASSAGE else NOT_ANSWERED
            return Answer(question, False, text, (), hits[:3], reason=reason, answerability=probability)
        chosen = _pick(candidates, s.answer_sentences)
        sentences = tuple(
            AnswerSentence(
                text=_quote(c),
                score=round(c.score, 4),
                citations=(
                    Citation(
                        document_id=c.hit.document_id,
                        document_title=c.hit.document_title,
                        chunk_id=c.hit.chunk_id,
                        page=c.page,
                        quote=_quote(c),
                        start=c.start,
                        end=c.end,
                        heading_path=c.hit.heading_path,
                        document_version=c.hit.document_version,
                        boxes=c.hit.boxes_in(c.start, c.end),
                    ),
                ),
            )
            for c in chosen
        )
        return Answer(
            question, True, " ".join(x.text for x in sentences), sentences, hits, answerability=probability
        )


def _candidates(
    hits: Sequence[Hit], sentence_vectors: Mapping[int, bytes], question: str, query_vector: np.ndarray
) -> list[_Candidate]:
    """Every stored sentence of the hits, scored; a hit without stored sentences counts as one."""
    asked = without_context(question)
    terms = set(tokenize(asked))
    kind = expected(asked)
    found: list[_Candidate] = []
    for rank, hit in enumerate(hits):
        sentences = hit.sentences or (Sentence(hit.start, hit.end, hit.page_start),)
        vectors = _vectors(sentence_vectors.get(hit.chunk_id), len(sentences), query_vector.shape[0])
        previous: set[str] = set()
        previous_score: float | None = None
        for i, sentence in enumerate(sentences):
            start, end = sentence.start, sentence.end
            text = hit.body[start - hit.start : end - hit.start]
            words = set(tokenize(text))
            meaning = float(vectors[i] @ query_vector) if vectors is not None else 0.0
            overlap = (1 - CONTEXT_SHARE) * _overlap(terms, words) + CONTEXT_SHARE * _overlap(
                terms, words | previous
            )
            score = MEANING_WEIGHT * meaning + OVERLAP_WEIGHT * overlap - RANK_COST * rank
            if not can_hold(kind, text, asked):
                score -= WRONG_KIND_COST
            own = score
            if previous_score is not None and previous_score > own:
                score += FOLLOW_SHARE * (previous_score - own)
            found.append(_Candidate(hit, rank, start, end, score, sentence.page))
            previous, previous_score = words, own
    return found


def _pick(candidates: list[_Candidate], n: int) -> list[_Candidate]:
    """The best ``n`` distinct sentences, kept in score order."""
    chosen: list[_Candidate] = []
    seen: set[str] = set()
    for c in sorted(candidates, key=lambda c: -c.score):
        key = " ".join(_quote(c).lower().split())
        if key in seen or len(key) < 3:
            continue
        seen.add(key)
        chosen.append(c)
        if len(chosen) == n:
            break
    return chosen


def _quote(c: _Candidate) -> str:
    return c.hit.body[c.start - c.hit.start : c.end - c.hit.start]


def _overlap(terms: set[str], words: set[str]) -> float:
    if not terms:
        return 0.0
    return len(terms & words) / len(terms)


def _vectors(blob: bytes | None, count: int, dim: int) -> np.ndarray | None:
    if blob is None:
        return None
    vectors = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    if vectors.size != count * dim:
        return None
    return vectors.reshape(count, dim)
