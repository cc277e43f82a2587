"""Access tokens: short-lived JWTs signed with Ed25519 (EdDSA), one algorithm and no other.

Why EdDSA: an asymmetric key means a process that only verifies needs no secret at all (the
public key), and a token can't be forged by anyone who merely reads a verification key; Ed25519
has no per-signature nonce to get wrong (unlike ECDSA), small keys and fast verification (tens of
microseconds). The verifier names the one algorithm it accepts, so ``alg: none`` or an HS256
token "signed" with the public key is refused before any key is used.

Keys (docs/auth.md, "Key rotation"): one signing key, from ``DOCRAG_JWT_SIGNING_KEY`` (PEM text)
or ``DOCRAG_JWT_SIGNING_KEY_FILE``, or else ``<data_dir>/jwt/signing-key.pem``, made at first
start; plus the earlier keys of ``DOCRAG_JWT_VERIFICATION_KEY_FILES``, still accepted. Each key's
id (the ``kid`` header) is its RFC 7638 thumbprint, so a key can't be listed under a wrong id.
Keys live in files or settings, never in the database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from docrag.errors import TokenExpired, Unauthenticated, Unavailable
from docrag.settings import Settings

_log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
#: Clock skew tolerated between the process that signed and the one verifying, in seconds.
LEEWAY_SECONDS = 5
REQUIRED_CLAIMS = ("iss", "aud", "sub", "tid", "sid", "exp", "iat", "nbf")
DEFAULT_KEY_PATH = Path("jwt") / "signing-key.pem"
#: Verified tokens remembered per process (about 1 KiB each).
VERIFIED_CACHE = 4096


def key_id(public: Ed25519PublicKey) -> str:
    """The key's RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
    return _b64(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer token is meant as a JWT (three dot-separated parts); API keys have no dot."""
    return token.count(".") == 2


class KeyRing:
    """The signing key and every key whose tokens are accepted (the signing key's among them).

    A token that verified is remembered (at most :data:`VERIFIED_CACHE` of them) until its expiry,
    so that a client's next requests with it skip the signature check and its parsing; its
    session is still looked up on every request (``identity/service.py``). The keys of a ring
    never change: a rotation is a restart with other settings, and a new ring.
    """

    def __init__(self, signing: Ed25519PrivateKey, previous: Iterable[Ed25519PublicKey] = ()) -> None:
        self._signing = signing
        self.kid = key_id(signing.public_key())
        self._verifying = {key_id(k): k for k in (*previous, signing.public_key())}
        self._verified: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._verifying)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """:raises Unavailable: a configured key file is missing, unreadable or not Ed25519."""
        if settings.jwt_signing_key is not None:
            signing = _private(settings.jwt_signing_key.get_secret_value().encode(), "DOCRAG_JWT_SIGNING_KEY")
        elif settings.jwt_signing_key_file is not None:
            signing = _private(_read(settings.jwt_signing_key_file), str(settings.jwt_signing_key_file))
        else:
            signing = default_signing_key(settings.resolved_data_dir() / DEFAULT_KEY_PATH)
        previous = [_public(_read(path), str(path)) for path in settings.jwt_verification_key_files]
        return cls(signing, previous)

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self._signing, algorithm=ALGORITHM, headers={"kid": self.kid})

    def verify(self, token: str, *, issuer: str, audience: str) -> dict[str, Any]:
        """The claims of a token this ring signed (or an earlier key of it did), still valid.

        :raises TokenExpired: past its ``exp``.
        :raises Unauthenticated: anything else wrong: another algorithm, an unknown ``kid``, a bad
            signature, not yet valid, another issuer or audience, a claim missing.
        """
        remembered = (token, issuer, audience)
        with self._lock:
            claims = self._verified.get(remembered)
        if claims is not None:
            if claims["exp"] + LEEWAY_SECONDS > time.time():
                return dict(claims)
            with self._lock:
                self._verified.pop(remembered, None)
        claims = self._verify(token, issuer=issuer, audience=audience)
        with self._lock:
            self._verified[remembered] = claims
            while len(self._verified) > VERIFIED_CACHE:
                self._verified.popitem(last=False)
        return dict(claims)

    def _verify(self, token: str, *, issuer: str, audience: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("the access token is not a JWT") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated(f"access tokens are signed with {ALGORITHM} only")
        kid = header.get("kid")
        key = self._verifying.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthenticated("the access token's key id is not one of this server's keys")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=issuer,
                audience=audience,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("the access token has expired: refresh it") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid access token: {exc}") from None


def access_claims(
    *, user_id: UUID, tenant_id: UUID, session_id: UUID, issuer: str, audience: str, seconds: int
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": audience,
        "sub": str(user_id),
        "tid": str(tenant_id),
        "sid": str(session_id),
        "iat": now,
        "nbf": now,
        "exp": now + seconds,
        "jti": secrets.token_urlsafe(12),
    }


def new_private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(private_pem: bytes) -> bytes:
    """The public half of a private key in PEM (what verifying processes need)."""
    return (
        _private(private_pem, "key")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def default_signing_key(path: Path) -> Ed25519PrivateKey:
    """The key at ``path``, made there (mode 0600) if it is not there yet. Several processes may
    race to make it: each writes a file of its own and links it into place; the first wins and
    the others read the winner's."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
        try:
            with os.fdopen(fd, "wb") as out:  # mkstemp made it 0600
                out.write(new_private_pem())
            try:
                os.link(temporary, path)
                _log.warning(
                    "made a JWT signing key at %s; set DOCRAG_JWT_SIGNING_KEY_FILE to the same key on"
                    " every API process that serves these users",
                    path,
                )
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
    return _private(_read(path), str(path))


def _read(path: Path) -> bytes:
    try:
        return path.expanduser().read_bytes()
    except OSError as exc:
        raise Unavailable(f"can't read the JWT key {path}: {exc}") from exc


def _private(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise Unavailable(f"{where} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise Unavailable(f"{where} is not an Ed25519 key (access tokens are EdDSA only)")
    return key


def _public(pem: bytes, where: str) -> Ed25519PublicKey:
    if b"PRIVATE KEY" in pem:
        return _private(pem, where).public_key()
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise Unavailable(f"{where} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise Unavailable(f"{where} is not an Ed25519 key (access tokens are EdDSA only)")
    return key
