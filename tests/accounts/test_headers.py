"""Answers are kept out of caches, and HTTPS is pinned once the clinic serves over it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.urls import reverse

from tests.api.conftest import ApiClient, token_for


def test_a_chart_is_never_cached(login, nurse, patient):
    response = login(nurse).get(reverse("patients-detail", kwargs={"patient_id": patient.pk}))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_sign_in_page_and_an_api_answer_are_never_cached(client, nurse, patient):
    assert client.get(reverse("accounts-login"))["Cache-Control"] == "no-store"
    response = ApiClient(token_for(nurse)).get(f"/api/patients/{patient.pk}")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("secure", "hsts"), [("true", 31536000), ("false", 0)])
def test_secure_cookies_pin_https_for_a_year(tmp_path, secure, hsts):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "KETACLINIC_DATA_DIR": str(tmp_path),
        "KETACLINIC_SECURE_COOKIES": secure,
        "DJANGO_SETTINGS_MODULE": "ketaclinic.settings",
    }
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps([s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE]))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [hsts, secure == "true", secure == "true"]


def test_every_answer_carries_a_policy_that_runs_only_the_servers_own_scripts(login, nurse, patient, client):
    from ketaclinic.web import CONTENT_SECURITY_POLICY

    page = login(nurse).get(reverse("patients-detail", kwargs={"patient_id": patient.pk}))
    api = ApiClient(token_for(nurse)).get(f"/api/patients/{patient.pk}")
    signin = client.get(reverse("accounts-login"))
    for response in (page, api, signin):
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"


def test_no_template_holds_an_inline_script_or_handler():
    """The policy blocks them, so one would silently stop working: keep scripts in static files and
    behaviours in data attributes (static/ketaclinic/session.js)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "ketaclinic" / "templates"
    found = []
    for path in root.rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text):
            found.append(f"{path.relative_to(root)}: {match.group(0)}")
        for match in re.finditer(r"\s(on[a-z]+|hx-on[:\w-]*)=", text):
            found.append(f"{path.relative_to(root)}: {match.group(1)}=")
    assert not found, found
