"""The chart page: what it shows, to whom, and that every read of it is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients import actions, views
from ketaclinic.patients.models import ConsentText, WeightMeasurement


def chart_url(patient):
    return reverse("patients-detail", kwargs={"patient_id": patient.pk})


def test_every_chart_read_is_audited(login, frontdesk, clinic_a, patient):
    client = login(frontdesk)
    client.get(chart_url(patient))
    response = client.get(chart_url(patient), REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    reads = AuditEntry.objects.filter(action="patient.view", patient_id=patient.pk).order_by("seq")
    assert reads.count() == 2
    last = reads.last()
    assert (last.user, last.clinic, last.client_addr) == (frontdesk, clinic_a, "10.1.2.3")
    assert last.detail == {"role": "frontdesk", "clinical": False}


def test_chart_summary(login, nurse, clinic_a, patient):
    patient.allergies = "sulfa drugs"
    patient.indications = ["chronic_pain", "ptsd"]
    patient.chronic_pain_type = "CRPS"
    patient.emergency_contact_name = "Rosa Lopez"
    patient.save()
    actions.record_weight(
        user=nurse, clinic=clinic_a, patient=patient, value="154", unit="lb", measured_at="2025-05-01T09:30"
    )
    with time_machine.travel(datetime(2026, 1, 15, 15, 0, tzinfo=UTC), tick=False):
        response = login(nurse).get(chart_url(patient))
    html = response.content.decode()

    assert "Maria Lopez" in html and "MRN A-1001" in html and "41 y" in html
    assert "⚠ sulfa drugs" in html
    assert "Chronic pain (CRPS); PTSD" in html
    assert "Carlos Lopez" in html and "Rosa Lopez" in html
    # 154 lb = 69.85 kg; the entry keeps its unit, the current weight shows both
    assert '69.85 <span class="unit">kg</span>' in html
    assert '154.00 <span class="unit">lb</span>' in html
    assert "measured 2025-05-01 09:30" in html
    assert "Nate, RN" in html  # who recorded it
    assert "<svg" in html and "<circle" in html
    # the chart's own audit history, in the clinic's zone (15:00 UTC = 10:00 in New York)
    assert "2026-01-15 10:00:00" in html
    assert "patient.weight_record" in html and "patient.view" in html


def test_pregnancy_is_flagged_with_its_source(login, nurse, patient):
    patient.pregnancy_status = "pregnant"
    patient.save()
    html = login(nurse).get(chart_url(patient)).content.decode()
    assert "not recommended in pregnancy" in html and "[S38][S30]" in html


def test_front_desk_does_not_get_clinical_sections(login, frontdesk, patient, monkeypatch):
    calls = []
    monkeypatch.setattr(views, "clinical_summary", lambda p: calls.append(p) or {})
    response = login(frontdesk).get(chart_url(patient))

    assert response.status_code == 200
    assert response.context["clinical"] is None and calls == []
    assert "patients/_chart_clinical.html" not in [t.name for t in response.templates]


@pytest.mark.parametrize("role", ["nurse", "prescriber", "auditor"])
def test_clinical_roles_get_clinical_sections(login, personas, patient, role):
    response = login(personas[role]).get(chart_url(patient))
    assert response.status_code == 200
    assert response.context["clinical"] is not None
    assert "patients/_chart_clinical.html" in [t.name for t in response.templates]


def test_frontdesk_sees_no_audit_details(login, frontdesk, nurse, clinic_a, patient):
    actions.record_weight(user=nurse, clinic=clinic_a, patient=patient, value="70", unit="kg")
    html = login(frontdesk).get(chart_url(patient)).content.decode()
    assert "patient.weight_record" in html
    assert "weight_kg: 70" not in html


def test_outsider_gets_404_everywhere_on_another_clinics_patient(login, outsider, nurse, clinic_a, patient):
    weight = actions.record_weight(user=nurse, clinic=clinic_a, patient=patient, value="70", unit="kg")
    text = ConsentText.objects.create(
        clinic=clinic_a, title="Ketamine", version="1", body="...", created_by=nurse
    )
    client = login(outsider)
    before = AuditEntry.objects.count()
    urls = [
        chart_url(patient),
        reverse("patients-edit", kwargs={"patient_id": patient.pk}),
        reverse("patients-weight-add", kwargs={"patient_id": patient.pk}),
        reverse("patients-weight-correct", kwargs={"patient_id": patient.pk, "weight_id": weight.pk}),
        reverse("patients-consent-add", kwargs={"patient_id": patient.pk}),
        reverse("patients-consent-text", kwargs={"text_id": text.pk}),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"value": "1", "unit": "kg", "reason": "x"}).status_code == 404, url
    assert AuditEntry.objects.count() == before
    assert WeightMeasurement.objects.count() == 1
    patient.refresh_from_db()
    assert patient.given_name == "Maria"


def test_view_chart_action_refuses_another_clinic(outsider, clinic_b, patient):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        actions.view_chart(user=outsider, clinic=clinic_b, patient=patient)
    assert not AuditEntry.objects.filter(action="patient.view").exists()


def test_weight_trend_points_follow_time_and_value(nurse, clinic_a, patient):
    for when, kg in [("2025-01-01T08:00", "80"), ("2025-03-01T08:00", "78"), ("2025-02-01T08:00", "82")]:
        actions.record_weight(
            user=nurse, clinic=clinic_a, patient=patient, value=kg, unit="kg", measured_at=when
        )
    weights = list(WeightMeasurement.objects.order_by("measured_at"))
    trend = views.weight_trend(weights)
    xs = [p["x"] for p in trend["points"]]
    ys = [p["y"] for p in trend["points"]]
    assert xs == sorted(xs)
    # heavier is higher on screen (smaller y): 82 kg (Feb) above 80 (Jan) above 78 (Mar)
    assert ys[1] < ys[0] < ys[2]
    assert (trend["low"], trend["high"]) == ("78.0", "82.0")
    assert [p["w"].weight_kg for p in trend["points"]] == [
        Decimal("80.00"),
        Decimal("82.00"),
        Decimal("78.00"),
    ]
