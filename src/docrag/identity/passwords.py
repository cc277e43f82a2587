"""Passwords, hashed with argon2id (argon2-cffi's defaults: RFC 9106's low-memory profile,
3 passes over 64 MiB on 4 lanes, a fresh 16-byte salt each time).

An unknown email is answered after verifying against a dummy hash of the same cost, so that the
answer's timing does not tell whether the account exists. A password outside the policy is no
account's (every stored hash is of one that met it, or of a random token): it is refused without
hashing, for every account alike, so that an attacker's short guesses cost no argon2 either.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from docrag.errors import InvalidRequest

MIN_LENGTH = 12
MAX_LENGTH = 1024

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106) parameters


def _policy_error(password: str) -> str | None:
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if not password.strip():
        return "a password can't be only spaces"
    return None


def check_policy(password: str) -> None:
    """:raises InvalidRequest: too short, too long, or only spaces."""
    error = _policy_error(password)
    if error is not None:
        raise InvalidRequest(error)


def could_be_a_password(password: str) -> bool:
    """Whether ``password`` meets the policy: one that doesn't matches no stored hash, so checking
    it against one (real or dummy) is argon2 spent for nothing."""
    return _policy_error(password) is None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (a malformed hash matches nothing)."""
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether the stored hash was made with other parameters than today's (rehash at login)."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def burn_verification(password: str) -> None:
    """Spend what verifying ``password`` against a real hash costs, for an unknown account."""
    verify_password(_dummy_hash(), password)
