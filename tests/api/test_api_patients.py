"""Patients over the API: the same actions, rules and audit as the pages."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ketaclinic.accounts.models import Membership
from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients.models import ConsentText, Patient, WeightMeasurement
from tests.api.conftest import error_fields


@pytest.fixture
def new_patient():
    return {
        "mrn": "A-2001",
        "given_name": "Jonas",
        "family_name": "Berg",
        "date_of_birth": "1979-11-23",
        "sex": "male",
        "escort_name": "Eva Berg",
        "escort_phone": "555-0198",
        "height": "180",
        "height_unit": "cm",
        "weight": "181.9",
        "weight_unit": "lb",
        "indications": ["trd", "chronic_pain"],
        "chronic_pain_type": "neuropathic",
        "pregnancy_status": "not_applicable",
    }


def test_register(api_as, frontdesk, clinic_a, new_patient):
    response = api_as(frontdesk).post("/api/patients", new_patient)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["mrn"] == "A-2001" and body["height_cm"] == "180.0"
    assert body["current_weight"]["weight_kg"] == "82.51"
    assert (
        body["current_weight"]["entered_value"] == "181.90" and body["current_weight"]["entered_unit"] == "lb"
    )
    patient = Patient.objects.get(pk=body["id"])
    assert patient.clinic == clinic_a and patient.created_by == frontdesk
    assert patient.indications == ["trd", "chronic_pain"]
    entry = AuditEntry.objects.get(action="patient.register")
    assert entry.user == frontdesk and entry.patient_id == patient.pk and entry.clinic == clinic_a


@pytest.mark.parametrize(
    "case",
    [
        (
            {"date_of_birth": (timezone.localdate() + timedelta(days=3)).isoformat()},
            "date_of_birth",
            "future",
        ),
        ({"date_of_birth": "23/11/1979"}, "date_of_birth", "date"),
        ({"weight": "0"}, "weight", ""),
        ({"weight": "2000", "weight_unit": "kg"}, "weight", ""),
        ({"weight_unit": "stone"}, "weight_unit", ""),
        ({"mrn": "A-1001"}, "mrn", "already used"),
        ({"sex": "robot"}, "sex", "Choose one of"),
        ({"indications": "trd"}, "indications", ""),
        ({"given_name": ""}, "given_name", "required"),
    ],
)
def test_register_bad_input_names_the_field(api_as, personas, patient, new_patient, case):
    change, field, fragment = case
    response = api_as(personas["frontdesk"]).post("/api/patients", new_patient | change)
    assert response.status_code == 422, response.content
    errors = error_fields(response)
    assert field in errors, errors
    assert fragment.lower() in errors[field].lower()
    assert Patient.objects.count() == 1  # only the fixture patient
    assert not AuditEntry.objects.filter(action="patient.register").exists()


def test_malformed_json_is_a_clear_error(api_as, frontdesk):
    api = api_as(frontdesk)
    response = api.client.post(
        "/api/patients", data="{not json", content_type="application/json", headers=api.headers
    )
    assert response.status_code in (400, 422)
    assert Patient.objects.count() == 0


def test_roles_for_registering(api_as, auditor, nurse, new_patient):
    assert api_as(auditor).post("/api/patients", new_patient).status_code == 403
    assert api_as(nurse).post("/api/patients", new_patient).status_code == 201


def test_list_and_search(api_as, nurse, patient, clinic_b, django_assert_max_num_queries):
    clinic_a = patient.clinic
    for i in range(12):
        Patient.objects.create(
            clinic=clinic_a,
            mrn=f"A-3{i:03}",
            given_name="Ana",
            family_name=f"Zed{i:02}",
            date_of_birth=date(1990, 1, 1),
            sex="female",
            created_by=nurse,
        )
    Patient.objects.create(
        clinic=clinic_b,
        mrn="B-1",
        given_name="Maria",
        family_name="Lopez",
        date_of_birth=date(1984, 3, 2),
        sex="female",
        created_by=nurse,
    )
    api = api_as(nurse)
    with django_assert_max_num_queries(8):
        response = api.get("/api/patients", params={"limit": 5, "offset": 0})
    body = response.json()
    assert body["count"] == 13 and len(body["items"]) == 5
    assert body["items"][0]["family_name"] == "Lopez"

    response = api.get("/api/patients", params={"q": "maria lop"})
    assert [p["mrn"] for p in response.json()["items"]] == ["A-1001"]  # not clinic B's Maria
    assert AuditEntry.objects.filter(action="patient.search", user=nurse).count() == 1
    assert api.get("/api/patients", params={"q": "1984-03-02"}).json()["count"] == 1
    assert api.get("/api/patients", params={"limit": 0}).status_code == 422


def test_get_is_audited_and_scoped(api_as, frontdesk, outsider, patient):
    response = api_as(frontdesk).get(f"/api/patients/{patient.pk}")
    assert response.status_code == 200
    assert response.json()["escort_name"] == "Carlos Lopez"
    assert AuditEntry.objects.filter(action="patient.view", user=frontdesk, patient_id=patient.pk).exists()
    assert api_as(outsider).get(f"/api/patients/{patient.pk}").status_code == 404
    assert api_as(frontdesk).get("/api/patients/999999").status_code == 404
    assert not AuditEntry.objects.filter(action="patient.view", user=outsider).exists()


def test_patch_demographics(api_as, frontdesk, patient, outsider):
    response = api_as(frontdesk).patch(f"/api/patients/{patient.pk}", {"phone": "555-0177", "height": "165"})
    assert response.status_code == 200, response.content
    patient.refresh_from_db()
    assert patient.phone == "555-0177" and patient.height_cm == 165
    assert patient.family_name == "Lopez"  # untouched
    entry = AuditEntry.objects.get(action="patient.edit")
    assert set(entry.detail["changes"]) == {"phone", "height_cm"}

    response = api_as(frontdesk).patch(f"/api/patients/{patient.pk}", {"date_of_birth": "2999-01-01"})
    assert response.status_code == 422 and "date_of_birth" in error_fields(response)
    patient.refresh_from_db()
    assert patient.date_of_birth == date(1984, 3, 2)
    assert api_as(outsider).patch(f"/api/patients/{patient.pk}", {"phone": "1"}).status_code == 404


def test_weights_add_correct_and_list(api_as, nurse, frontdesk, patient):
    api = api_as(nurse)
    response = api.post(f"/api/patients/{patient.pk}/weights", {"value": "72.4", "unit": "kg"})
    assert response.status_code == 201
    first = WeightMeasurement.objects.get(pk=response.json()["id"])
    assert first.weight_kg == Decimal("72.40") and first.recorded_by == nurse

    bad = api.post(f"/api/patients/{patient.pk}/weights", {"value": "2000", "unit": "kg"})
    assert bad.status_code == 422 and "value" in error_fields(bad)
    bad = api.post(f"/api/patients/{patient.pk}/weights", {"value": "70", "unit": "st"})
    assert bad.status_code == 422 and "unit" in error_fields(bad)

    url = f"/api/patients/{patient.pk}/weights/{first.pk}/corrections"
    assert api.post(url, {"value": "74.2", "unit": "kg", "reason": ""}).status_code == 422
    response = api.post(url, {"value": "74.2", "unit": "kg", "reason": "scale not zeroed"})
    assert response.status_code == 201, response.content
    correction = WeightMeasurement.objects.get(pk=response.json()["id"])
    assert correction.corrects == first and correction.correction_reason == "scale not zeroed"
    first.refresh_from_db()
    assert first.weight_kg == Decimal("72.40")  # the original is kept
    assert AuditEntry.objects.filter(action="patient.weight_correct").count() == 1

    listed = api_as(frontdesk).get(f"/api/patients/{patient.pk}/weights").json()
    assert {w["id"]: w["superseded"] for w in listed} == {first.pk: True, correction.pk: False}
    assert AuditEntry.objects.filter(action="patient.weights_view", user=frontdesk).count() == 1


def test_weight_of_another_patient_is_404(api_as, nurse, patient, clinic_a):
    other = Patient.objects.create(
        clinic=clinic_a,
        mrn="A-9",
        given_name="O",
        family_name="Ther",
        date_of_birth=date(1970, 1, 1),
        sex="male",
        created_by=nurse,
    )
    api = api_as(nurse)
    w = api.post(f"/api/patients/{other.pk}/weights", {"value": "80", "unit": "kg"}).json()
    url = f"/api/patients/{patient.pk}/weights/{w['id']}/corrections"
    assert api.post(url, {"value": "81", "unit": "kg", "reason": "typo"}).status_code == 404


def test_consents(api_as, personas, patient):
    nurse, prescriber, frontdesk = personas["nurse"], personas["prescriber"], personas["frontdesk"]
    clinic_a, clinic_admin = patient.clinic, personas["admin"]
    text = ConsentText.objects.create(
        clinic=clinic_a, title="Ketamine treatment", version="2", body="...", created_by=clinic_admin
    )
    assert api_as(frontdesk).get("/api/consent-texts").json()[0]["id"] == text.pk
    body = {
        "text_id": text.pk,
        "signed_by_name": "Maria Lopez",
        "signed_at": "2025-01-10T09:30:00-05:00",
        "witness_id": prescriber.pk,
    }
    assert api_as(frontdesk).post(f"/api/patients/{patient.pk}/consents", body).status_code == 403
    response = api_as(nurse).post(f"/api/patients/{patient.pk}/consents", body)
    assert response.status_code == 201, response.content
    consent = patient.consents.get()
    assert consent.witness == prescriber and consent.recorded_by == nurse and consent.text == text

    bad = api_as(nurse).post(f"/api/patients/{patient.pk}/consents", body | {"witness_id": 999999})
    assert bad.status_code == 422 and "witness" in error_fields(bad)
    assert patient.consents.count() == 1

    listed = api_as(frontdesk).get(f"/api/patients/{patient.pk}/consents").json()
    assert [c["witness"] for c in listed] == ["priya"]
    assert AuditEntry.objects.filter(action="patient.consents_view").count() == 1


def test_consent_witness_must_be_of_this_clinic(api_as, personas, patient):
    nurse, outsider, clinic_admin = personas["nurse"], personas["outsider"], personas["admin"]
    clinic_a = patient.clinic
    text = ConsentText.objects.create(
        clinic=clinic_a, title="T", version="1", body="b", created_by=clinic_admin
    )
    body = {
        "text_id": text.pk,
        "signed_by_name": "M",
        "signed_at": "2025-01-10T09:30:00Z",
        "witness_id": outsider.pk,
    }
    response = api_as(nurse).post(f"/api/patients/{patient.pk}/consents", body)
    assert response.status_code == 422 and "witness" in error_fields(response)
    assert Membership.objects.filter(user=outsider).exists()
