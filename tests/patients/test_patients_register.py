"""Registering patients and editing demographics: the happy path, and every bad input changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients import actions
from ketaclinic.patients.models import Patient, WeightMeasurement


def counts():
    return Patient.objects.count(), WeightMeasurement.objects.count(), AuditEntry.objects.count()


@pytest.mark.parametrize("who", ["nurse", "frontdesk"])
def test_register_happy_path(personas, login, clinic_a, registration, who):
    client = login(personas[who])
    response = client.post(reverse("patients-register"), registration)

    patient = Patient.objects.get(clinic=clinic_a, mrn="A-2001")
    assert response.status_code == 302
    assert response["Location"] == reverse("patients-detail", kwargs={"patient_id": patient.pk})
    assert (patient.given_name, patient.family_name) == ("Jonas", "Berg")
    assert patient.date_of_birth == date(1979, 11, 23)
    assert patient.height_cm == Decimal("180.0")
    assert patient.indications == ["trd", "chronic_pain"]
    assert patient.chronic_pain_type == "neuropathic"
    assert patient.escort_name == "Eva Berg"
    assert patient.created_by == personas[who]
    weight = WeightMeasurement.objects.get(patient=patient)
    assert (weight.weight_kg, weight.entered_value, weight.entered_unit) == (
        Decimal("82.50"),
        Decimal("82.50"),
        "kg",
    )
    assert weight.recorded_by == personas[who]

    entry = AuditEntry.objects.get(action="patient.register")
    assert (entry.patient_id, entry.user, entry.clinic) == (patient.pk, personas[who], clinic_a)
    assert entry.detail["mrn"] == "A-2001"
    assert AuditEntry.objects.filter(action="patient.weight_record", patient_id=patient.pk).count() == 1


def test_register_form_renders_every_input_with_a_label(login, nurse):
    response = login(nurse).get(reverse("patients-register"))
    html = response.content.decode()
    assert response.status_code == 200
    for name in ("mrn", "given_name", "date_of_birth", "height", "weight", "weight_unit", "escort_name"):
        assert f'for="id_{name}"' in html
        assert f'id="id_{name}"' in html


def test_pounds_are_stored_as_exact_kg_with_the_entry_kept(login, nurse, registration):
    registration |= {"weight": "150", "weight_unit": "lb", "height": "70", "height_unit": "in"}
    response = login(nurse).post(reverse("patients-register"), registration)

    assert response.status_code == 302
    weight = WeightMeasurement.objects.get()
    # 150 lb x 0.45359237 kg/lb = 68.0388555 kg, stored to 0.01 kg
    assert weight.weight_kg == Decimal("68.04")
    assert (weight.entered_value, weight.entered_unit) == (Decimal("150.00"), "lb")
    # 70 in x 2.54 cm/in = 177.8 cm
    assert Patient.objects.get().height_cm == Decimal("177.8")


def test_us_date_of_birth_is_accepted(login, nurse, registration):
    registration["date_of_birth"] = "11/23/1979"
    login(nurse).post(reverse("patients-register"), registration)
    assert Patient.objects.get().date_of_birth == date(1979, 11, 23)


BAD_INPUT = [
    # (field changed, value, field whose error is shown, words in the message)
    ("date_of_birth", (timezone.now().date() + timedelta(days=2)).isoformat(), "date_of_birth", "future"),
    ("date_of_birth", "1890-01-01", "date_of_birth", "120 years"),
    ("date_of_birth", "31/31/1980", "date_of_birth", "valid date"),
    ("weight", "0", "weight", "more than 0"),
    ("weight", "2000", "weight", "plausible range"),
    ("weight", "-5", "weight", "more than 0"),
    ("weight", "abc", "weight", "number"),
    ("weight_unit", "st", "weight_unit", "valid choice"),
    ("height", "18", "height", "plausible range"),
    ("mrn", "M" * 33, "mrn", "at most 32"),  # an empty MRN is the next number (test_register_duplicates)
    ("sex", "robot", "sex", "valid choice"),
]


@pytest.mark.parametrize("case", BAD_INPUT, ids=lambda case: f"{case[0]}={case[1]}")
def test_bad_input_changes_nothing(login, nurse, registration, case):
    field, value, error_field, words = case
    client = login(nurse)
    before = counts()
    registration[field] = value
    response = client.post(reverse("patients-register"), registration)

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert error_field in errors, errors
    assert words in " ".join(errors[error_field])
    assert f'id="id_{error_field}_error"' in response.content.decode()
    assert counts() == before


def test_weight_2000_lb_is_also_refused(login, nurse, registration):
    before = counts()
    registration |= {"weight": "2000", "weight_unit": "lb"}  # 907 kg
    response = login(nurse).post(reverse("patients-register"), registration)
    assert response.status_code == 400
    assert "907.18 kg is outside the plausible range" in response.context["form"].errors["weight"][0]
    assert counts() == before


def test_chronic_pain_needs_its_type_and_other_needs_text(login, nurse, registration):
    before = counts()
    registration |= {
        "indications": ["chronic_pain", "other"],
        "chronic_pain_type": "",
        "indication_other": "",
    }
    response = login(nurse).post(reverse("patients-register"), registration)

    errors = response.context["form"].errors
    assert response.status_code == 400
    assert "type" in errors["chronic_pain_type"][0]
    assert "other indication" in errors["indication_other"][0]
    assert counts() == before


def test_duplicate_mrn_is_refused_naming_the_mrn(login, nurse, patient, registration):
    before = counts()
    registration["mrn"] = "a-1001"  # the fixture patient's MRN, other case
    response = login(nurse).post(reverse("patients-register"), registration)

    assert response.status_code == 400
    assert "MRN a-1001 is already used" in response.context["form"].errors["mrn"][0]
    assert counts() == before


def test_same_mrn_in_another_clinic_is_allowed(login, outsider, patient, registration, clinic_b):
    registration["mrn"] = patient.mrn
    response = login(outsider).post(reverse("patients-register"), registration)
    assert response.status_code == 302
    assert Patient.objects.filter(mrn=patient.mrn).count() == 2
    assert Patient.objects.get(clinic=clinic_b).mrn == patient.mrn


def test_action_names_the_field_for_an_unknown_unit(nurse, clinic_a, registration):
    before = counts()
    with pytest.raises(ValidationError) as exc:
        actions.register_patient(user=nurse, clinic=clinic_a, data=registration | {"weight_unit": "stone"})
    assert "weight_unit" in exc.value.message_dict
    assert counts() == before


def test_auditor_may_not_register(login, auditor, clinic_a, registration):
    before = counts()
    assert login(auditor).post(reverse("patients-register"), registration).status_code == 403
    with pytest.raises(PermissionDenied):
        actions.register_patient(user=auditor, clinic=clinic_a, data=registration)
    assert counts() == before


def test_a_user_cannot_register_into_a_clinic_they_do_not_belong_to(outsider, clinic_a, registration):
    with pytest.raises(PermissionDenied):
        actions.register_patient(user=outsider, clinic=clinic_a, data=registration)
    assert not Patient.objects.exists()


def test_editing_demographics_audits_old_and_new(login, frontdesk, patient):
    client = login(frontdesk)
    form = client.get(reverse("patients-edit", kwargs={"patient_id": patient.pk})).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data |= {
        "escort_name": "Ana Lopez",
        "height": "65",
        "height_unit": "in",
        "pregnancy_status": "not_pregnant",
    }
    response = client.post(reverse("patients-edit", kwargs={"patient_id": patient.pk}), data)

    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.escort_name == "Ana Lopez"
    assert patient.height_cm == Decimal("165.1")
    entry = AuditEntry.objects.get(action="patient.edit")
    assert entry.user == frontdesk and entry.patient_id == patient.pk
    assert entry.detail["changes"] == {
        "escort_name": ["Carlos Lopez", "Ana Lopez"],
        "height_cm": [None, "165.1"],
        "pregnancy_status": ["unknown", "not_pregnant"],
    }


def test_edit_without_changes_writes_nothing(nurse, clinic_a, patient):
    data = {name: getattr(patient, name) for name in actions.DEMOGRAPHIC_FIELDS if name != "height_cm"}
    before = AuditEntry.objects.count()
    actions.update_demographics(user=nurse, clinic=clinic_a, patient=patient, data=data)
    assert AuditEntry.objects.count() == before


def test_edit_to_a_taken_mrn_changes_nothing(nurse, clinic_a, patient):
    other = Patient.objects.create(
        clinic=clinic_a,
        mrn="A-1002",
        given_name="Li",
        family_name="Wu",
        date_of_birth=date(1990, 1, 1),
        sex="female",
        created_by=nurse,
    )
    data = {name: getattr(other, name) for name in actions.DEMOGRAPHIC_FIELDS if name != "height_cm"}
    with pytest.raises(ValidationError) as exc:
        actions.update_demographics(user=nurse, clinic=clinic_a, patient=other, data=data | {"mrn": "A-1001"})
    assert "mrn" in exc.value.message_dict
    other.refresh_from_db()
    assert other.mrn == "A-1002"
