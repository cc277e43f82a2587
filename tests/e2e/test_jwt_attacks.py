"""Forged and stale access tokens over the real HTTP server (issue 14, "JWT attacks"): each is
refused 401, and a token signed by a rotated-out key works while that key is listed and not
after (docs/auth.md, "Key rotation")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from docrag.api.app import create_app
from docrag.api.auth import AccessTokenAuthenticator, ApiKeyAuthenticator, Authenticator, ChainAuthenticator
from docrag.identity.service import Identity
from docrag.identity.tokens import KeyRing, key_id, new_private_pem, public_pem
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.sessions import SessionStore
from docrag.store.users import UserStore
from users_factory import bearer, code, make_user, tokens


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jwt") / "signing.pem"
    path.write_bytes(new_private_pem())
    return path


@pytest.fixture(scope="module")
def settings(settings: Settings, key_file: Path) -> Settings:
    return settings.model_copy(update={"jwt_signing_key": None, "jwt_signing_key_file": key_file})


@pytest.fixture(scope="module")
def private(key_file: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


@pytest.fixture(scope="module")
def session(anon: httpx.Client, runtime: Runtime) -> dict[str, Any]:
    """A live session, and its token's claims."""
    user = make_user(runtime, "reader")
    found = tokens(anon, user.email)
    found["claims"] = jwt.decode(found["access_token"], options={"verify_signature": False})
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def _signed(key: Ed25519PrivateKey, claims: dict[str, Any], kid: str | None = None) -> str:
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid or key_id(key.public_key())})


def _refused(anon: httpx.Client, token: str, expected: str = "unauthenticated") -> httpx.Response:
    response = anon.get("/v1/collections", headers=bearer(token))
    assert response.status_code == 401, (token, response.text)
    assert code(response) == expected, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    return response


def test_the_genuine_token_works(anon: httpx.Client, session: dict[str, Any]) -> None:
    assert anon.get("/v1/collections", headers=bearer(session["access_token"])).status_code == 200
    header = jwt.get_unverified_header(session["access_token"])
    assert header["alg"] == "EdDSA" and header["kid"]
    assert {"iss", "aud", "sub", "tid", "sid", "exp", "iat", "nbf", "jti"} <= set(session["claims"])


def test_alg_none_is_refused(anon: httpx.Client, session: dict[str, Any], private: Ed25519PrivateKey) -> None:
    kid = key_id(private.public_key())
    for alg in ("none", "None", "NONE"):
        _refused(anon, _unsigned({"alg": alg, "typ": "JWT", "kid": kid}, session["claims"]) + ".")
    _refused(anon, jwt.encode(session["claims"], None, algorithm="none"))


def test_hs256_signed_with_the_public_key_is_refused(
    anon: httpx.Client, session: dict[str, Any], private: Ed25519PrivateKey
) -> None:
    """The classic confusion: a verifier that lets the token pick its algorithm would check an
    HMAC keyed with the (public) verification key."""
    public = private.public_key()
    kid = key_id(public)
    for secret in (
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    ):
        body = _unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, session["claims"])
        mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()
        _refused(anon, body + "." + _b64(mac))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"exp": -60, "iat": -1000, "nbf": -1000}, "token_expired", id="expired"),
        pytest.param({"nbf": 3600, "iat": 0}, "unauthenticated", id="not yet valid"),
        pytest.param({"iat": 3600, "nbf": 0}, "unauthenticated", id="issued in the future"),
        pytest.param({"aud": "some-other-api"}, "unauthenticated", id="wrong audience"),
        pytest.param({"iss": "https://evil.example"}, "unauthenticated", id="wrong issuer"),
        pytest.param({"sid": None}, "unauthenticated", id="no session claim"),
        pytest.param({"exp": None}, "unauthenticated", id="no expiry"),
        pytest.param({"tid": "not-a-uuid"}, "unauthenticated", id="malformed tenant"),
    ],
)
def test_a_properly_signed_token_with_bad_claims_is_refused(
    anon: httpx.Client,
    session: dict[str, Any],
    private: Ed25519PrivateKey,
    change: dict[str, Any],
    expected: str,
) -> None:
    now = int(time.time())
    claims = dict(session["claims"])
    for name, value in change.items():
        if value is None:
            claims.pop(name)
        elif name in ("exp", "nbf", "iat"):
            claims[name] = now + value
        else:
            claims[name] = value
    _refused(anon, _signed(private, claims), expected)


def test_a_tampered_payload_is_refused(anon: httpx.Client, runtime: Runtime, session: dict[str, Any]) -> None:
    """Another user's id (an admin's) in the signed token's payload: the signature no longer fits."""
    admin = make_user(runtime, "admin")
    header, _, signature = session["access_token"].split(".")
    claims = {**session["claims"], "sub": str(admin.id), "exp": session["claims"]["exp"] + 86400}
    payload = _b64(json.dumps(claims).encode())
    _refused(anon, f"{header}.{payload}.{signature}")
    _refused(anon, f"{header}.{session['access_token'].split('.')[1]}.{_b64(b'x' * 64)}")


def test_an_unknown_key_id_or_a_foreign_key_is_refused(
    anon: httpx.Client, session: dict[str, Any], private: Ed25519PrivateKey
) -> None:
    stranger = Ed25519PrivateKey.generate()
    _refused(anon, _signed(stranger, session["claims"]))  # its own kid: not one of the server's
    _refused(anon, _signed(stranger, session["claims"], kid=key_id(private.public_key())))  # bad signature
    for header in ({"alg": "EdDSA"}, {"alg": "EdDSA", "kid": 7}, {"alg": "EdDSA", "kid": "../../etc/passwd"}):
        body = _unsigned(header, session["claims"])
        _refused(anon, body + "." + _b64(private.sign(body.encode())))
    _refused(anon, "not.a.jwt")


def test_a_token_of_a_revoked_session_is_refused(anon: httpx.Client, runtime: Runtime) -> None:
    access = tokens(anon, make_user(runtime).email)["access_token"]
    assert anon.post("/v1/auth/logout", headers=bearer(access)).status_code == 204
    _refused(anon, access)


def test_an_unknown_session_is_refused(
    anon: httpx.Client, session: dict[str, Any], private: Ed25519PrivateKey
) -> None:
    claims = {**session["claims"], "sid": "00000000-0000-4000-8000-000000000000"}
    _refused(anon, _signed(private, claims))


@contextmanager
def _server(
    runtime: Runtime, settings: Settings, factory: Callable[[Runtime], Authenticator]
) -> Iterator[str]:
    """Another server over the same runtime, whose access tokens are checked by ``factory``'s chain."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, runtime=runtime, authenticator=factory),
            host="127.0.0.1",
            port=0,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_key_rotation(
    runtime: Runtime, settings: Settings, session: dict[str, Any], key_file: Path, tmp_path: Path
) -> None:
    """Rotated: a new signing key, the old one kept as a verification key (its public half is
    enough). Old tokens work until the old key is removed from the list; new ones carry the new
    key's id."""
    new_key = tmp_path / "new.pem"
    new_key.write_bytes(new_private_pem())
    old_public = tmp_path / "old.pub.pem"
    old_public.write_bytes(public_pem(key_file.read_bytes()))

    def chain(current: Settings) -> Callable[[Runtime], Authenticator]:
        identity = Identity(UserStore(runtime.store), SessionStore(runtime.store), current)
        return lambda rt: ChainAuthenticator(
            [AccessTokenAuthenticator(identity), ApiKeyAuthenticator(rt.store)]
        )

    rotated = settings.model_copy(
        update={"jwt_signing_key_file": new_key, "jwt_verification_key_files": [old_public]}
    )
    assert KeyRing.from_settings(rotated).kid != KeyRing.from_settings(settings).kid
    old_token = session["access_token"]
    new_token = (
        Identity(UserStore(runtime.store), SessionStore(runtime.store), rotated)
        .start_session(
            runtime.default_tenant, UUID(session["user_id"]), mfa=False, user_agent=None, address=None
        )
        .access_token
    )
    assert jwt.get_unverified_header(new_token)["kid"] == KeyRing.from_settings(rotated).kid
    with _server(runtime, rotated, chain(rotated)) as url:
        assert httpx.get(f"{url}/v1/collections", headers=bearer(old_token)).status_code == 200
        assert httpx.get(f"{url}/v1/collections", headers=bearer(new_token)).status_code == 200

    retired = rotated.model_copy(update={"jwt_verification_key_files": []})
    with _server(runtime, retired, chain(retired)) as url:
        refused = httpx.get(f"{url}/v1/collections", headers=bearer(old_token))
        assert refused.status_code == 401 and code(refused) == "unauthenticated"
        assert "key id" in refused.json()["error"]["message"]
        assert httpx.get(f"{url}/v1/collections", headers=bearer(new_token)).status_code == 200
