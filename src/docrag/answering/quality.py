"""Answer quality as metrics: answered vs abstained, the unsupported share, citation coverage."""

from __future__ import annotations

from docrag.domain import Answer
from docrag.instruments import answers, citation_coverage, unsupported_share


def observe_answer(answer: Answer) -> None:
    answers().labels("answered" if answer.answered else "abstained").inc()
    if not answer.answered or not answer.sentences:
        return
    sentences = answer.sentences
    citation_coverage().observe(sum(1 for s in sentences if s.citations) / len(sentences))
    # Only sentences the groundedness check judged count; without verdicts there is no share.
    judged = [s.supported for s in sentences if s.supported is not None]
    if judged:
        unsupported_share().observe(sum(1 for ok in judged if not ok) / len(judged))
