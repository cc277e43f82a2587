"""The conformance suite of the sign-in sessions protocol (``SessionRecords``,
src/docrag/store/protocol_identity.py), in the style of tests/support/store_conformance.py: written
against fixtures only.

Fixtures a backend provides: those of store_conformance_users.py (``tenants``, ``user_accounts``,
which makes the users signed in here, and ``session_records``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from docrag.domain.identity import Refreshed, SessionCaller
from docrag.errors import RefreshTokenReused, Unauthenticated
from docrag.store.protocol_identity import SessionRecords, UserAccounts
from store_conformance_users import HOUR, OVER, new_user, sign_in, token


def refused(records: SessionRecords, spent: bytes) -> Unauthenticated:
    """The error of refreshing with ``spent``: Unauthenticated, and not a reuse."""
    with pytest.raises(Unauthenticated) as caught:
        records.rotate(spent, token(), HOUR)
    assert not isinstance(caught.value, RefreshTokenReused)
    return caught.value


class SessionRecordsSuite:
    def test_a_new_session_is_live_and_proves_its_user(
        self, user_accounts: UserAccounts, session_records: SessionRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = new_user(user_accounts, a, "editor")
        session = sign_in(session_records, made, mfa=True)
        assert session_records.caller(a, session, made.id) == SessionCaller("editor", False)
        [info] = session_records.live(a, made.id)
        assert (info.id, info.user_agent, info.address, info.mfa) == (
            session,
            "conformance",
            "192.0.2.7",
            True,
        )
        created, expires = datetime.fromisoformat(info.created_at), datetime.fromisoformat(info.expires_at)
        assert abs((expires - created) - HOUR) < timedelta(seconds=30)
        assert session_records.caller(a, session, new_user(user_accounts, a).id) is None  # not theirs

    def test_live_sessions_are_the_users_own_newest_first(
        self, user_accounts: UserAccounts, session_records: SessionRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made, other = new_user(user_accounts, a), new_user(user_accounts, a)
        first, second = sign_in(session_records, made), sign_in(session_records, made)
        theirs = sign_in(session_records, other)
        sign_in(session_records, made, lifetime=OVER)  # expired: never listed
        assert [s.id for s in session_records.live(a, made.id)] == [second, first]
        assert [s.id for s in session_records.live(a, other.id)] == [theirs]

    def test_an_expired_session_proves_nobody_and_refreshes_nothing(
        self, user_accounts: UserAccounts, session_records: SessionRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = new_user(user_accounts, a)
        refresh = token()
        session = sign_in(session_records, made, refresh, lifetime=OVER)
        assert session_records.caller(a, session, made.id) is None
        refused(session_records, refresh)  # the token can't outlive its session

    def test_a_refresh_spends_its_token_and_a_reuse_revokes_the_session(
        self, user_accounts: UserAccounts, session_records: SessionRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = new_user(user_accounts, a)
        first, second, third = token(), token(), token()
        session = sign_in(session_records, made, first)
        assert session_records.rotate(first, second, HOUR) == Refreshed(a, made.id, session)
        assert session_records.rotate(second, third, HOUR) == Refreshed(a, made.id, session)
        [info] = session_records.live(a, made.id)
        assert datetime.fromisoformat(info.refreshed_at) > datetime.fromisoformat(info.created_at)
        with pytest.raises(RefreshTokenReused):
            session_records.rotate(first, token(), HOUR)
        assert session_records.caller(a, session, made.id) is None
        assert session_records.live(a, made.id) == []
        refused(session_records, third)  # unspent, but its session is over

    def test_unknown_or_expired_refresh_tokens_are_refused(
        self, user_accounts: UserAccounts, session_records: SessionRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = new_user(user_accounts, a)
        refused(session_records, token())
        stale = token()
        session = sign_in(session_records, made, stale, refresh_lifetime=OVER)
        refused(session_records, stale)
        assert session_records.caller(a, session, made.id) is not None  # an expired token revokes nothing
        first, short = token(), token()
        sign_in(session_records, made, first)
        session_records.rotate(first, short, OVER)  # the next token's lifetime is the one given
        refused(session_records, short)

    def test_revoke_ends_one_session(
        self, user_accounts: UserAccounts, session_records: SessionRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = new_user(user_accounts, a)
        refresh = token()
        ended, kept = sign_in(session_records, made, refresh), sign_in(session_records, made)
        assert session_records.revoke(a, made.id, ended, "signed out")
        assert not session_records.revoke(a, made.id, ended, "signed out")  # once
        assert not session_records.revoke(a, made.id, uuid.uuid4(), "unknown")
        assert session_records.caller(a, ended, made.id) is None
        assert session_records.caller(a, kept, made.id) is not None
        assert [s.id for s in session_records.live(a, made.id)] == [kept]
        refused(session_records, refresh)

    def test_revoke_all_keeps_one_and_counts(
        self, user_accounts: UserAccounts, session_records: SessionRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made, other = new_user(user_accounts, a), new_user(user_accounts, a)
        kept = [sign_in(session_records, made) for _ in range(3)][1]
        theirs = sign_in(session_records, other)
        assert session_records.revoke_all(a, made.id, "password changed", keep=kept) == 2
        assert [s.id for s in session_records.live(a, made.id)] == [kept]
        assert session_records.revoke_all(a, made.id, "user disabled") == 1
        assert session_records.revoke_all(a, made.id, "user disabled") == 0
        assert session_records.caller(a, theirs, other.id) is not None

    def test_a_disabled_user_proves_nothing_until_enabled(
        self, user_accounts: UserAccounts, session_records: SessionRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = new_user(user_accounts, a)
        refresh = token()
        session = sign_in(session_records, made, refresh)
        user_accounts.update(a, made.id, role=None, disabled=True)
        assert session_records.caller(a, session, made.id) is None
        refused(session_records, refresh)
        user_accounts.update(a, made.id, role=None, disabled=False)
        assert session_records.caller(a, session, made.id) == SessionCaller("reader", False)
        assert session_records.rotate(refresh, token(), HOUR).session_id == session  # refused, not spent

    def test_the_caller_is_the_users_role_now_and_the_tenants_mfa_rule(
        self, user_accounts: UserAccounts, session_records: SessionRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = new_user(user_accounts, a, "admin")
        session = sign_in(session_records, made)
        assert session_records.caller(a, session, made.id) == SessionCaller("admin", False)
        user_accounts.set_mfa_required_for_admins(a, True)
        assert session_records.caller(a, session, made.id) == SessionCaller("admin", True)  # enroll first
        user_accounts.update(a, made.id, role="editor", disabled=None)
        assert session_records.caller(a, session, made.id) == SessionCaller("editor", False)  # admins only
        user_accounts.update(a, made.id, role="admin", disabled=None)
        user_accounts.begin_totp(a, made.id, "SECRET", [])
        assert user_accounts.confirm_totp(a, made.id, "SECRET", 1)
        assert session_records.caller(a, session, made.id) == SessionCaller("admin", False)

    def test_nothing_crosses_tenants(
        self, user_accounts: UserAccounts, session_records: SessionRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, b = tenants
        made = new_user(user_accounts, a)
        session = sign_in(session_records, made)
        assert session_records.caller(b, session, made.id) is None
        assert session_records.live(b, made.id) == []
        assert not session_records.revoke(b, made.id, session, "theirs")
        assert session_records.revoke_all(b, made.id, "theirs") == 0
        assert session_records.caller(a, session, made.id) is not None
        assert [s.id for s in session_records.live(a, made.id)] == [session]
