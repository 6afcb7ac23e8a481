"""Two PostgreSQL roles: an owner that migrates, and the application's role, which cannot undo the
audit trail's protections.

A table's owner can switch its triggers off (``ALTER TABLE ... DISABLE TRIGGER``) and a superuser
can do anything, so an application connected as either could rewrite the audit trail and then the
triggers would prove nothing. ``ketaclinic db roles`` (run with the owner's ``DATABASE_URL``)
creates the application's role and grants it what the application does and no more:

- rows of every table: read, insert, update, delete;
- the audit trail's and the ledger's entries: read and insert only (no update, delete, truncate);
- their head rows: read, insert and update (the triggers let an update move one entry forward);
- no ownership, so no ALTER, DISABLE TRIGGER, DROP or TRUNCATE;
- the same on the tables later migrations create (``ALTER DEFAULT PRIVILEGES``).

``serve`` refuses to start in production while its role could switch the triggers off
(``production.py``). Migrations run as the owner: ``KETACLINIC_MIGRATE_DATABASE_URL``.
"""

from __future__ import annotations

import re

from django.db import connection

APPEND_ONLY = ("audit_auditentry", "ledger_ledgerentry")
HEADS = ("audit_audithead", "ledger_ledgerhead")
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RolesError(Exception):
    """What stops the roles being set up; nothing was changed."""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def set_up(app_role: str, password: str | None) -> list[str]:
    """Create (or bring up to date) ``app_role``; returns the statements run, passwords masked."""
    if connection.vendor != "postgresql":
        raise RolesError("roles are a PostgreSQL feature; SQLite has one user, the owner of the file.")
    if not ROLE_NAME.match(app_role):
        raise RolesError(f"{app_role!r} is not a role name: lower-case letters, digits and _, at most 63.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_database()")
        owner, database = cursor.fetchone()
        if app_role == owner:
            raise RolesError(f"{app_role} is the role running this command (the owner); name another role.")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [app_role])
        existing = cursor.fetchone()
        if existing and existing[0]:
            raise RolesError(f"{app_role} is a superuser; the application's role must not be one.")
        role, db, me = _ident(app_role), _ident(database), _ident(owner)
        statements = [] if existing else [f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"]
        if password:
            statements.append(f"ALTER ROLE {role} PASSWORD %s")
        tables = ", ".join(APPEND_ONLY)
        statements += [
            f"GRANT CONNECT ON DATABASE {db} TO {role}",
            f"GRANT USAGE ON SCHEMA public TO {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
            f"REVOKE UPDATE, DELETE, TRUNCATE ON {tables} FROM {role}",
            f"REVOKE DELETE, TRUNCATE ON {', '.join(HEADS)} FROM {role}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {me} IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {me} IN SCHEMA public "
            f"GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        ]
        shown = []
        for statement in statements:
            cursor.execute(statement, [password] if "%s" in statement else None)
            shown.append(statement.replace("%s", "'…'"))
    return shown


def weaknesses() -> list[str]:
    """What the connected role could do to the audit trail's protections (empty on SQLite)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.rolsuper, pg_has_role(current_user, c.relowner, 'USAGE'),"
            " has_table_privilege(current_user, c.oid, 'UPDATE'),"
            " has_table_privilege(current_user, c.oid, 'TRUNCATE'), current_user"
            " FROM pg_class c, pg_roles r WHERE c.relname = 'audit_auditentry' AND r.rolname = current_user"
        )
        row = cursor.fetchone()
    if row is None:
        return []
    superuser, owns, can_update, can_truncate, me = row
    found = []
    if superuser:
        found.append(f"connects as {me}, a superuser")
    elif owns:
        found.append(f"connects as {me}, which owns the audit tables and could switch their triggers off")
    elif can_update or can_truncate:
        found.append(f"connects as {me}, which may update or truncate the audit entries")
    return found
