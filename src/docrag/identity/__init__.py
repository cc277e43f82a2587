"""Users, sessions and MFA (docs/auth.md): passwords (argon2id), access tokens (EdDSA JWTs with
key rotation), rotating refresh tokens with reuse detection, TOTP with recovery codes.

:class:`~docrag.identity.service.Identity` is what the API and the CLI call; the SQL is in
``store/users.py`` and ``store/sessions.py``.
"""
