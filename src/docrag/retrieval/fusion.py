"""Fusing ranked lists: reciprocal rank fusion and weighted min-max score fusion."""

from __future__ import annotations

from collections.abc import Sequence

Ranked = Sequence[tuple[int, float]]


def rrf(lists: Sequence[Ranked], *, k: int = 60) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the lists an item appears in."""
    scores: dict[int, float] = {}
    for ranked in lists:
        for rank, (item, _) in enumerate(ranked, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda p: -p[1])


def minmax(
    lists: Sequence[Ranked], weights: Sequence[float], *, depth: int | None = None
) -> list[tuple[int, float]]:
    """Weighted sum of scores scaled to [0, 1] within each list; absent items score 0 there.

    The scale is fixed by each list's best ``depth`` scores (all when None), and lower scores
    clip at 0, so asking for more results never changes how the top ones are ranked.
    """
    scores: dict[int, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        if not ranked:
            continue
        values = [s for _, s in ranked[:depth]]
        low, high = min(values), max(values)
        span = high - low
        for item, score in ranked:
            scaled = max(0.0, (score - low) / span) if span > 0 else 1.0
            scores[item] = scores.get(item, 0.0) + weight * scaled
    return sorted(scores.items(), key=lambda p: -p[1])
