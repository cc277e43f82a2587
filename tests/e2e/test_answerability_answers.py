"""The answerability decision in the extractive answerer: the shipped weights, and the real
answer path over HTTP (bundled embedder, embedded PostgreSQL) abstaining on an on-topic
question its documents do not answer, with the reason and the closest passages."""

from __future__ import annotations

import tomllib

import httpx
import pytest

from api_calls import upload
from docrag.answering.answerability import FEATURES, load_model
from docrag.settings import Settings
from paths import ROOT

LIGHTHOUSE = b"""# The Skerry Light

The Skerry Light is a lighthouse on a rock off the northern coast.
The lighthouse was designed by the engineer Alan Morrow.
Its tower is built of granite blocks and stands forty metres tall.
The lighthouse keepers lived in a cottage at the foot of the tower.
The light was automated and the keepers left the rock for good.
The lighthouse is painted white with a red band near the lantern.
"""
COLLECTION = "answerability"

# One server for the session: the tests use collections of their own.
pytestmark = pytest.mark.shared_server


def test_the_shipped_weights_are_trained_and_their_threshold_is_the_default() -> None:
    model = load_model()
    assert len(model.weights) == len(FEATURES)
    assert any(w != 0 for w in model.weights)
    assert model.provenance["script"] == "scripts/train_answerability.py"
    assert "modulo 4" in model.provenance["split"]
    assert Settings.model_fields["answerability_threshold"].default == model.provenance["threshold"]
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "answering/assets/*" in package_data["docrag"]


def test_an_on_topic_question_the_documents_do_not_answer_is_abstained_on(client: httpx.Client) -> None:
    response = upload(client, COLLECTION, "skerry.md", LIGHTHOUSE)
    assert response.status_code == 201, response.text

    answered = client.post(
        "/v1/ask", json={"question": "Who designed the Skerry Light lighthouse?", "collections": [COLLECTION]}
    ).json()
    assert answered["answered"] is True, answered
    assert "Alan Morrow" in answered["sentences"][0]["text"]
    assert answered["answerability"] >= Settings().answerability_threshold

    # On the subject (the lighthouse, its tower), but no passage says anything of its visitors.
    body = client.post(
        "/v1/ask",
        json={
            "question": "How many visitors does the Skerry Light lighthouse receive each year?",
            "collections": [COLLECTION],
        },
    ).json()
    assert body["answered"] is False, body
    assert body["reason"] == "on_topic_not_answered"
    assert "none of them answers" in body["answer"]
    assert body["sentences"] == []
    assert body["passages"] and "Skerry Light" in body["passages"][0]["text"]
    assert body["answerability"] < Settings().answerability_threshold
    web = (ROOT / "src/docrag/web/answer.js").read_text()  # the page's module that shows answers
    assert "on_topic_not_answered" in web
