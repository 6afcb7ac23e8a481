"""`ketaclinic db roles`: the application's PostgreSQL role writes the records but cannot undo the
audit trail's protections; serve refuses production on a role that could."""

from __future__ import annotations

import os

import dj_database_url
import pytest

from tests.clirun import cli

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="the PostgreSQL pass runs this"
)
ADMIN_PASSWORD = "a long enough passphrase 42"


@pytest.fixture
def database(tmp_path):
    """A fresh database migrated by its owner (the suite's superuser), and the app role's name."""
    import psycopg

    cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
    name, role = f"ketaclinic_roles_{os.getpid()}", f"kc_app_{os.getpid()}"
    server = {"host": cfg["HOST"], "port": cfg["PORT"] or 5432, "user": cfg["USER"]}
    with psycopg.connect(**server, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = f"postgres://{cfg['USER']}@{cfg['HOST']}:{cfg['PORT'] or 5432}/{name}"
    env = os.environ | {"DATABASE_URL": base, "KETACLINIC_DATA_DIR": str(tmp_path / "data")}
    assert cli(["manage", "migrate", "-v0"], env).returncode == 0
    yield env, server, name, role
    with psycopg.connect(**server, dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_the_app_role_writes_records_but_cannot_touch_the_trail(database):
    import psycopg

    env, server, name, role = database
    made = cli(["db", "roles", "--app-role", role], env)
    assert made.returncode == 0, made.stderr
    assert f"{role} may read and write the records but not alter the audit trail" in made.stdout
    again = cli(["db", "roles", "--app-role", role], env)  # idempotent: brings an existing role up to date
    assert again.returncode == 0, again.stderr

    cfg = dj_database_url.parse(env["DATABASE_URL"])
    app = env | {"DATABASE_URL": f"postgres://{role}@{cfg['HOST']}:{cfg['PORT'] or 5432}/{name}"}
    created = cli(
        ["createadmin", "--username", "ada", "--clinic-name", "Northside", "--clinic-slug", "northside",
         "--time-zone", "America/New_York"],
        app | {"KETACLINIC_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    verified = cli(["audit", "verify"], app)
    assert verified.returncode == 0 and "audit trail intact: 2 entries verified" in verified.stdout

    refused = [
        "ALTER TABLE audit_auditentry DISABLE TRIGGER USER",
        "ALTER TABLE audit_audithead DISABLE TRIGGER USER",
        "UPDATE audit_auditentry SET action = 'x'",
        "DELETE FROM audit_auditentry",
        "TRUNCATE audit_auditentry",
        "TRUNCATE audit_audithead",
        "DELETE FROM audit_audithead",
        "UPDATE ledger_ledgerentry SET seq = 0",
        "DROP TABLE audit_rowseal",
    ]
    with psycopg.connect(**(server | {"user": role}), dbname=name, autocommit=True) as conn:
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM audit_auditentry").fetchone() == (2,)


def test_serve_refuses_production_as_the_owner_and_db_roles_refuses_bad_names(database):
    env, _server, _name, _role = database
    refused = cli(["serve", "--port", "0"], env | {"KETACLINIC_SECRET_KEY": "x" * 20 + "abcdefghij" * 4})
    assert refused.returncode == 2
    assert "a superuser" in refused.stderr and "ketaclinic db roles" in refused.stderr
    for bad in ("Robert'); DROP TABLE x;--", env["DATABASE_URL"].rsplit("/", 3)[1].split("@")[0]):
        wrong = cli(["db", "roles", "--app-role", bad], env)
        assert wrong.returncode == 2 and "Nothing was changed." in wrong.stderr
