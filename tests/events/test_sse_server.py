"""The real ASGI server (``ketaclinic serve``, uvicorn) in a subprocess, read over HTTP as a browser would.

The data and the new observation come from other processes, as with several app servers or a
device-ingest worker: on SQLite the server finds them by polling, on PostgreSQL through NOTIFY.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from django.db import connection

from tests.pg_roles import serve_env

pytestmark = pytest.mark.slow

SETUP = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "ketaclinic.settings"
import django
django.setup()
from datetime import date
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from ketaclinic.accounts.models import Clinic, Membership, User
from ketaclinic.infusions import actions
from ketaclinic.patients.models import Patient

clinic = Clinic.objects.create(name="Northside", slug="northside", time_zone="America/New_York")
nurse = User.objects.create_user(username="nate", password="not used here 123")
Membership.objects.create(user=nurse, clinic=clinic, role="nurse")
patient = Patient.objects.create(clinic=clinic, mrn="A-1", given_name="Maria", family_name="Lopez",
                                 date_of_birth=date(1984, 3, 2), sex="female", created_by=nurse)
session = actions.schedule_session(user=nurse, clinic=clinic, patient=patient, chair="1",
                                   scheduled_at=timezone.now())
actions.transition(user=nurse, clinic=clinic, session=session, to="checked_in")
store = SessionStore()
store[SESSION_KEY] = str(nurse.pk)
store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
store[HASH_SESSION_KEY] = nurse.get_session_auth_hash()
store.create()
print(json.dumps({"session_id": session.pk, "cookie": store.session_key}))
"""

RECORD = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "ketaclinic.settings"
import django
django.setup()
from ketaclinic.infusions import actions
from ketaclinic.infusions.models import Session
session = Session.objects.select_related("clinic").get(pk=int(sys.argv[1]))
nurse = session.created_by
actions.record_observation(user=nurse, clinic=session.clinic, session=session, kind="vitals",
                           data={"systolic_mmhg": 184, "diastolic_mmhg": 96}, idempotency_key="srv-1")
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server_env(tmp_path):
    """Environment for a server on a fresh database of the vendor under test."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["KETACLINIC_DATA_DIR"] = str(tmp_path / "data")
    if connection.vendor != "postgresql":
        yield env
        return
    import psycopg

    s = connection.settings_dict
    name = f"ketaclinic_sse_{secrets.token_hex(4)}"
    admin = {
        "host": s["HOST"] or "127.0.0.1",
        "port": s["PORT"] or 5432,
        "user": s["USER"],
        "dbname": "postgres",
    }
    if s.get("PASSWORD"):
        admin["password"] = s["PASSWORD"]
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    env["DATABASE_URL"] = f"postgres://{auth}@{admin['host']}:{admin['port']}/{name}"
    yield env
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(code, env, *args):
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class SSEReader:
    """A minimal EventSource: GET with the cookie and Last-Event-ID, then parse events line by line."""

    def __init__(self, port, path, cookie, last_event_id=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Cookie": f"sessionid={cookie}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", path, headers=headers)
        self.response = self.conn.getresponse()

    def next_event(self):
        event = {}
        while True:
            line = self.response.readline().decode()
            if not line:
                raise EOFError("stream closed")
            line = line.rstrip("\n")
            if line == "":
                if "id" in event:
                    return event
                event = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                event[field] = value

    def close(self):
        self.conn.close()


def test_sse_over_http_from_a_real_server_with_resume(server_env):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ketaclinic.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=serve_env(server_env),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("server did not start")
                time.sleep(0.2)
        made = json.loads(run(SETUP, server_env))
        path = f"/infusions/{made['session_id']}/stream/"

        first = SSEReader(port, path, made["cookie"])
        assert first.response.status == 200
        assert first.response.getheader("Content-Type") == "text/event-stream"
        scheduled, checked_in = first.next_event(), first.next_event()
        assert (scheduled["event"], checked_in["event"]) == ("session", "state")
        assert json.loads(checked_in["data"])["session"]["state"] == "checked_in"

        started = time.monotonic()
        run(RECORD, server_env, str(made["session_id"]))
        committed = time.monotonic()
        live = first.next_event()
        # Polling on SQLite (1 s) or NOTIFY on PostgreSQL; the bound only catches a stream that went
        # quiet (the delay itself is measured by bench/session_bench.py, not asserted here).
        assert time.monotonic() - committed < 10.0, time.monotonic() - started
        assert live["event"] == "observation"
        payload = json.loads(live["data"])
        assert payload["observation"]["values"]["systolic_mmhg"] == 184
        assert [a["code"] for a in payload["alerts"]] == ["bp_severe"]
        first.close()

        # A browser reconnects with the last id it saw and gets exactly what came after.
        again = SSEReader(port, path, made["cookie"], last_event_id=checked_in["id"])
        assert again.next_event() == live
        again.close()
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
