"""``docrag users``: the users of a tenant, on the local database (embedded, or
DOCRAG_DATABASE_URL's), never through a server: how the first admin of a tenant is made."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer

from docrag.cli import common
from docrag.cli.common import DataDirOpt

if TYPE_CHECKING:
    from docrag.identity.accounts import Accounts

users_app = typer.Typer(help="Users who sign in (local database). See docs/auth.md.", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option(help="Tenant name (created if new)")]
EmailOpt = Annotated[str, typer.Option(help="The user's email (unique in the tenant, any case)")]


@contextmanager
def _accounts(data_dir: Path | None, tenant: str) -> Iterator[tuple[Accounts, UUID]]:
    """The accounts of the local database and the tenant's id, without loading any model."""
    from docrag.identity.accounts import Accounts
    from docrag.identity.service import Identity
    from docrag.store.postgres import Store
    from docrag.store.roles import open_database
    from docrag.store.sessions import SessionStore
    from docrag.store.users import UserStore

    settings = common.settings(data_dir)
    database = open_database(settings)
    try:
        store = Store(database.url, min_size=1, max_size=2)
        try:
            yield (
                Accounts(Identity(UserStore(store), SessionStore(store), settings)),
                store.ensure_tenant(tenant),
            )
        finally:
            store.close()
    finally:
        database.stop()


def _password() -> str:
    """The password from standard input: typed twice at a terminal, else its first line."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            common.fail("the two passwords differ")
        return first
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")


@users_app.command("create")
def create(
    email: EmailOpt,
    role: Annotated[str, typer.Option(help="admin, editor or reader")],
    tenant: TenantOpt = "default",
    data_dir: DataDirOpt = None,
) -> None:
    """Create a user; the password is read from standard input (e.g. `... < password-file`)."""
    password = _password()
    with _accounts(data_dir, tenant) as (accounts, tenant_id):
        user = accounts.create(tenant_id, email, password, role)
    typer.echo(f"{user.id} {user.email} {user.role} (tenant {tenant})")


@users_app.command("list")
def list_users(tenant: TenantOpt = "default", data_dir: DataDirOpt = None) -> None:
    """The tenant's users: id, email, role, and whether disabled or with MFA."""
    with _accounts(data_dir, tenant) as (accounts, tenant_id):
        for user in accounts.list(tenant_id):
            flags = [f for f, on in (("disabled", user.disabled), ("mfa", user.mfa_enabled)) if on]
            typer.echo(f"{user.id} {user.email} {user.role} {' '.join(flags)}".rstrip())


@users_app.command("disable")
def disable(
    email: EmailOpt,
    tenant: TenantOpt = "default",
    data_dir: DataDirOpt = None,
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again instead")] = False,
) -> None:
    """Disable a user (their sessions end now), or with --enable let them sign in again."""
    with _accounts(data_dir, tenant) as (accounts, tenant_id):
        user = accounts.set_disabled(tenant_id, email, disabled=not enable)
    typer.echo(f"{user.email} {'disabled' if user.disabled else 'enabled'}")


def register(root: typer.Typer) -> None:
    root.add_typer(users_app, name="users")
