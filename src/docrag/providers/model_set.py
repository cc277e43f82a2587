"""The embedding models one server serves: a collection is always embedded (its uploads and the
queries searching it) by the model that built its vectors.

New collections get the ``primary`` model. A configured model may come with siblings: other
ways of computing the same weights (the bundled MiniLM's float32 and int8 products), which
record other model ids. A collection a sibling indexed, under an earlier default or another
setting, keeps being served by that sibling, loaded the first time such a collection is used,
so a deploy that changes the default never strands the collections the release before it
indexed; ``docrag reindex`` moves a collection to the primary. Any other model's collection is
refused (409 ``embedding_model_mismatch``): a vector of another model means nothing against its
vectors, and one collection never mixes models.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from docrag.errors import Conflict
from docrag.providers.protocol import Embedder, close_model


class ModelSet:
    def __init__(
        self,
        primary: Embedder,
        siblings: Mapping[str, Callable[[], Embedder]] | None = None,
        *,
        settings_for: Mapping[str, str] | None = None,
    ) -> None:
        """``siblings``: model id -> how to build its embedder (called once, on first use).
        ``settings_for``: model id -> the DOCRAG_EMBEDDER value that serves it (for refusals)."""
        self.primary = primary
        self._factories = dict(siblings or {})
        self._factories.pop(primary.model_id, None)
        self._settings_for = dict(settings_for or {})
        self._built: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    @property
    def served(self) -> frozenset[str]:
        """Every model id this set embeds with."""
        return frozenset({self.primary.model_id, *self._factories})

    def loaded(self) -> list[Embedder]:
        """The primary and the siblings built so far."""
        with self._lock:
            return [self.primary, *self._built.values()]

    def for_model(self, model: str, dim: int, collection: str) -> Embedder:
        """The embedder for a collection whose vectors ``model`` built (``dim`` dimensions).

        :raises Conflict: (409 ``embedding_model_mismatch``) when no model of this set built them."""
        primary = self.primary
        if model == primary.model_id and dim == primary.dim:
            return primary
        if model in self._factories and (sibling := self._sibling(model)).dim == dim:
            return sibling
        setting = self._settings_for.get(model)
        how = f"DOCRAG_EMBEDDER={setting}" if setting else "DOCRAG_EMBEDDER"
        raise Conflict(
            f"collection {collection} holds vectors of {model} ({dim} dimensions); this server embeds"
            f" with {primary.model_id}: configure that model ({how}), re-embed the collection with"
            " this one (docrag reindex) or use another collection",
            code="embedding_model_mismatch",
        )

    def mapped(self, wrap: Callable[[Embedder], Embedder]) -> ModelSet:
        """The same models, each wrapped (the query path's batching): a sibling is built and
        wrapped on first use."""
        siblings = {model: (lambda model=model: wrap(self._sibling(model))) for model in self._factories}
        return ModelSet(wrap(self.primary), siblings, settings_for=self._settings_for)

    def close(self) -> None:
        """Release what the siblings built so far hold (the primary is its owner's to close)."""
        with self._lock:
            built, self._built = list(self._built.values()), {}
        for embedder in built:
            close_model(embedder)

    def _sibling(self, model: str) -> Embedder:
        with self._lock:
            embedder = self._built.get(model)
            if embedder is None:
                embedder = self._built[model] = self._factories[model]()
            return embedder


def as_models(models: Embedder | ModelSet) -> ModelSet:
    """``models`` as a set: a lone embedder serves only its own model's collections."""
    return models if isinstance(models, ModelSet) else ModelSet(models)
