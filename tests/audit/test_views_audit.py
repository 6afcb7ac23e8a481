"""The audit trail pages: one clinic's entries, filtered, paginated, exported, and the chain check."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from ketaclinic.audit.actions import record
from ketaclinic.audit.models import AuditEntry


@pytest.fixture
def trail(clinic_a, clinic_b, personas, patient):
    """A few entries in each clinic, at known instants."""
    nurse, prescriber, outsider = personas["nurse"], personas["prescriber"], personas["outsider"]
    # 2024-03-10 03:30 UTC is 2024-03-09 22:30 in New York (clinic A's zone).
    with time_machine.travel(datetime(2024, 3, 10, 3, 30, tzinfo=UTC), tick=False):
        record("patient.view", user=nurse, clinic=clinic_a, obj=patient, patient_id=patient.pk)
    with time_machine.travel(datetime(2024, 3, 11, 15, 0, tzinfo=UTC), tick=False):
        record(
            "patient.update",
            user=prescriber,
            clinic=clinic_a,
            obj=patient,
            patient_id=patient.pk,
            detail={"changed": ["phone"]},
        )
        record("user.create", user=prescriber, clinic=clinic_a, detail={"username": "=cmd|calc"})
    with time_machine.travel(datetime(2024, 3, 11, 16, 0, tzinfo=UTC), tick=False):
        record("patient.view", user=outsider, clinic=clinic_b, detail={"secret": "southside-only"})


def test_auditor_sees_only_their_clinic(login, auditor, trail):
    response = login(auditor).get(reverse("audit-list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "southside-only" not in body and "bea" not in body
    assert body.count("patient.view</code>") == 1
    assert "3 entries" in body


def test_times_are_shown_in_the_clinic_zone(login, auditor, trail):
    body = login(auditor).get(reverse("audit-list")).content.decode()
    assert "2024-03-09 22:30:00" in body  # 03:30 UTC in America/New_York
    assert "2024-03-10 03:30:00" not in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"user": "nate"}, ["patient.view"]),
        ({"action": "patient.update"}, ["patient.update"]),
        ({"patient": "a-1001"}, ["patient.view", "patient.update"]),
        # Dates are days in the clinic's zone: 2024-03-09 New York holds the 03:30 UTC entry.
        ({"date_from": "2024-03-09", "date_to": "2024-03-09"}, ["patient.view"]),
        ({"date_from": "2024-03-10"}, ["patient.update", "user.create"]),
    ],
)
def test_filters(login, auditor, trail, query, expected):
    response = login(auditor).get(reverse("audit-list"), query)
    assert response.status_code == 200
    shown = sorted(e.action for e, _ in response.context["rows"])
    assert shown == sorted(expected)


def test_bad_filters_are_named(login, auditor, trail):
    client = login(auditor)
    response = client.get(reverse("audit-list"), {"date_from": "2024-03-12", "date_to": "2024-03-01"})
    assert response.status_code == 422
    assert "end date is before the start date" in response.content.decode()
    response = client.get(reverse("audit-list"), {"patient": "NOPE-1"})
    assert "No patient with MRN NOPE-1" in response.content.decode()
    response = client.get(reverse("audit-list"), {"date_from": "yesterday"})
    assert response.status_code == 422 and "Enter a valid date" in response.content.decode()


def test_htmx_gets_the_fragment(login, auditor, trail):
    response = login(auditor).get(reverse("audit-list"), {"user": "nate"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body and "patient.view" in body


def test_pagination_and_query_count(login, clinic_admin, clinic_a, django_assert_max_num_queries):
    for i in range(120):
        record("patient.view", user=clinic_admin, clinic=clinic_a, detail={"i": i})
    client = login(clinic_admin)
    # 12, and the audit.view entry the browsing itself leaves (one insert past the head's lock).
    with django_assert_max_num_queries(13):
        page1 = client.get(reverse("audit-list"))
    assert len(page1.context["rows"]) == 50
    assert page1.context["rows"][0][0].detail == {"i": 119}  # newest first
    with django_assert_max_num_queries(13):
        page3 = client.get(reverse("audit-list"), {"page": 3, "user": "ada", "action": "patient.view"})
    assert [e.detail["i"] for e, _ in page3.context["rows"]] == list(range(19, -1, -1))
    assert "page 3 of 3" in page3.content.decode()


def test_only_admin_and_auditor(login, personas, trail):
    for name in ("prescriber", "nurse", "frontdesk"):
        client = login(personas[name])
        for url in ("audit-list", "audit-export", "audit-verify"):
            assert client.get(reverse(url)).status_code == 403
    assert login(personas["admin"]).get(reverse("audit-list")).status_code == 200


def test_export_csv(login, auditor, trail, clinic_a):
    with time_machine.travel(datetime(2024, 4, 1, 12, 0, tzinfo=UTC), tick=False):
        response = login(auditor).get(reverse("audit-export"), {"patient": "A-1001"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="audit-northside-20240401.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["patient.view", "patient.update"]
    assert rows[0]["time"] == "2024-03-09T22:30:00-05:00"
    assert rows[0]["time_utc"] == "2024-03-10T03:30:00+00:00"
    assert rows[0]["patient_mrn"] == "A-1001" and rows[0]["username"] == "nate"
    assert rows[1]["detail"] == '{"changed": ["phone"]}'
    # The export itself is on the trail, with its filter.
    entry = AuditEntry.objects.get(action="audit.export")
    assert entry.user == auditor and entry.clinic == clinic_a
    assert entry.detail["filters"]["patient"] == "A-1001"


def test_export_neutralises_spreadsheet_formulas_and_other_clinics(login, auditor, trail):
    response = login(auditor).get(reverse("audit-export"))
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert "southside-only" not in text
    created = next(r for r in rows if r["action"] == "user.create")
    assert created["detail"] == '{"username": "=cmd|calc"}'  # inside JSON, starts with "{"
    assert all(not v.startswith(("=", "+", "@")) for r in rows for v in r.values())


def test_verify_page(login, auditor, trail):
    response = login(auditor).get(reverse("audit-verify"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "intact" in body and "All 4 entries" in body


@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL refuses the UPDATE (trigger)")
def test_verify_page_reports_tampering(login, auditor, trail):
    victim = AuditEntry.objects.get(action="patient.update")
    AuditEntry.objects.filter(pk=victim.pk).update(detail={"changed": ["nothing"]})
    body = login(auditor).get(reverse("audit-verify")).content.decode()
    assert "broken" in body and f"entry {victim.seq} was modified" in body
