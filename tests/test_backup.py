"""`ketaclinic backup` and `restore`: a round trip brings back exactly what was backed up, with
its audit chain intact, on SQLite and on PostgreSQL; bad input changes nothing."""

from __future__ import annotations

import os
import sqlite3
import stat

import dj_database_url
import pytest

from tests.clirun import cli

ADMIN_PASSWORD = "a long enough passphrase 42"


def intact(entries, rows):
    return (
        f"audit trail intact: {entries} entries verified, sealed and matching the checkpoint; "
        f"{rows} clinical rows match their seals"
    )


def createadmin(env, slug):
    made = cli(
        ["createadmin", "--username", f"ada-{slug}", "--clinic-name", slug.title(), "--clinic-slug", slug,
         "--time-zone", "America/New_York"],
        env | {"KETACLINIC_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr


def round_trip(env, tmp_path):
    """Back up one clinic, add a second, restore: the second is gone and the chain verifies."""
    assert cli(["manage", "migrate", "-v0"], env).returncode == 0
    createadmin(env, "northside")
    copy = tmp_path / "clinic.backup"
    made = cli(["backup", str(copy)], env)
    assert made.returncode == 0, made.stderr
    assert "(audit trail: 2 entries, head " in made.stdout
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600

    createadmin(env, "lakeside")
    assert cli(["audit", "verify"], env).stdout.strip() == intact(4, 4)

    refused = cli(["restore", str(copy)], env)
    assert refused.returncode == 2 and "run again with --replace" in refused.stderr
    assert cli(["audit", "verify"], env).stdout.strip() == intact(4, 4)

    restored = cli(["restore", str(copy), "--replace"], env)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    lines = restored.stdout.splitlines()
    assert lines[0].startswith(f"ketaclinic: restored {copy} (audit trail: 2 entries, head ")
    # The checkpoint of the trail it replaced (4 entries) is kept; the new one starts from the
    # restored trail, and the restore is its next entry.
    assert lines[1].startswith("ketaclinic: the audit checkpoint of the replaced trail is kept at ")
    assert lines[2] == intact(3, 4)
    assert lines[3].startswith("ledger intact: 0 entries verified")
    clinics = cli(["manage", "shell", "-c", "from ketaclinic.accounts.models import Clinic; "
                   "print(sorted(Clinic.objects.values_list('slug', flat=True)))"], env)  # fmt: skip
    assert clinics.stdout.strip().splitlines()[-1] == "['northside']"
    return copy


def test_a_sqlite_round_trip_restores_what_was_backed_up(tmp_path):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"KETACLINIC_DATA_DIR": str(data)}
    copy = round_trip(env, tmp_path)
    # The database it replaced is kept beside it, owner-only.
    [kept] = data.glob("ketaclinic.sqlite3.before-restore-*")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert sqlite3.connect(kept).execute("SELECT count(*) FROM accounts_clinic").fetchone() == (2,)

    # A backup never overwrites; a file that is no ketaclinic database is refused before anything changes.
    again = cli(["backup", str(copy)], env)
    assert (
        again.returncode == 2 and "exists already" in again.stderr and "Nothing was written." in again.stderr
    )
    stranger = tmp_path / "other.sqlite3"
    sqlite3.connect(stranger).execute("CREATE TABLE t (x)").connection.commit()
    for bad in (stranger, tmp_path / "missing.backup"):
        refused = cli(["restore", str(bad), "--replace"], env)
        assert refused.returncode == 2 and "Nothing was changed." in refused.stderr, refused.stderr
    assert "not a ketaclinic database" in cli(["restore", str(stranger), "--replace"], env).stderr
    assert cli(["audit", "verify"], env).stdout.strip() == intact(3, 4)


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="the PostgreSQL pass runs this"
)
def test_a_postgresql_round_trip_restores_what_was_backed_up(tmp_path):
    import psycopg

    cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
    name = f"ketaclinic_backup_{os.getpid()}"
    admin = {"host": cfg["HOST"], "port": cfg["PORT"] or 5432, "user": cfg["USER"], "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgres://{cfg['USER']}@{cfg['HOST']}:{cfg['PORT'] or 5432}/{name}"
    env = os.environ | {"DATABASE_URL": url, "KETACLINIC_DATA_DIR": str(tmp_path / "data")}
    try:
        copy = round_trip(env, tmp_path)
        stranger = tmp_path / "stranger.dump"
        stranger.write_text("not a dump")
        refused = cli(["restore", str(stranger), "--replace"], env)
        assert refused.returncode == 2 and "pg_restore failed" in refused.stderr
        assert cli(["audit", "verify"], env).stdout.strip() == intact(3, 4)
        assert copy.exists()
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
