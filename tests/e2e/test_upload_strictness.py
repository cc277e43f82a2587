"""An upload's `file` must be a file part: a plain form field, a JSON body or no file at all is a
typed 422, on POST (upload) and PUT (new version) alike, and nothing is queued."""

from __future__ import annotations

import uuid

import httpx
import pytest

NOT_A_FILE = [
    pytest.param({"files": {"file": (None, "true")}}, id="file as a multipart field without filename"),
    pytest.param({"files": {"file": (None, b"")}}, id="file as an empty multipart field"),
    pytest.param({"data": {"file": "true"}}, id="file as a urlencoded field"),
    pytest.param({"data": {"file": ""}}, id="file as an empty form field"),
    pytest.param({"json": {"file": True}}, id="JSON body"),
    pytest.param({"data": {"title": "no file"}}, id="no file part"),
]

# One server for the session: the tests use collections of their own.
pytestmark = pytest.mark.shared_server


def _documents(client: httpx.Client) -> int:
    return len(client.get("/v1/collections/default/documents", params={"limit": 1000}).json())


@pytest.mark.parametrize("body", NOT_A_FILE)
def test_an_upload_whose_file_is_not_a_file_is_422(client: httpx.Client, body: dict[str, object]) -> None:
    before = _documents(client)
    response = client.post("/v1/collections/default/documents", **body)  # type: ignore[arg-type]
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert _documents(client) == before


@pytest.mark.parametrize("body", NOT_A_FILE)
def test_a_new_version_whose_file_is_not_a_file_is_422(client: httpx.Client, body: dict[str, object]) -> None:
    text = f"A plain text document about strict uploads {uuid.uuid4()}.".encode()
    uploaded = client.post(
        "/v1/collections/default/documents",
        params={"wait": "true"},
        files={"file": (f"{uuid.uuid4().hex}.txt", text)},
    )
    assert uploaded.status_code == 201, uploaded.text
    document_id = uploaded.json()["id"]
    response = client.put(f"/v1/documents/{document_id}", **body)  # type: ignore[arg-type]
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert client.get(f"/v1/documents/{document_id}").json().get("pending_version") is None
