"""MFA over the real HTTP server (issue 14 point 3, docs/auth.md): enrollment with a QR code and
recovery codes, verification, login asking for a code, a replayed code refused, each recovery
code working once, and a tenant that requires MFA of its admins."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import httpx
import pyotp
import pytest

from docrag.services import Runtime, new_api_key
from users_factory import bearer, code, login, make_user, tokens


def _enroll(anon: httpx.Client, access: str) -> dict[str, Any]:
    response = anon.post("/v1/auth/mfa/enroll", headers=bearer(access))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _code(secret: str, steps_ahead: int = 0, at: float | None = None) -> str:
    """The code of the step ``steps_ahead`` of ``at`` (default now)."""
    return pyotp.TOTP(secret).at((time.time() if at is None else at) + 30 * steps_ahead)


def test_enroll_verify_then_login_needs_a_code_once_only(anon: httpx.Client, runtime: Runtime) -> None:
    user = make_user(runtime)
    access = tokens(anon, user.email)["access_token"]
    enrollment = _enroll(anon, access)
    uri = urlparse(enrollment["otpauth_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert parse_qs(uri.query)["secret"] == [enrollment["secret"]] and user.email in unquote(uri.path)
    svg = ET.fromstring(enrollment["qr_svg"])
    assert svg.tag.endswith("svg") and "script" not in enrollment["qr_svg"]
    recovery = enrollment["recovery_codes"]
    assert len(recovery) == 10 == len(set(recovery))
    # Not on until a code confirms it: login still needs no code.
    assert login(anon, user.email).status_code == 200
    wrong = anon.post("/v1/auth/mfa/verify", json={"code": "000000"}, headers=bearer(access))
    assert wrong.status_code == 422, wrong.text
    secret, t0 = enrollment["secret"], time.time()  # codes are of t0's step and those around it
    verified = anon.post("/v1/auth/mfa/verify", json={"code": _code(secret, at=t0)}, headers=bearer(access))
    assert verified.status_code == 200 and verified.json()["mfa_enabled"] is True, verified.text
    again = anon.post("/v1/auth/mfa/enroll", headers=bearer(access))
    assert again.status_code == 409 and code(again) == "mfa_already_enabled"

    asked = login(anon, user.email)
    assert asked.status_code == 401 and code(asked) == "mfa_required"
    # The code that confirmed the enrollment is spent: a replay within its 30 s is refused.
    replay = login(anon, user.email, totp=_code(secret, at=t0))
    assert replay.status_code == 401 and code(replay) == "invalid_mfa_code"
    assert "already used" in replay.json()["error"]["message"]
    # The next step's code (within the drift allowed) works once, then it too is spent.
    following = _code(secret, 1, at=t0)
    session = login(anon, user.email, totp=following)
    assert session.status_code == 200, session.text
    listed = anon.get("/v1/auth/sessions", headers=bearer(session.json()["access_token"])).json()
    assert [s["mfa"] for s in listed if s["current"]] == [True]
    assert code(login(anon, user.email, totp=following)) == "invalid_mfa_code"
    # A code of a step since passed is no better.
    assert code(login(anon, user.email, totp=_code(secret, -1, at=t0))) == "invalid_mfa_code"
    # A wrong password with a right code: still the plain answer.
    wrong_password = login(anon, user.email, "a wrong password!", totp=_code(secret, 1, at=t0))
    assert code(wrong_password) == "invalid_credentials"


def test_each_recovery_code_works_once(anon: httpx.Client, runtime: Runtime) -> None:
    user = make_user(runtime)
    access = tokens(anon, user.email)["access_token"]
    enrollment = _enroll(anon, access)
    anon.post("/v1/auth/mfa/verify", json={"code": _code(enrollment["secret"])}, headers=bearer(access))
    first, second = enrollment["recovery_codes"][:2]
    assert login(anon, user.email, totp=first.upper().replace("-", " ")).status_code == 200
    spent = login(anon, user.email, totp=first)
    assert spent.status_code == 401 and code(spent) == "invalid_mfa_code"
    assert login(anon, user.email, totp="aaaa-bbbb-cccc-dddd").status_code == 401
    assert login(anon, user.email, totp=second).status_code == 200
    # Another user's codes are not this one's.
    other = make_user(runtime)
    other_access = tokens(anon, other.email)["access_token"]
    theirs = _enroll(anon, other_access)
    anon.post("/v1/auth/mfa/verify", json={"code": _code(theirs["secret"])}, headers=bearer(other_access))
    assert login(anon, user.email, totp=theirs["recovery_codes"][0]).status_code == 401


def test_verify_needs_an_enrollment_and_an_access_token(
    anon: httpx.Client, client: httpx.Client, runtime: Runtime
) -> None:
    access = tokens(anon, make_user(runtime).email)["access_token"]
    early = anon.post("/v1/auth/mfa/verify", json={"code": "123456"}, headers=bearer(access))
    assert early.status_code == 422 and "enroll" in early.json()["error"]["message"]
    assert client.post("/v1/auth/mfa/enroll").status_code == 403  # an API key has no user


@pytest.fixture(scope="module")
def strict_tenant(runtime: Runtime) -> tuple[str, str]:
    """A tenant (its name, and an admin API key of it) for the MFA rule."""
    name = "mfa-strict"
    key = new_api_key()
    runtime.store.add_api_key(runtime.store.ensure_tenant(name), "mfa admin key", key, "admin")
    return name, key


def test_a_tenant_can_require_mfa_of_its_admins(
    anon: httpx.Client, runtime: Runtime, strict_tenant: tuple[str, str]
) -> None:
    tenant, key = strict_tenant
    admin = make_user(runtime, "admin", tenant=tenant)
    reader = make_user(runtime, "reader", tenant=tenant)
    admin_access = tokens(anon, admin.email, tenant=tenant)["access_token"]
    reader_access = tokens(anon, reader.email, tenant=tenant)["access_token"]
    assert anon.get("/v1/tenant/settings", headers=bearer(key)).json() == {"mfa_required_for_admins": False}
    turned_on = anon.put("/v1/tenant/settings", json={"mfa_required_for_admins": True}, headers=bearer(key))
    assert turned_on.status_code == 200 and turned_on.json()["mfa_required_for_admins"] is True

    # From the admin's next request on (the token it already has included): only enrollment.
    refused = anon.get("/v1/collections", headers=bearer(admin_access))
    assert refused.status_code == 403 and code(refused) == "mfa_enrollment_required", refused.text
    assert "enroll" in refused.json()["error"]["message"]
    fresh = tokens(anon, admin.email, tenant=tenant)["access_token"]  # login itself still works
    assert code(anon.get("/v1/users", headers=bearer(fresh))) == "mfa_enrollment_required"
    assert anon.get("/v1/users/me", headers=bearer(fresh)).status_code == 200
    # Readers, editors and API keys are not bound by it.
    assert anon.get("/v1/collections", headers=bearer(reader_access)).status_code == 200
    assert anon.get("/v1/collections", headers=bearer(key)).status_code == 200

    enrollment = _enroll(anon, admin_access)
    t0 = time.time()
    verify = {"code": _code(enrollment["secret"], at=t0)}
    assert anon.post("/v1/auth/mfa/verify", json=verify, headers=bearer(admin_access)).status_code == 200
    assert anon.get("/v1/collections", headers=bearer(admin_access)).status_code == 200
    later = tokens(anon, admin.email, tenant=tenant, totp=_code(enrollment["secret"], 1, at=t0))
    assert anon.get("/v1/users", headers=bearer(later["access_token"])).status_code == 200
    anon.put("/v1/tenant/settings", json={"mfa_required_for_admins": False}, headers=bearer(key))
