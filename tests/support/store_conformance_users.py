"""The conformance suite of the user accounts protocol (``UserAccounts``,
src/docrag/store/protocol_identity.py), in the style of tests/support/store_conformance.py: written
against fixtures only; store_conformance_sessions.py has the sessions' suite, on these helpers.

Fixtures a backend provides, besides that module's ``tenants``: ``tenant_names``, the names of the
two ``tenants`` (same order); ``user_accounts`` and ``session_records``, its implementations (one
test checks that erasing a user ends its sessions). Hashes are made up here: the store keeps and
compares them as given.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from uuid import UUID

import pytest

from docrag.domain.identity import Credentials, User
from docrag.errors import Conflict, NotFound
from docrag.store.protocol_identity import SessionRecords, UserAccounts

HOUR = timedelta(hours=1)
OVER = timedelta(0)  # a lifetime that is over as soon as it starts


def address(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


def token() -> bytes:
    """A refresh token's hash, as the service would store it."""
    return secrets.token_bytes(32)


def new_user(accounts: UserAccounts, tenant: UUID, role: str = "reader", email: str | None = None) -> User:
    return accounts.create(tenant, email or address(role), f"hash-{uuid.uuid4().hex}", role)


def sign_in(
    records: SessionRecords,
    user: User,
    refresh: bytes | None = None,
    *,
    lifetime: timedelta = HOUR,
    refresh_lifetime: timedelta = HOUR,
    mfa: bool = False,
) -> UUID:
    return records.create(
        user.tenant_id,
        user.id,
        lifetime=lifetime,
        refresh_hash=refresh or token(),
        refresh_lifetime=refresh_lifetime,
        user_agent="conformance",
        address="192.0.2.7",
        mfa=mfa,
    )


class UserAccountsSuite:
    def test_a_tenant_is_found_by_its_name(
        self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID], tenant_names: tuple[str, str]
    ) -> None:
        assert (user_accounts.tenant_id(tenant_names[0]), user_accounts.tenant_id(tenant_names[1])) == tenants
        assert user_accounts.tenant_id(f"no-such-{uuid.uuid4().hex}") is None

    def test_a_new_user_reads_back_as_created(
        self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        email = address()
        made = user_accounts.create(a, email, "the-hash", "editor")
        assert (made.tenant_id, made.email, made.role, made.disabled, made.mfa_enabled) == (
            a,
            email,
            "editor",
            False,
            False,
        )
        assert made.created_at
        assert user_accounts.get(a, made.id) == made
        assert user_accounts.list(a) == [made]
        assert user_accounts.credentials(a, email) == Credentials(made, "the-hash", None)
        assert user_accounts.credentials_of(a, made.id) == Credentials(made, "the-hash", None)

    def test_an_email_is_one_account_per_tenant_in_any_case(
        self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID]
    ) -> None:
        a, b = tenants
        email = address("Ann")
        made = new_user(user_accounts, a, email=email)
        with pytest.raises(Conflict) as caught:
            new_user(user_accounts, a, email=email.upper())
        assert caught.value.code == "email_taken"
        found = user_accounts.credentials(a, email.upper())
        assert found is not None and found.user == made
        assert new_user(user_accounts, b, email=email.lower()).tenant_id == b  # another tenant may
        assert user_accounts.list(a) == [made]

    def test_users_are_listed_oldest_first(
        self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID]
    ) -> None:
        a, b = tenants
        made = [new_user(user_accounts, a, role) for role in ("reader", "admin", "editor")]
        new_user(user_accounts, b)
        assert user_accounts.list(a) == made

    def test_unknown_users_are_not_found(
        self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        nobody = uuid.uuid4()
        for attempt in (
            lambda: user_accounts.get(a, nobody),
            lambda: user_accounts.credentials_of(a, nobody),
            lambda: user_accounts.update(a, nobody, role="admin", disabled=None),
            lambda: user_accounts.anonymize(a, nobody, "hash"),
        ):
            with pytest.raises(NotFound) as caught:
                attempt()
            assert caught.value.code == "user_not_found"
        assert user_accounts.credentials(a, address()) is None
        assert user_accounts.pending_totp(a, nobody) is None

    def test_update_sets_the_role_and_disables_or_enables(
        self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = new_user(user_accounts, a)
        promoted = user_accounts.update(a, made.id, role="admin", disabled=None)
        assert (promoted.role, promoted.disabled) == ("admin", False)
        disabled = user_accounts.update(a, made.id, role=None, disabled=True)
        assert (disabled.role, disabled.disabled) == ("admin", True)
        assert user_accounts.update(a, made.id, role=None, disabled=None) == disabled
        assert user_accounts.get(a, made.id) == disabled
        enabled = user_accounts.update(a, made.id, role="reader", disabled=False)
        assert (enabled.role, enabled.disabled, enabled.id, enabled.email) == (
            "reader",
            False,
            made.id,
            made.email,
        )

    def test_set_password_replaces_the_hash(
        self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID]
    ) -> None:
        a, b = tenants
        made = new_user(user_accounts, a)
        user_accounts.set_password(a, made.id, "new-hash")
        assert user_accounts.credentials_of(a, made.id).password_hash == "new-hash"
        user_accounts.set_password(b, made.id, "their-hash")  # not b's user: nothing changes
        assert user_accounts.credentials_of(a, made.id).password_hash == "new-hash"

    def test_totp_waits_for_its_first_code_which_is_then_spent(
        self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = new_user(user_accounts, a)
        user_accounts.begin_totp(a, made.id, "SECRET1", [b"code-1"])
        assert user_accounts.pending_totp(a, made.id) == "SECRET1"
        assert not user_accounts.get(a, made.id).mfa_enabled  # not before its first code
        assert user_accounts.credentials_of(a, made.id).totp_secret is None
        assert not user_accounts.confirm_totp(a, made.id, "ANOTHER", 100)
        assert user_accounts.confirm_totp(a, made.id, "SECRET1", 100)
        assert user_accounts.get(a, made.id).mfa_enabled
        assert user_accounts.credentials_of(a, made.id).totp_secret == "SECRET1"
        assert user_accounts.pending_totp(a, made.id) is None
        assert not user_accounts.confirm_totp(a, made.id, "SECRET1", 101)  # on already
        assert not user_accounts.accept_step(a, made.id, 100)  # the confirming code, spent
        assert user_accounts.accept_step(a, made.id, 102)
        assert not user_accounts.accept_step(a, made.id, 102)  # a replay
        assert not user_accounts.accept_step(a, made.id, 101)  # an older code
        assert user_accounts.accept_step(a, made.id, 103)

    def test_a_new_enrollment_replaces_the_pending_secret_and_the_codes(
        self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = new_user(user_accounts, a)
        user_accounts.begin_totp(a, made.id, "FIRST", [b"old-1", b"old-2"])
        user_accounts.begin_totp(a, made.id, "SECOND", [b"new-1", b"new-2"])
        assert user_accounts.pending_totp(a, made.id) == "SECOND"
        assert not user_accounts.confirm_totp(a, made.id, "FIRST", 1)
        assert not user_accounts.use_recovery_code(a, made.id, b"old-1")
        assert user_accounts.use_recovery_code(a, made.id, b"new-2")

    def test_a_recovery_code_works_once(
        self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = new_user(user_accounts, a)
        other = new_user(user_accounts, a)
        user_accounts.begin_totp(a, made.id, "SECRET", [b"code-1", b"code-2"])
        assert not user_accounts.use_recovery_code(a, other.id, b"code-1")  # not other's code
        assert user_accounts.use_recovery_code(a, made.id, b"code-1")
        assert not user_accounts.use_recovery_code(a, made.id, b"code-1")
        assert not user_accounts.use_recovery_code(a, made.id, b"never-issued")
        assert user_accounts.use_recovery_code(a, made.id, b"code-2")

    def test_anonymize_erases_the_account_and_ends_its_sessions(
        self, user_accounts: UserAccounts, session_records: SessionRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        email = address("erased")
        made = new_user(user_accounts, a, "admin", email=email)
        user_accounts.begin_totp(a, made.id, "SECRET", [b"code"])
        assert user_accounts.confirm_totp(a, made.id, "SECRET", 7)
        session = sign_in(session_records, made, mfa=True)
        user_accounts.anonymize(a, made.id, "random-hash")
        erased = user_accounts.get(a, made.id)  # the row stays
        assert erased.email != email and email not in erased.email
        assert (erased.disabled, erased.mfa_enabled, erased.role) == (True, False, "admin")
        assert user_accounts.credentials(a, email) is None
        assert user_accounts.credentials_of(a, made.id) == Credentials(erased, "random-hash", None)
        assert not user_accounts.use_recovery_code(a, made.id, b"code")
        assert session_records.caller(a, session, made.id) is None
        assert session_records.live(a, made.id) == []
        assert user_accounts.list(a) == [erased]
        assert new_user(user_accounts, a, email=email).email == email  # the address is free again

    def test_the_mfa_rule_is_the_tenants_own(
        self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID]
    ) -> None:
        a, b = tenants
        assert not user_accounts.mfa_required_for_admins(a)  # off until set
        assert user_accounts.set_mfa_required_for_admins(a, True) is True
        assert (user_accounts.mfa_required_for_admins(a), user_accounts.mfa_required_for_admins(b)) == (
            True,
            False,
        )
        assert user_accounts.set_mfa_required_for_admins(a, False) is False
        assert not user_accounts.mfa_required_for_admins(a)

    def test_nothing_crosses_tenants(self, user_accounts: UserAccounts, tenants: tuple[UUID, UUID]) -> None:
        a, b = tenants
        made = new_user(user_accounts, a)
        user_accounts.begin_totp(a, made.id, "SECRET", [b"code"])
        for attempt in (
            lambda: user_accounts.get(b, made.id),
            lambda: user_accounts.credentials_of(b, made.id),
            lambda: user_accounts.update(b, made.id, role="admin", disabled=True),
            lambda: user_accounts.anonymize(b, made.id, "hash"),
        ):
            with pytest.raises(NotFound) as caught:
                attempt()
            assert caught.value.code == "user_not_found"
        assert user_accounts.credentials(b, made.email) is None
        assert user_accounts.list(b) == []
        assert user_accounts.pending_totp(b, made.id) is None
        assert not user_accounts.confirm_totp(b, made.id, "SECRET", 1)
        assert not user_accounts.use_recovery_code(b, made.id, b"code")
        assert not user_accounts.accept_step(b, made.id, 1)
        user_accounts.begin_totp(b, made.id, "THEIRS", [])
        # a's user, untouched by all of the above
        assert user_accounts.get(a, made.id) == made
        assert user_accounts.pending_totp(a, made.id) == "SECRET"
        assert user_accounts.use_recovery_code(a, made.id, b"code")
