"""API authentication: bearer tokens and the browser session (with CSRF), and the docs."""

from __future__ import annotations

import re
from datetime import timedelta

from django.test import Client
from django.urls import reverse

from ketaclinic.accounts import actions
from ketaclinic.accounts.models import ApiToken, Membership
from ketaclinic.audit.models import AuditEntry
from tests.api.conftest import ApiClient, token_for


def test_token_identifies_membership_and_clinic(nurse, clinic_a):
    raw = token_for(nurse)
    response = ApiClient(raw).get("/api/me")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "nate" and body["role"] == "nurse" and body["clinic_slug"] == "northside"
    assert body["time_zone"] == "America/New_York"
    assert "patients.intake" in body["permissions"] and "users.manage" not in body["permissions"]
    token = ApiToken.objects.get()
    assert token.last_used_at is not None


def test_last_used_is_written_once_a_minute_not_once_a_request(nurse):
    raw = token_for(nurse)
    client = ApiClient(raw)
    client.get("/api/me")
    first = ApiToken.objects.get().last_used_at
    client.get("/api/me")
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/me")
    assert ApiToken.objects.get().last_used_at > first


def test_no_or_bad_credentials_are_401(nurse):
    assert ApiClient(None).get("/api/me").status_code == 401
    assert ApiClient("kc_not-a-token").get("/api/me").status_code == 401
    assert ApiClient("kc_not-a-token").post("/api/patients", {}).status_code == 401
    response = Client().get("/api/me", headers={"Authorization": "Basic bmF0ZTp4"})
    assert response.status_code == 401


def test_revoked_token_is_refused(nurse):
    raw = token_for(nurse)
    token = ApiToken.objects.get()
    actions.revoke_token(nurse, token)
    assert ApiClient(raw).get("/api/me").status_code == 401


def test_deactivated_membership_or_user_is_refused(nurse, clinic_admin):
    raw = token_for(nurse)
    m = Membership.objects.get(user=nurse)
    actions.set_active(Membership.objects.get(user=clinic_admin), m, False)
    assert ApiClient(raw).get("/api/me").status_code == 401
    actions.set_active(Membership.objects.get(user=clinic_admin), m, True)
    assert ApiClient(raw).get("/api/me").status_code == 200
    nurse.is_active = False
    nurse.save()
    assert ApiClient(raw).get("/api/me").status_code == 401


def test_token_of_clinic_b_works_in_clinic_b_only(outsider, patient):
    api = ApiClient(token_for(outsider))
    assert api.get("/api/me").json()["clinic_slug"] == "southside"
    assert api.get(f"/api/patients/{patient.pk}").status_code == 404
    assert api.get("/api/patients").json() == {"count": 0, "items": []}


def test_session_auth_for_reads(login, nurse, patient):
    client = login(nurse)
    response = client.get(f"/api/patients/{patient.pk}")
    assert response.status_code == 200 and response.json()["mrn"] == "A-1001"
    assert AuditEntry.objects.filter(action="patient.view", patient_id=patient.pk, user=nurse).count() == 1


def test_session_writes_need_csrf(nurse, patient):
    client = Client(enforce_csrf_checks=True)
    client.force_login(nurse)
    url = f"/api/patients/{patient.pk}/weights"
    response = client.post(url, {"value": "70", "unit": "kg"}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not patient.weights.exists()

    page = client.get(reverse("accounts-tokens"))
    csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page.content.decode()).group(1)
    response = client.post(
        url, {"value": "70", "unit": "kg"}, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert response.status_code == 201
    assert patient.weights.get().weight_kg == 70


def test_token_writes_need_no_csrf(nurse, patient):
    client = ApiClient(token_for(nurse))
    client.client = Client(enforce_csrf_checks=True)
    response = client.post(f"/api/patients/{patient.pk}/weights", {"value": "154", "unit": "lb"})
    assert response.status_code == 201
    assert response.json()["weight_kg"] == "69.85"


def test_bad_token_does_not_fall_back_to_session(login, nurse):
    client = login(nurse)
    assert client.get("/api/me").status_code == 200
    assert client.get("/api/me", headers={"Authorization": "Bearer kc_wrong"}).status_code == 401


def test_session_without_active_clinic(client, nurse, clinic_b):
    # Two clinics and none chosen: the API cannot tell which clinic is meant.
    Membership.objects.create(user=nurse, clinic=clinic_b, role="nurse")
    client.force_login(nurse)
    response = client.get("/api/me")
    assert response.status_code == 403 and "Choose a clinic" in response.json()["detail"]


def test_role_is_checked_before_the_body(frontdesk, patient):
    # A front-desk token may not record weights; it learns that, not what the body lacks.
    response = ApiClient(token_for(frontdesk)).post(f"/api/patients/{patient.pk}/weights", {"garbage": 1})
    assert response.status_code == 403
    assert "patients.record_weight" in response.json()["detail"]


def test_openapi_document_and_local_docs(client):
    schema = client.get("/api/openapi.json")
    assert schema.status_code == 200
    doc = schema.json()
    assert doc["info"]["title"] == "ketaclinic API" and doc["info"]["version"] == "1"
    assert doc["components"]["securitySchemes"]["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    assert "/api/patients/{patient_id}/screening" in doc["paths"]

    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.content.decode()
    # Every script and stylesheet comes from this server, never a CDN.
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    assert "cdn" not in html.lower()
    for src in sources:
        assert client.get(src).status_code == 200, src
