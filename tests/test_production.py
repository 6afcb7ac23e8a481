"""`ketaclinic serve` without --demo refuses an insecure configuration, saying how to fix it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ketaclinic import production
from ketaclinic.accounts.models import User
from ketaclinic.accounts.passwords import DEMO_PASSWORD

STRONG_KEY = "k3y-" + "x1Y2z3W4v5" * 6


@pytest.fixture
def safe(settings, monkeypatch):
    # The PostgreSQL pass connects as a superuser, which serve refuses; that refusal, against real
    # roles, is tests/test_dbroles.py's. Here the other checks, on either database.
    monkeypatch.setattr(production.dbroles, "weaknesses", list)
    settings.DEBUG = False
    settings.SECRET_KEY = STRONG_KEY
    settings.SESSION_COOKIE_SECURE = False
    return settings


@pytest.mark.django_db
def test_a_safe_local_configuration_has_no_problems(safe):
    assert production.problems("127.0.0.1") == []
    assert production.problems("localhost") == []
    assert production.problems("[::1]") == []


@pytest.mark.django_db
def test_debug_pages_are_refused(safe):
    safe.DEBUG = True
    [problem] = production.problems("127.0.0.1")
    assert problem.startswith("KETACLINIC_DEBUG is on")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "words"),
    [("x", "(1 characters, 1 different)"), ("ab" * 40, "(80 characters, 2 different)")],
)
def test_a_weak_secret_key_is_refused(safe, key, words):
    safe.SECRET_KEY = key
    [problem] = production.problems("127.0.0.1")
    assert problem.startswith(f"KETACLINIC_SECRET_KEY is too weak {words}")
    assert "token_urlsafe(50)" in problem


@pytest.mark.django_db
def test_plain_http_to_the_network_is_refused_and_tls_allows_it(safe):
    [problem] = production.problems("0.0.0.0")  # noqa: S104
    assert problem.startswith("Serving on 0.0.0.0 to the network over plain HTTP")
    assert production.problems("192.168.1.20") == [problem.replace("0.0.0.0", "192.168.1.20")]  # noqa: S104
    safe.SESSION_COOKIE_SECURE = True
    assert production.problems("0.0.0.0") == []  # noqa: S104


@pytest.mark.django_db
def test_demo_accounts_with_the_published_password_are_refused(safe):
    User.objects.create_user(username="nurse.north", password=DEMO_PASSWORD)
    User.objects.create_user(username="admin.north", password="a different, private password")
    User.objects.create_user(username="auditor.lakes", password=DEMO_PASSWORD, is_active=False)
    User.objects.create_user(username="someone", password=DEMO_PASSWORD)  # not a demo account
    [problem] = production.problems("127.0.0.1")
    assert problem.startswith(
        "This database holds the demo's accounts with the published demo password (nurse.north)."
    )


def test_serve_refuses_to_start_and_says_why(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "KETACLINIC_DATA_DIR": str(tmp_path / "data"),
        "KETACLINIC_DEBUG": "true",
        "KETACLINIC_SECRET_KEY": "x",
    }
    done = subprocess.run(
        [sys.executable, "-m", "ketaclinic.cli", "serve", "--host", "0.0.0.0", "--port", "1"],  # noqa: S104
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "ketaclinic: refusing to serve, the configuration is not safe for patients:"
    assert lines[1].startswith("  - KETACLINIC_DEBUG is on: ")
    assert lines[2].startswith("  - KETACLINIC_SECRET_KEY is too weak (1 characters, 1 different): ")
    assert lines[3].startswith("  - Serving on 0.0.0.0 to the network over plain HTTP ")
    assert lines[4:] == ["  (docs/operations.md: running in production)"]
    assert "serving on" not in done.stdout
