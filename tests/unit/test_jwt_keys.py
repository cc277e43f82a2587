"""Where access tokens' keys come from (docs/auth.md): the key made in the data dir at first
start, once, even by processes racing; configured keys, and keys that are not Ed25519. And the
ring's memory of verified tokens."""

from __future__ import annotations

import stat
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from docrag.errors import TokenExpired, Unauthenticated, Unavailable
from docrag.identity.tokens import (
    DEFAULT_KEY_PATH,
    LEEWAY_SECONDS,
    KeyRing,
    access_claims,
    default_signing_key,
    key_id,
    new_private_pem,
)
from docrag.settings import Settings


def _kid(path: Path) -> str:
    return key_id(default_signing_key(path).public_key())


def test_the_first_start_makes_a_private_key_file_and_later_starts_reuse_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, jwt_signing_key=None)
    first = KeyRing.from_settings(settings)
    path = tmp_path / DEFAULT_KEY_PATH
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in path.read_bytes()
    assert KeyRing.from_settings(settings).kid == first.kid
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_processes_racing_to_make_the_key_agree_on_one(tmp_path: Path) -> None:
    path = tmp_path / "jwt" / "signing-key.pem"
    with ThreadPoolExecutor(8) as pool:
        kids = set(pool.map(lambda _: _kid(path), range(16)))
    assert kids == {_kid(path)}


def test_a_configured_key_wins_text_over_file(tmp_path: Path) -> None:
    file = tmp_path / "file.pem"
    file.write_bytes(new_private_pem())
    text = new_private_pem().decode()
    from_file = KeyRing.from_settings(
        Settings(data_dir=tmp_path, jwt_signing_key=None, jwt_signing_key_file=file)
    )
    from_text = KeyRing.from_settings(
        Settings(data_dir=tmp_path, jwt_signing_key=SecretStr(text), jwt_signing_key_file=file)
    )
    assert from_file.kid != from_text.kid
    assert not (tmp_path / DEFAULT_KEY_PATH).exists()


def test_keys_that_are_not_ed25519_or_not_there_stop_the_start(tmp_path: Path) -> None:
    p256 = tmp_path / "p256.pem"
    p256.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    for settings, message in [
        (Settings(jwt_signing_key=None, jwt_signing_key_file=p256), "not an Ed25519 key"),
        (Settings(jwt_signing_key=None, jwt_signing_key_file=tmp_path / "missing.pem"), "can't read"),
        (Settings(jwt_signing_key=SecretStr("not a key")), "not an unencrypted PEM"),
        (
            Settings(data_dir=tmp_path, jwt_signing_key=None, jwt_verification_key_files=[p256]),
            "not an Ed25519",
        ),
    ]:
        with pytest.raises(Unavailable, match=message):
            KeyRing.from_settings(settings)


def test_verification_keys_are_a_comma_separated_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCRAG_JWT_VERIFICATION_KEY_FILES", f"{tmp_path}/a.pem, {tmp_path}/b.pem")
    assert Settings().jwt_verification_key_files == [tmp_path / "a.pem", tmp_path / "b.pem"]


def test_a_remembered_token_still_expires() -> None:
    """Verified tokens are remembered (no second signature check), never past their expiry."""
    ring = KeyRing(Ed25519PrivateKey.generate())
    ids = {"user_id": uuid.uuid4(), "tenant_id": uuid.uuid4(), "session_id": uuid.uuid4()}
    claims = access_claims(**ids, issuer="i", audience="a", seconds=30)
    # Past its exp already, but inside the leeway: still valid for 2 to 3 s (not LEEWAY_SECONDS + 1).
    claims["exp"] = int(time.time()) + 3 - LEEWAY_SECONDS
    token = ring.sign(claims)
    assert ring.verify(token, issuer="i", audience="a")["sid"] == str(ids["session_id"])
    assert ring.verify(token, issuer="i", audience="a")["exp"] == claims["exp"]  # remembered
    with pytest.raises(Unauthenticated):
        ring.verify(token, issuer="i", audience="other")  # remembered per issuer and audience
    time.sleep(max(0.0, claims["exp"] + LEEWAY_SECONDS - time.time()) + 0.5)
    with pytest.raises(TokenExpired):
        ring.verify(token, issuer="i", audience="a")
