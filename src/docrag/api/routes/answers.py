from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from docrag.api.deps import AdminDep, PrincipalDep, RuntimeDep
from docrag.api.documented import WITH_BODY, errors
from docrag.api.schemas import FeedbackIn, FeedbackOut, FeedbackSummaryOut, StoredAnswerOut
from docrag.domain.records import RATINGS, Rating
from docrag.errors import InvalidRating

router = APIRouter(prefix="/v1", tags=["answers"])


@router.get("/answers/{answer_id}", responses=errors(404))
def get_answer(answer_id: UUID, runtime: RuntimeDep, caller: PrincipalDep) -> StoredAnswerOut:
    """An answer as it was given."""
    return StoredAnswerOut.model_validate(runtime.answers.get(caller.tenant_id, answer_id))


@router.post("/answers/{answer_id}/feedback", status_code=201, responses={**WITH_BODY, **errors(404)})
def rate_answer(answer_id: UUID, body: FeedbackIn, runtime: RuntimeDep, caller: PrincipalDep) -> FeedbackOut:
    """Rate an answer up or down (again: replaces this key's or user's rating), with an optional comment."""
    if body.rating not in RATINGS:
        raise InvalidRating(f"rating must be one of {', '.join(RATINGS)}, not {body.rating!r}")
    rating: Rating = "up" if body.rating == "up" else "down"
    feedback = runtime.answers.rate(
        caller.tenant_id, answer_id, caller.key_id, rating, body.comment, user_id=caller.user_id
    )
    return FeedbackOut.model_validate(feedback)


@router.get("/feedback/summary")
def feedback_summary(runtime: RuntimeDep, caller: AdminDep) -> FeedbackSummaryOut:
    """Answers given and how they were rated, for this tenant (admin keys only)."""
    return FeedbackSummaryOut.model_validate(runtime.answers.summary(caller.tenant_id))
