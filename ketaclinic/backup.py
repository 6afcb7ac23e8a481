"""``ketaclinic backup FILE`` and ``ketaclinic restore FILE --replace``.

SQLite: the online backup API copies a consistent snapshot while the server runs (a writer in the
middle of a transaction is not copied half-done); the copy is checked (``PRAGMA integrity_check``)
before it is moved into place, owner-only (0600). PostgreSQL: ``pg_dump --format=custom`` (one
snapshot) and ``pg_restore --clean --single-transaction`` (all or nothing), PostgreSQL's own tools.

A backup carries the audit chain whole: after a restore, the migrations are applied and the audit
chain and the controlled-substance ledger are verified, and the restore reports them. A restore
of SQLite keeps the database it replaces beside it (``*.before-restore-<time>``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone


class BackupError(Exception):
    """What went wrong, in words an operator can act on; nothing was changed."""


@dataclass(frozen=True)
class Chain:
    entries: int
    head: str

    def __str__(self) -> str:
        return f"audit trail: {self.entries} entries, head {self.head[:16]}"


def _database() -> dict[str, Any]:
    return dict(settings.DATABASES["default"])


def _is_sqlite() -> bool:
    return str(_database()["ENGINE"]).endswith("sqlite3")


def backup(target: Path) -> Chain:
    """Write a consistent copy of the whole database to ``target``; returns the audit head it holds."""
    target = target.expanduser().resolve()
    if target.exists():
        raise BackupError(f"{target} exists already; give a new file name (a backup never overwrites).")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder.")
    partial = target.with_name(target.name + ".partial")
    try:
        if _is_sqlite():
            _sqlite_backup(Path(_database()["NAME"]), partial)
            chain = _sqlite_chain(partial)
        else:
            chain = _postgres_chain()
            _run(["pg_dump", "--format=custom", "--no-owner", f"--file={partial}", _dbname()])
        partial.chmod(0o600)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    return chain


@dataclass(frozen=True)
class Restored:
    chain: Chain
    anchored: bool  # the checkpoint starts from the restored trail
    kept_checkpoint: Path | None

    def __str__(self) -> str:
        return str(self.chain)


def restore(source: Path) -> Restored:
    """Replace every record with ``source``'s, apply the migrations; returns the restored audit head."""
    source = source.expanduser().resolve()
    if not source.is_file():
        raise BackupError(f"{source} is not a file.")
    connections.close_all()
    if _is_sqlite():
        chain = _sqlite_chain(source)  # refuses a file that is no ketaclinic backup before anything changes
        live = Path(_database()["NAME"])
        keep = live.with_name(f"{live.name}.before-restore-{timezone.now():%Y%m%dT%H%M%S}")
        _sqlite_backup(live, keep)
        keep.chmod(0o600)
        _sqlite_backup(source, live)
    else:
        listed = _run(["pg_restore", "--list", str(source)], capture=True)
        if "audit_auditentry" not in listed:
            raise BackupError(f"{source} is a PostgreSQL dump but not of a ketaclinic database.")
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={_dbname()}",
                str(source),
            ]
        )
        chain = _postgres_chain()
    connections.close_all()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from ketaclinic.audit.actions import reanchor_checkpoint, record

    # The checkpoint named the trail that was replaced: it starts again from the restored one
    # (when that verifies; otherwise the old one stays and `audit verify` reports both), and the
    # restore itself is the first entry after it.
    anchored, kept = reanchor_checkpoint()
    if anchored:
        record("backup.restore", detail={"file": str(source), "restored_entries": chain.entries})
    return Restored(chain, anchored, kept)


def _sqlite_backup(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        [(verdict,)] = dst.execute("PRAGMA integrity_check").fetchall()
        if verdict != "ok":
            raise BackupError(f"the copy of {source} failed SQLite's integrity check: {verdict}")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} could not be copied as a SQLite database: {exc}") from None
    finally:
        dst.close()
        src.close()


def _sqlite_chain(path: Path) -> Chain:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT seq, hash FROM audit_audithead WHERE id = 1").fetchone()
    except sqlite3.DatabaseError:
        raise BackupError(f"{path} is not a ketaclinic database (it has no audit trail).") from None
    finally:
        db.close()
    return Chain(*row) if row else Chain(0, "")


def _postgres_chain() -> Chain:
    from ketaclinic.audit.models import AuditHead

    head = AuditHead.objects.filter(id=1).first()
    connections.close_all()
    return Chain(head.seq, head.hash) if head else Chain(0, "")


def _dbname() -> str:
    """A libpq connection string for the configured database (the password goes by environment)."""
    db = _database()
    parts = {"host": db.get("HOST"), "port": db.get("PORT"), "user": db.get("USER"), "dbname": db.get("NAME")}
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def _run(command: list[str], *, capture: bool = False) -> str:
    tool = command[0]
    if shutil.which(tool) is None:
        raise BackupError(
            f"{tool} is not installed; install PostgreSQL's client tools (Debian: postgresql-client)."
        )
    env = os.environ | ({"PGPASSWORD": str(_database()["PASSWORD"])} if _database().get("PASSWORD") else {})
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{tool} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout if capture else ""
