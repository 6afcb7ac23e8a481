"""The data folder holds patient records and the secret key: its owner alone may read it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def migrate(data: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KETACLINIC_SECRET_KEY")}
    env["KETACLINIC_DATA_DIR"] = str(data)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )


@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="the SQLite file exists only without DATABASE_URL"
)
def test_a_new_data_folder_and_its_files_are_owner_only(tmp_path):
    data = tmp_path / "data"
    migrate(data)
    assert mode(data) == 0o700
    assert mode(data / "ketaclinic.sqlite3") == 0o600
    assert mode(data / "secret_key") == 0o600 and len((data / "secret_key").read_text()) > 40
    for journal in data.glob("ketaclinic.sqlite3-*"):  # WAL and shared memory, when present
        assert mode(journal) & 0o077 == 0, journal


@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="the SQLite file exists only without DATABASE_URL"
)
def test_an_existing_readable_folder_is_closed_and_keeps_its_key(tmp_path):
    data = tmp_path / "data"
    migrate(data)
    key = (data / "secret_key").read_text()
    data.chmod(0o755)
    (data / "ketaclinic.sqlite3").chmod(0o644)
    (data / "secret_key").chmod(0o644)
    migrate(data)
    assert (mode(data), mode(data / "ketaclinic.sqlite3"), mode(data / "secret_key")) == (0o700, 0o600, 0o600)
    assert (data / "secret_key").read_text() == key
