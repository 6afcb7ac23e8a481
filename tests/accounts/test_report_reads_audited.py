"""Reading the limits report (page, CSV, API) and browsing the audit trail are audited: both name
patients and staff (issue 13)."""

from __future__ import annotations

from django.urls import reverse

from ketaclinic.audit.models import AuditEntry
from tests.api.conftest import ApiClient, token_for


def last(action):
    return AuditEntry.objects.filter(action=action).order_by("-seq").first()


def test_the_limits_report_page_and_csv_are_audited(login, auditor, clinic_a):
    client = login(auditor)
    url = reverse("protocols-limits-report")
    assert client.get(url, {"from": "2026-01-01", "to": "2026-01-31", "event": "refusal"}).status_code == 200
    entry = last("report.limits_view")
    assert (entry.user, entry.clinic, entry.detail) == (
        auditor,
        clinic_a,
        {"from": "2026-01-01", "to": "2026-01-31", "event": "refusal"},
    )
    assert client.get(url, {"format": "csv"}).status_code == 200
    assert last("report.limits_export").user == auditor


def test_the_limits_report_api_is_audited(auditor, clinic_a):
    response = ApiClient(token_for(auditor)).get("/api/reports/limits?from=2026-02-01&to=2026-02-10")
    assert response.status_code == 200
    entry = last("report.limits_api")
    assert (entry.user, entry.clinic, entry.detail) == (
        auditor,
        clinic_a,
        {"from": "2026-02-01", "to": "2026-02-10", "event": ""},
    )


def test_browsing_the_audit_trail_is_audited(login, clinic_admin, clinic_a):
    response = login(clinic_admin).get(reverse("audit-list"), {"date_from": "2026-01-01"})
    assert response.status_code == 200
    entry = last("audit.view")
    assert (entry.user, entry.clinic) == (clinic_admin, clinic_a)
    assert entry.detail == {"filters": {"date_from": "2026-01-01"}, "page": 1}
