"""Managing users (an admin's, or the CLI's), a user's own password, and MFA enrollment."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from uuid import UUID

from docrag.domain import Principal
from docrag.domain.identity import User
from docrag.errors import Conflict, InvalidCredentials, InvalidRequest, NotFound
from docrag.identity import mfa
from docrag.identity.passwords import check_policy, could_be_a_password, hash_password, verify_password
from docrag.identity.service import Identity, user_of

ROLES = ("admin", "editor", "reader")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class Enrollment:
    """What a user's authenticator app needs, and the recovery codes: shown once."""

    secret: str
    otpauth_uri: str
    qr_svg: str
    recovery_codes: tuple[str, ...]


def normal_email(email: str) -> str:
    """:raises InvalidRequest: not an address."""
    email = email.strip()
    if len(email) > 320 or not EMAIL.match(email):
        raise InvalidRequest("email must be an address like name@example.com")
    return email


class Accounts:
    def __init__(self, identity: Identity) -> None:
        self._identity = identity
        self._users = identity.users
        self._sessions = identity.sessions

    def create(self, tenant_id: UUID, email: str, password: str, role: str) -> User:
        """:raises InvalidRequest: a bad email, role or password. :raises Conflict: ``email_taken``."""
        if role not in ROLES:
            raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
        check_policy(password)
        return self._users.create(tenant_id, normal_email(email), hash_password(password), role)

    def list(self, tenant_id: UUID) -> list[User]:
        return self._users.list(tenant_id)

    def me(self, caller: Principal) -> User:
        user, _ = user_of(caller)
        return self._users.get(caller.tenant_id, user)

    def update(
        self, caller: Principal, user_id: UUID, *, role: str | None = None, disabled: bool | None = None
    ) -> User:
        """Change a user's role, disable or enable them. A disabled user's sessions are revoked
        (and their tokens refused from the next request on, whatever is left of them).

        :raises Conflict: ``own_account``, an admin disabling or demoting themselves."""
        if role is not None and role not in ROLES:
            raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
        if user_id == caller.user_id and (disabled or (role is not None and role != "admin")):
            raise Conflict("an admin can't disable or demote their own account", code="own_account")
        user = self._users.update(caller.tenant_id, user_id, role=role, disabled=disabled)
        if disabled:
            self._sessions.revoke_all(caller.tenant_id, user_id, "user disabled")
        return user

    def remove(self, caller: Principal, user_id: UUID) -> None:
        """Remove a user: the account's personal data is erased (store ``anonymize``), it can't sign
        in, its sessions end. What it created stays unless the caller erases that too.

        :raises Conflict: ``own_account``, an admin removing themselves. :raises NotFound:."""
        if user_id == caller.user_id:
            raise Conflict("an admin can't remove their own account", code="own_account")
        self._users.get(caller.tenant_id, user_id)  # no such user: 404 before hashing a password for it
        self._users.anonymize(caller.tenant_id, user_id, hash_password(secrets.token_urlsafe(32)))

    def set_disabled(self, tenant_id: UUID, email: str, *, disabled: bool) -> User:
        """The CLI's way in: by email, with no caller. :raises NotFound: no such user."""
        found = self._users.credentials(tenant_id, email)
        if found is None:
            raise NotFound(f"no user {email!r} in this tenant", code="user_not_found")
        user = self._users.update(tenant_id, found.user.id, role=None, disabled=disabled)
        if disabled:
            self._sessions.revoke_all(tenant_id, user.id, "user disabled")
        return user

    def change_password(self, caller: Principal, current: str, new: str) -> int:
        """Set the caller's password and revoke their other sessions; how many were revoked.

        :raises InvalidCredentials: ``current`` is not the password."""
        user, session = user_of(caller)
        found = self._users.credentials_of(caller.tenant_id, user)
        if not could_be_a_password(current) or not verify_password(found.password_hash, current):
            raise InvalidCredentials("the current password is wrong")
        check_policy(new)
        self._users.set_password(caller.tenant_id, user, hash_password(new))
        return self._sessions.revoke_all(caller.tenant_id, user, "password changed", keep=session)

    # -- MFA ---------------------------------------------------------------------------------

    def enroll(self, caller: Principal, issuer: str = "DocRAG") -> Enrollment:
        """A new TOTP secret, pending until :meth:`confirm`, and new recovery codes.

        :raises Conflict: ``mfa_already_enabled``."""
        user = self.me(caller)
        if user.mfa_enabled:
            raise Conflict("MFA is already enabled for this account", code="mfa_already_enabled")
        secret = mfa.new_secret()
        codes = mfa.new_recovery_codes()
        self._users.begin_totp(caller.tenant_id, user.id, secret, [mfa.recovery_hash(c) for c in codes])
        uri = mfa.provisioning_uri(secret, user.email, issuer)
        return Enrollment(secret, uri, mfa.qr_svg(uri), tuple(codes))

    def confirm(self, caller: Principal, code: str) -> User:
        """Turn MFA on with the first code of the pending secret (that code is then spent).

        :raises InvalidRequest: no enrollment is pending, or the code is not the secret's."""
        user = self.me(caller)
        if user.mfa_enabled:
            raise Conflict("MFA is already enabled for this account", code="mfa_already_enabled")
        secret = self._users.pending_totp(caller.tenant_id, user.id)
        if secret is None:
            raise InvalidRequest("no MFA enrollment is pending: POST /v1/auth/mfa/enroll first")
        step = mfa.matching_step(secret, code) if mfa.is_totp(code) else None
        if step is None or not self._users.confirm_totp(caller.tenant_id, user.id, secret, step):
            raise InvalidRequest("that code does not match: type the 6 digits your app shows now")
        return self._users.get(caller.tenant_id, user.id)
