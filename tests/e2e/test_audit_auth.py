"""The audit log of sign-ins and account changes (issue 14.7 with 14.1-3): a login, a failed login
(no password, no email typed for nobody), MFA enrollment, a user made, changed and its password
changed, and a session ended each leave one event, read back through GET /v1/audit."""

from __future__ import annotations

from typing import Any

import httpx

from docrag.services import Runtime
from users_factory import PASSWORD, bearer, email, login, make_user, tokens


def _events(client: httpx.Client, **query: str) -> list[dict[str, Any]]:
    r = client.get("/v1/audit", params={"limit": "500", **query})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["events"]
    return found


def test_sign_ins_and_account_changes_are_audited(
    runtime: Runtime, base_url: str, client: httpx.Client
) -> None:
    admin = make_user(runtime, "admin", label="audited-admin")
    with httpx.Client(base_url=base_url, timeout=60) as http:
        assert login(http, admin.email, "not the password").status_code == 401
        assert login(http, email("nobody"), "whatever it is").status_code == 401
        session = tokens(http, admin.email)
        me = bearer(session["access_token"])
        made = http.post(
            "/v1/users", json={"email": email("made"), "password": PASSWORD, "role": "reader"}, headers=me
        )
        assert made.status_code == 201, made.text
        user_id = made.json()["id"]
        assert http.patch(f"/v1/users/{user_id}", json={"role": "editor"}, headers=me).status_code == 200
        assert http.post("/v1/auth/mfa/enroll", headers=me).status_code == 200
        changed = http.post(
            "/v1/users/me/password",
            json={"current_password": PASSWORD, "new_password": PASSWORD + " again"},
            headers=me,
        )
        assert changed.status_code == 200, changed.text
        assert http.post("/v1/auth/logout", headers=me).status_code == 204

    events = _events(client)
    actor = f"user:{admin.id}"
    mine = [e for e in events if e["actor"] == actor]
    assert [e["action"] for e in mine if e["action"] == "login.succeeded"] == ["login.succeeded"]
    assert {
        "user.created",
        "user.changed",
        "mfa.enrollment_started",
        "password.changed",
        "session.ended",
    } <= {e["action"] for e in mine}
    failed = [e for e in events if e["action"] == "login.failed"]
    known = [e for e in failed if e["target"] == str(admin.id)]
    assert len(known) == 1 and known[0]["actor"] == "anonymous"
    assert known[0]["detail"] == {"reason": "invalid_credentials", "known_account": True}
    assert any(e["target"] is None and e["detail"]["known_account"] is False for e in failed)
    text = str(events)
    assert "not the password" not in text and PASSWORD not in text and "nobody-" not in text
    assert all(e["source"] for e in mine + known)
