"""Removing a user, and erasing what they created (issue 21.3): ``DELETE /v1/users/{id}?erase=true``.

A user's email, questions, conversation title and feedback comment each hold a canary; after the
erasure no table (read as the owner, past row security) holds any of them, their tokens and
password stop working, another user's data stays, and the audit log says it happened with counts
only. Without ``erase`` the account's personal data goes and what the user created stays.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import httpx

from api_calls import upload
from docrag.services import Runtime
from erasure_checks import rows_holding
from users_factory import PASSWORD, bearer, login, make_user, tokens

DOC = b"# Ferry timetable\n\nThe island ferry leaves the harbour at seven every morning.\n"


def canary(kind: str) -> str:
    return f"{kind}canary{uuid.uuid4().hex[:10]}"


def _act(http: httpx.Client, token: str, marks: dict[str, str]) -> None:
    """As a signed-in user: a conversation, a question in it, feedback with a comment."""
    me = bearer(token)
    conversation = http.post("/v1/conversations", json={"title": f"trip {marks['title']}"}, headers=me)
    assert conversation.status_code == 201, conversation.text
    asked = http.post(
        "/v1/ask",
        json={
            "question": f"When does the island ferry leave ({marks['question']})?",
            "collections": ["ferries"],
            "conversation_id": conversation.json()["id"],
        },
        headers=me,
    )
    assert asked.status_code == 200, asked.text
    rated = http.post(
        f"/v1/answers/{asked.json()['answer_id']}/feedback",
        json={"rating": "up", "comment": f"helpful {marks['comment']}"},
        headers=me,
    )
    assert rated.status_code == 201, rated.text


def _user(runtime: Runtime, http: httpx.Client, label: str) -> tuple[Any, str, dict[str, str]]:
    marks = {k: canary(k) for k in ("question", "title", "comment")}
    user = make_user(runtime, "reader", label=f"{label}{canary('email')}")
    token = str(tokens(http, user.email)["access_token"])
    _act(http, token, marks)
    return user, token, marks | {"email": user.email}


def test_a_removed_and_erased_user_leaves_no_trace_and_others_keep_theirs(
    runtime: Runtime, base_url: str, client: httpx.Client, database_url: str
) -> None:
    assert client.post("/v1/collections", json={"name": "ferries"}).status_code == 201
    assert upload(client, "ferries", "ferry.md", DOC).status_code == 201
    with httpx.Client(base_url=base_url, timeout=120) as http:
        gone, gone_token, gone_marks = _user(runtime, http, "gone")
        kept, _, kept_marks = _user(runtime, http, "kept")
        for mark in [*gone_marks.values(), *kept_marks.values()]:
            assert rows_holding(database_url, mark), f"precondition: {mark} is stored"

        # The user's own export: their account, session, question, conversation and comment.
        exported = client.get("/v1/export", params={"actor": str(gone.id)})
        assert exported.status_code == 200, exported.text
        with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
            text = " ".join(archive.read(n).decode() for n in archive.namelist())
        for mark in gone_marks.values():
            assert mark in text, mark
        assert not any(mark in text for mark in kept_marks.values())
        assert "password" not in text and "totp_secret" not in text

        removed = client.delete(f"/v1/users/{gone.id}", params={"erase": "true"})
        assert removed.status_code == 200, removed.text
        assert removed.json()["erased"] == {"conversations": 1, "answers": 1, "feedback": 1}

        for mark in gone_marks.values():
            assert rows_holding(database_url, mark) == {}, mark
        for mark in kept_marks.values():
            assert rows_holding(database_url, mark), mark
        assert http.get("/v1/users/me", headers=bearer(gone_token)).status_code == 401
        assert login(http, gone_marks["email"]).status_code == 401
        # The other user is still answered, from the documents.
        assert tokens(http, kept.email)["access_token"]

        # Removed without erase: the account's personal data goes, what it created stays.
        plain = client.delete(f"/v1/users/{kept.id}")
        assert plain.status_code == 200 and plain.json()["erased"] == {}
        assert rows_holding(database_url, kept_marks["email"]) == {}
        assert rows_holding(database_url, kept_marks["question"])
        assert login(http, kept_marks["email"], PASSWORD).status_code == 401

    events = client.get("/v1/audit", params={"action": "user.removed"}).json()["events"]
    assert {e["target"] for e in events} >= {str(gone.id), str(kept.id)}
    assert not any(m in str(events) for m in [*gone_marks.values(), *kept_marks.values()])


def test_an_admin_cannot_remove_themselves_nor_another_tenants_user(
    runtime: Runtime, base_url: str, client: httpx.Client
) -> None:
    admin = make_user(runtime, "admin", label="self")
    stranger = make_user(runtime, "reader", label="stranger", tenant="other-tenant")
    with httpx.Client(base_url=base_url, timeout=60) as http:
        me = bearer(str(tokens(http, admin.email)["access_token"]))
        own = http.delete(f"/v1/users/{admin.id}", headers=me)
        assert own.status_code == 409 and own.json()["error"]["code"] == "own_account"
    other = client.delete(f"/v1/users/{stranger.id}", params={"erase": "true"})
    assert other.status_code == 404 and other.json()["error"]["code"] == "user_not_found"
    assert (
        runtime.identity.users.get(runtime.store.ensure_tenant("other-tenant"), stranger.id).email
        == stranger.email
    )
