"""Reliability: the real server is SIGKILLed mid-infusion and restarted; nothing acknowledged is lost.

A session is set up by another process through the actions, started, and observed through the chair
view's forms over HTTP (each observation acknowledged by a 200). The server is then SIGKILLed, as a
power cut or an OOM kill would, and a new one started on the same database. The session must still
be dosing, every acknowledged observation must be there exactly once (a client retrying after the
crash with the same idempotency key stores nothing new), and a live stream opened with the
``Last-Event-ID`` the browser last saw must replay what followed, then carry new events.
"""

# The setup scripts run in a subprocess and keep their statements whole on one line.
# ruff: noqa: E501
from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlencode

import pytest

from tests.events.test_sse_server import SSEReader, _free_port, run, server_env  # noqa: F401 (fixture)
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
from ketaclinic.accounts.models import Clinic, Membership, User
from ketaclinic.infusions import actions
from ketaclinic.patients.models import Patient
from tests.infusions.conftest import make_order, ready_for_dosing, scheduled

clinic = Clinic.objects.create(name="Northside", slug="northside", time_zone="America/New_York")
def user(name, role):
    u = User.objects.create_user(username=name, password="not used here 123")
    Membership.objects.create(user=u, clinic=clinic, role=role)
    return u
prescriber, nurse, admin, desk = user("pat", "prescriber"), user("nate", "nurse"), user("ada", "admin"), user("fred", "frontdesk")
patient = Patient.objects.create(clinic=clinic, mrn="A-1", given_name="Maria", family_name="Lopez",
                                 date_of_birth=date(1984, 3, 2), sex="female", height_cm=165, created_by=nurse)
order = make_order(clinic, prescriber, nurse, patient, admin)
session = ready_for_dosing(nurse, clinic, scheduled(desk, nurse, clinic, order))
store = SessionStore()
store[SESSION_KEY] = str(nurse.pk)
store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
store[HASH_SESSION_KEY] = nurse.get_session_auth_hash()
store.create()
print(json.dumps({"session_id": session.pk, "cookie": store.session_key}))
"""

CHECK = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "ketaclinic.settings"
import django
django.setup()
from ketaclinic.infusions.models import DosingEvent, Observation, Session
s = Session.objects.get(pk=int(sys.argv[1]))
print(json.dumps({"state": s.state,
                  "keys": sorted(Observation.objects.filter(session=s).values_list("idempotency_key", flat=True)),
                  "doses": list(DosingEvent.objects.filter(session=s).values_list("kind", flat=True))}))
"""


def start_server(port, env):
    server = subprocess.Popen(
        [sys.executable, "-m", "ketaclinic.cli", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=serve_env(env),
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("server did not start")
            time.sleep(0.2)


class Browser:
    """Cookie, CSRF token and htmx headers, as the chair page's forms send them."""

    def __init__(self, port, cookie):
        self.port, self.cookie, self.csrf = port, cookie, ""

    def _conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def _cookies(self):
        return f"sessionid={self.cookie}" + (f"; csrftoken={self.csrf_cookie}" if self.csrf else "")

    def get(self, path):
        conn = self._conn()
        conn.request("GET", path, headers={"Cookie": self._cookies()})
        resp = conn.getresponse()
        body = resp.read().decode()
        for header, value in resp.getheaders():
            if header.lower() == "set-cookie" and value.startswith("csrftoken="):
                self.csrf_cookie = value.split(";")[0].split("=", 1)[1]
        match = re.search(r'"X-CSRFToken": "([^"]+)"', body)
        if match:
            self.csrf = match.group(1)
        conn.close()
        return resp.status, body

    def post(self, path, data):
        conn = self._conn()
        headers = {
            "Cookie": self._cookies(),
            "X-CSRFToken": self.csrf,
            "HX-Request": "true",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        conn.request("POST", path, body=urlencode(data), headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
        return resp.status, body


def test_sigkill_mid_infusion_loses_nothing_acknowledged(server_env):  # noqa: F811, PLR0915 - one story
    port = _free_port()
    server = start_server(port, server_env)
    try:
        made = json.loads(run(SETUP, server_env))
        sid = made["session_id"]
        browser = Browser(port, made["cookie"])
        status, page = browser.get(f"/infusions/{sid}/")
        assert status == 200 and browser.csrf
        stream = SSEReader(port, f"/infusions/{sid}/stream/", made["cookie"])
        seen = [stream.next_event() for _ in range(6)]  # schedule .. pre-dose done: the setup's events
        assert json.loads(seen[-1]["data"])["session"]["state"] == "predose_done"
        status, body = browser.post(
            f"/infusions/{sid}/dose/", {"kind": "start", "idempotency_key": "start-1"}
        )
        assert status == 200 and 'data-state="dosing"' in body
        acked = []
        for n in range(5):
            key = f"obs-{n}"
            data = {"kind": "vitals", "idempotency_key": key, "systolic_mmhg": 125 + n, "diastolic_mmhg": 80}
            status, body = browser.post(f"/infusions/{sid}/observe/", data | {"heart_rate_bpm": 70})
            assert status == 200
            acked.append(key)
        last_seen = stream.next_event()  # the start of dosing, as the browser saw it before the crash
        assert last_seen["event"] == "state"
        stream.close()
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(5)

    server = start_server(port, server_env)
    try:
        after = json.loads(run(CHECK, server_env, str(sid)))
        assert after["state"] == "dosing"
        assert set(acked) <= set(after["keys"]) and after["doses"] == ["start"]
        # The client did not see the last answer (say) and retries it: stored once.
        browser = Browser(port, made["cookie"])
        browser.get(f"/infusions/{sid}/")
        data = {"kind": "vitals", "idempotency_key": "obs-4", "systolic_mmhg": 129, "diastolic_mmhg": 80}
        status, _ = browser.post(f"/infusions/{sid}/observe/", data | {"heart_rate_bpm": 70})
        assert status == 200
        assert json.loads(run(CHECK, server_env, str(sid)))["keys"].count("obs-4") == 1
        # The browser reconnects with the last id it saw: it gets the five observations it missed.
        resumed = SSEReader(port, f"/infusions/{sid}/stream/", made["cookie"], last_event_id=last_seen["id"])
        replay = [resumed.next_event() for _ in range(6)]  # the start's dose event, then 5 observations
        kinds = [e["event"] for e in replay]
        assert kinds == ["dose", *["observation"] * 5]
        keys = [json.loads(e["data"])["observation"]["id"] for e in replay[1:]]
        assert len(set(keys)) == 5
        assert int(replay[0]["id"]) > int(last_seen["id"])
        # ... and then live events from the new server.
        status, _ = browser.post(
            f"/infusions/{sid}/observe/", {"kind": "note", "idempotency_key": "n1", "text": "calm"}
        )
        assert status == 200
        live = resumed.next_event()
        assert live["event"] == "observation" and json.loads(live["data"])["observation"]["kind"] == "note"
        resumed.close()
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
