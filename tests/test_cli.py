"""The `ketaclinic` command, run for real in subprocesses against a fresh data folder."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.pg_roles import serve_env

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def run(args, data_dir, **env):
    full_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    full_env |= {"KETACLINIC_DATA_DIR": str(data_dir), **env}
    return subprocess.run(
        [sys.executable, "-m", "ketaclinic.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_createadmin_then_audit_verify_then_tamper(data_dir):
    migrate = run(["manage", "migrate", "-v0"], data_dir)
    assert migrate.returncode == 0, migrate.stderr
    made = run(
        [
            "createadmin",
            "--username",
            "ada",
            "--clinic-name",
            "Northside",
            "--clinic-slug",
            "northside",
            "--time-zone",
            "America/New_York",
        ],
        data_dir,
        KETACLINIC_ADMIN_PASSWORD="a long enough passphrase 42",
    )
    assert made.returncode == 0, made.stderr
    assert "created clinic admin 'ada'" in made.stdout

    ok = run(["audit", "verify"], data_dir)
    assert ok.returncode == 0
    assert ok.stdout.strip().startswith(
        "audit trail intact: 2 entries verified, sealed and matching the checkpoint"
    )

    db = sqlite3.connect(data_dir / "ketaclinic.sqlite3")
    db.execute("UPDATE audit_auditentry SET action = 'forged' WHERE seq = 1")
    db.commit()
    db.close()
    broken = run(["audit", "verify"], data_dir)
    assert broken.returncode == 1
    assert "audit trail BROKEN (modified): entry 1 was modified" in broken.stdout


def test_createadmin_refuses_bad_input_and_creates_nothing(data_dir):
    run(["manage", "migrate", "-v0"], data_dir)
    bad = run(
        [
            "createadmin",
            "--username",
            "ada",
            "--clinic-name",
            "Northside",
            "--clinic-slug",
            "north side!",
            "--time-zone",
            "Mars/Olympus",
        ],
        data_dir,
        KETACLINIC_ADMIN_PASSWORD="short",
    )
    assert bad.returncode == 2
    assert "time zone" in bad.stderr and "slug" in bad.stderr and "password" in bad.stderr
    assert "Nothing was created." in bad.stderr
    db = sqlite3.connect(data_dir / "ketaclinic.sqlite3")
    assert db.execute("SELECT count(*) FROM accounts_user").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM accounts_clinic").fetchone() == (0,)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_an_asgi_server_on_a_fresh_data_folder(data_dir):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "KETACLINIC_DATA_DIR": str(data_dir)
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ketaclinic.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=serve_env(env),
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    body = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.3)
        assert body == '{"status": "ok", "database": "sqlite"}'
        assert (data_dir / "ketaclinic.sqlite3").exists()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "ketaclinic createadmin" in out  # an empty installation says how to begin
    assert f"serving on http://127.0.0.1:{port}/" in out
