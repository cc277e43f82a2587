"""TOTP (RFC 6238: 6 digits, 30 s steps, SHA-1, as every authenticator app reads it) and
recovery codes.

A code is accepted for the current step or the one either side of it (clock drift), and only for
a step later than the last one accepted for that user: the store records the step, so a code
seen once (over a shoulder, in a proxy log) can't be used again. Recovery codes carry 80 random
bits each, so a SHA-256 of one is as safe to store as a slow hash of a password would be.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import time

import pyotp

DIGITS = 6
STEP_SECONDS = 30
#: Steps either side of now whose code is accepted (clock drift between phone and server).
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_TOTP_FORMAT = re.compile(r"^\d{6}$")
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (from the QR code, or typed in)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as a QR code, an SVG document (no script, no external reference)."""
    import segno

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def is_totp(code: str) -> bool:
    return bool(_TOTP_FORMAT.match(code.strip()))


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (within the drift) whose code ``code`` is, or None."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now = time.time() if now is None else now
    current = int(now // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code.strip()):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes like ``k3m9-x2qa-7hpt-b4wz``: 16 base32 characters, 80 bits each."""
    codes = []
    for _ in range(count):
        chars = "".join(secrets.choice(_BASE32) for _ in range(16))
        codes.append("-".join(chars[i : i + 4] for i in range(0, 16, 4)))
    return codes


def recovery_hash(code: str) -> bytes:
    """What is stored of a code; case, spaces and dashes do not matter when it is typed."""
    normal = re.sub(r"[\s-]", "", code).lower()
    return hashlib.sha256(normal.encode()).digest()
