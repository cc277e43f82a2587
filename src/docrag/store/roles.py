"""Database roles: migrations run as the role that owns the schema, the service as one that owns
nothing and is neither superuser nor BYPASSRLS (so row-level security would bind it too).

- Embedded server: DocRAG makes both roles itself, ``docrag_owner`` (owns the ``docrag``
  database, its schema and its tables; runs migrations) and ``docrag_app`` (the service's pool:
  reads and writes rows, nothing else). They log in without a password over the server's Unix
  socket, the only way in (the wheel's trust setup, no TCP): the socket and the data files are
  readable by DocRAG's OS user alone, so a password would guard nothing. What the roles guard
  against is the service's own SQL: a bug or an injection can't create, alter or drop a table,
  or read past row security. A data dir made by an older DocRAG (tables owned by the
  superuser) is handed over to ``docrag_owner`` at its first start.
- External server with ``DOCRAG_DATABASE_OWNER_URL``: migrations run with it; its role grants
  ``DOCRAG_DATABASE_URL``'s role rights on the rows of every table (now and, by default
  privileges, on later migrations' tables), and the service refuses to start if that role is a
  superuser, has BYPASSRLS, owns a table or may create one.
- External server with only ``DOCRAG_DATABASE_URL``: migrations and the service share it, as
  before; a warning names what is wrong with a privileged role. Without pending migrations the
  service's role needs no DDL, so an API run as the app role after ``docrag migrate`` works.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from docrag.errors import Unavailable
from docrag.settings import Settings
from docrag.store.embedded import EmbeddedPostgres
from docrag.store.migrate import migrate

_log = logging.getLogger(__name__)

OWNER_ROLE = "docrag_owner"
APP_ROLE = "docrag_app"
_SCHEMA = "public"
#: Tables the service's role may INSERT into and SELECT from, never UPDATE or DELETE (store/audit.py).
APPEND_ONLY = ("audit_log",)
_PROVISION_LOCK_ID = 0x646F6370  # "docp": one process provisions the embedded roles at a time

# Objects of the schema to hand to the owner: tables, views and standalone sequences (a
# table's own sequences follow it), never an extension's.
_FOREIGN_OWNED = """
SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND c.relowner <> %(owner)s::regrole
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
"""
_FOREIGN_OWNED_ROUTINES = """
SELECT p.oid::regprocedure::text AS signature FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s AND p.proowner <> %(owner)s::regrole
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
"""
_PRIVILEGES = """
SELECT r.rolname, r.rolsuper, r.rolbypassrls,
  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')
     AND pg_has_role(r.oid, c.relowner, 'USAGE')) AS owned_tables,
  has_schema_privilege(r.oid, %(schema)s, 'CREATE') AS create_in_schema,
  has_database_privilege(r.oid, current_database(), 'CREATE') AS create_schemas
FROM pg_roles r WHERE r.rolname = current_user
"""


#: Rights the service's role is refused on some tables though it has them on every other (revoked
#: after the grants, at every start). It never deletes a user, a session or a refresh token: a user
#: is disabled, a session revoked, a token spent (a tenant's deletion still cascades to them: the
#: foreign keys' actions run as the tables' owner).
WITHHELD: dict[str, str] = {"users": "DELETE", "sessions": "DELETE", "refresh_tokens": "DELETE"}


@dataclass
class Database:
    """The service's connection URL, and the embedded server behind it (None: an external one)."""

    url: str
    embedded: EmbeddedPostgres | None = None
    #: Migrations applied by this start.
    applied: list[int] = field(default_factory=list)

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def with_user(url: str, user: str) -> str:
    """``url`` with another role (the embedded server's socket logs any role in without a password)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["user"] = user
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})


def open_database(settings: Settings, *, serve: bool = True) -> Database:
    """Start (or join) the embedded server, or use the configured one; migrate it as its owner;
    return the URL the service connects with. ``serve=False`` (``docrag migrate``): an owner URL
    without a service URL is enough, and the grants wait for one."""
    if not settings.database_url and not settings.database_owner_url:
        embedded = EmbeddedPostgres(settings.resolved_data_dir())
        superuser_url = embedded.start()
        try:
            owner_url, app_url = provision_embedded(superuser_url)
            return Database(app_url, embedded, prepare(owner_url, app_url))
        except BaseException:
            embedded.stop()
            raise
    if settings.database_owner_url:
        if not settings.database_url:
            if serve:
                raise Unavailable(
                    "DOCRAG_DATABASE_OWNER_URL is set without DOCRAG_DATABASE_URL to serve with"
                )
            return Database(settings.database_owner_url, None, prepare(settings.database_owner_url, None))
        return Database(
            settings.database_url, None, prepare(settings.database_owner_url, settings.database_url)
        )
    url = settings.database_url
    assert url is not None
    applied = _migrate(url)
    with _connect(url) as conn:
        problems = privilege_problems(conn)
    if problems:
        _log.warning(
            "the service's database role %s; set DOCRAG_DATABASE_OWNER_URL to migrate as the owner"
            " and serve as a role that owns nothing",
            "; ".join(problems),
        )
    return Database(url, None, applied)


def provision_embedded(superuser_url: str) -> tuple[str, str]:
    """Create the owner and service roles on the embedded server, hand the database and its
    objects to the owner, and return (owner URL, service URL)."""
    with _connect(superuser_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_PROVISION_LOCK_ID,))
        try:
            for role in (OWNER_ROLE, APP_ROLE):
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                    conn.execute(
                        sql.SQL(
                            "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
                        ).format(sql.Identifier(role))
                    )
                    _log.info("created database role %s", role)
            database = conn.info.dbname
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(database), sql.Identifier(OWNER_ROLE)
                )
            )
            conn.execute(
                sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                    sql.Identifier(_SCHEMA), sql.Identifier(OWNER_ROLE)
                )
            )
            # pgvector is not a trusted extension: only a superuser may create it (migration 0001
            # then finds it).
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            hand_over(conn, OWNER_ROLE)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_PROVISION_LOCK_ID,))
    return with_user(superuser_url, OWNER_ROLE), with_user(superuser_url, APP_ROLE)


def hand_over(conn: psycopg.Connection[Any], owner: str) -> int:
    """Make ``owner`` the owner of every object of the schema that another role owns (a data dir
    from before roles); return how many changed hands."""
    params = {"schema": _SCHEMA, "owner": owner}
    moved = 0
    for relname, relkind in conn.execute(_FOREIGN_OWNED, params).fetchall():
        kind = "SEQUENCE" if relkind == "S" else "TABLE"
        conn.execute(
            sql.SQL("ALTER {} {} OWNER TO {}").format(
                sql.SQL(kind), sql.Identifier(_SCHEMA, relname), sql.Identifier(owner)
            )
        )
        moved += 1
    for (signature,) in conn.execute(_FOREIGN_OWNED_ROUTINES, params).fetchall():
        # The signature is the catalog's own quoted regprocedure text.
        conn.execute(
            sql.SQL("ALTER ROUTINE {} OWNER TO {}").format(sql.SQL(signature), sql.Identifier(owner))
        )
        moved += 1
    if moved:
        _log.info("handed %d database objects over to %s", moved, owner)
    return moved


def prepare(owner_url: str, service_url: str | None) -> list[int]:
    """Migrate as the owner, grant the service's role its rights, and check that role."""
    applied = _migrate(owner_url)
    if service_url is None:
        return applied
    with _connect(service_url) as service:
        role = str(service.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
        with _connect(owner_url, autocommit=True) as owner:
            grant_service(owner, role)
        problems = privilege_problems(service)
    if problems:
        raise Unavailable(
            f"refusing to serve: DOCRAG_DATABASE_URL's role {'; '.join(problems)}"
            " (it should own nothing and be neither superuser nor BYPASSRLS)"
        )
    return applied


def grant_service(owner: psycopg.Connection[Any], role: str) -> None:
    """Give ``role`` rights on the rows of the owner's tables, today's and later migrations'."""
    ident = {"role": sql.Identifier(role), "schema": sql.Identifier(_SCHEMA)}
    for statement in (
        "GRANT USAGE ON SCHEMA {schema} TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}"
        " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT EXECUTE ON ROUTINES TO {role}",
    ):
        owner.execute(sql.SQL(statement).format(**ident))
    # Its own routines only: ON ALL ROUTINES would also name pgvector's (the superuser's), and
    # the server warns once for each it may not grant.
    owned = owner.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = %s AND p.proowner = current_user::regrole",
        (_SCHEMA,),
    ).fetchall()
    for (signature,) in owned:  # the catalog's own quoted regprocedure text
        owner.execute(sql.SQL("GRANT EXECUTE ON ROUTINE {} TO {role}").format(sql.SQL(signature), **ident))
    # Append-only tables (migration 0101): the service may add and read rows, never change them.
    for table in APPEND_ONLY:
        if owner.execute("SELECT to_regclass(%s)", (f"{_SCHEMA}.{table}",)).fetchone() != (None,):
            owner.execute(
                sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {role}").format(
                    sql.Identifier(_SCHEMA, table), **ident
                )
            )
    for table, rights in WITHHELD.items():
        if owner.execute("SELECT to_regclass(%s)", (f"{_SCHEMA}.{table}",)).fetchone() != (None,):
            owner.execute(
                sql.SQL("REVOKE {} ON {} FROM {role}").format(
                    sql.SQL(rights), sql.Identifier(_SCHEMA, table), **ident
                )
            )


def privilege_problems(conn: psycopg.Connection[Any]) -> list[str]:
    """What makes the connection's role more than the service needs (empty: least privilege)."""
    row = conn.execute(_PRIVILEGES, {"schema": _SCHEMA}).fetchone()
    assert row is not None
    name, superuser, bypassrls, owned, create_in_schema, create_schemas = row
    problems = []
    if superuser:
        problems.append(f"{name} is a superuser")
    if bypassrls:
        problems.append(f"{name} has BYPASSRLS")
    if owned:
        problems.append(f"{name} owns {owned} tables")
    if create_in_schema:
        problems.append(f"{name} may create tables in schema {_SCHEMA}")
    if create_schemas:
        problems.append(f"{name} may create schemas")
    return problems


def _migrate(url: str) -> list[int]:
    with _connect(url) as conn:
        try:
            return migrate(conn)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise Unavailable(
                f"migrations need the schema's owner ({exc}):"
                " run `docrag migrate` with DOCRAG_DATABASE_OWNER_URL"
            ) from exc


def _connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise Unavailable(f"database unavailable: {exc}") from exc
