"""Subject rights on the local database (docs/subject-rights.md): ``docrag export`` and
``docrag tenants delete``, an operator's tools for any tenant (the API's routes serve a
tenant's admin, in its own tenant only)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer

from docrag.cli import common
from docrag.cli.common import DataDirOpt

if TYPE_CHECKING:
    import psycopg

    from docrag.store.subject import TenantErasure

tenants_app = typer.Typer(help="Tenants (local database).", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant name or id")]


def export(
    to: Annotated[Path, typer.Option("--to", help="The zip file to write (replaced if there)")],
    tenant: TenantOpt = "default",
    actor: Annotated[UUID | None, typer.Option(help="Only what this principal (API key id) created")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Export a tenant's data (or one principal's) as a zip of JSON files and files, with a manifest."""
    from docrag.store.export import export_zip
    from docrag.store.subject import find_tenant

    with common.runtime(data_dir) as rt:
        tenant_id = find_tenant(rt.store, tenant)
        partial = to.with_name(to.name + ".partial")
        written = 0
        with partial.open("wb") as out:
            for piece in export_zip(rt.store, tenant_id, actor, sealer=rt.jobs.sealer):
                out.write(piece)
                written += len(piece)
        partial.replace(to)  # a half-written export never has the final name
    typer.echo(f"exported tenant {tenant_id} to {to} ({written} bytes)")


@tenants_app.command("delete")
def tenants_delete(
    tenant: Annotated[str, typer.Argument(help="Tenant name or id")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: erase every row of the tenant")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Erase a tenant: every row in every table, its cached answers (Redis too). Cannot be undone."""
    from docrag.store.subject import find_tenant

    if not yes:
        common.fail("erasing a tenant cannot be undone: add --yes")
    with common.runtime(data_dir) as rt:
        erased = rt.erase_tenant(find_tenant(rt.store, tenant), on_erased=_record_erasure)
    rows = ", ".join(f"{table} {n}" for table, n in sorted(erased.rows.items()))
    typer.echo(f"erased tenant {erased.tenant_id}: {rows}")


def _record_erasure(conn: psycopg.Connection[Any], erasure: TenantErasure) -> None:
    from docrag.store.audit import CLI_ACTOR, TENANT_ERASED, append

    rows = sum(erasure.rows.values())
    append(
        conn,
        erasure.tenant_id,
        TENANT_ERASED,
        actor=CLI_ACTOR,
        target=str(erasure.tenant_id),
        detail={"rows": rows},
    )


def register(root: typer.Typer) -> None:
    root.command()(export)
    root.add_typer(tenants_app, name="tenants")
