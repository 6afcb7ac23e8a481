"""Weight history: entered in kg or lb, stored in kg exactly, corrected by new records that keep the old."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients import actions, units
from ketaclinic.patients.models import WeightMeasurement


def test_units_doctests():
    assert doctest.testmod(units).failed == 0


@pytest.mark.parametrize(
    ("lb", "kg_exact", "kg_stored"),
    [
        ("1", "0.45359237", "0.45"),
        ("100", "45.359237", "45.36"),
        ("150", "68.0388555", "68.04"),
        ("220.5", "100.017117585", "100.02"),
    ],
)
def test_pound_conversion_is_exact_then_rounded_once(lb, kg_exact, kg_stored):
    assert units.lb_to_kg(Decimal(lb)) == Decimal(kg_exact)
    assert units.weight_to_kg(Decimal(lb), "lb") == Decimal(kg_stored)


def test_unknown_unit_raises_naming_the_unit():
    with pytest.raises(ValueError, match="unit: 'st'"):
        units.weight_to_kg(Decimal("10"), "st")


def test_nurse_adds_a_weight_in_pounds(login, nurse, clinic_a, patient):
    url = reverse("patients-weight-add", kwargs={"patient_id": patient.pk})
    response = login(nurse).post(url, {"value": "176", "unit": "lb", "measured_at": "2025-06-01T08:15"})

    assert response.status_code == 302
    weight = WeightMeasurement.objects.get(patient=patient)
    assert (weight.weight_kg, weight.entered_value, weight.entered_unit) == (
        Decimal("79.83"),
        Decimal("176.00"),
        "lb",
    )
    # the form's local time is the clinic's zone (New York, UTC-4 in June)
    assert weight.measured_at == datetime(2025, 6, 1, 12, 15, tzinfo=UTC)
    entry = AuditEntry.objects.get(action="patient.weight_record")
    assert (entry.user, entry.patient_id, entry.detail["entered"]) == (nurse, patient.pk, "176.00 lb")


@pytest.mark.parametrize(
    "case",
    [
        ({"value": "0", "unit": "kg"}, "value", "more than 0"),
        ({"value": "2000", "unit": "kg"}, "value", "plausible range"),
        ({"value": "30", "unit": "lb"}, "value", "13.61 kg is outside"),
        ({"value": "70", "unit": "stone"}, "unit", "valid choice"),
        ({"value": "", "unit": "kg"}, "value", "required"),
    ],
)
def test_bad_weights_change_nothing(login, nurse, patient, case):
    post, field, words = case
    url = reverse("patients-weight-add", kwargs={"patient_id": patient.pk})
    before = AuditEntry.objects.count()
    response = login(nurse).post(url, post | {"measured_at": "2025-06-01T08:15"})
    assert response.status_code == 400
    assert words in " ".join(response.context["form"].errors[field])
    assert not WeightMeasurement.objects.exists()
    assert AuditEntry.objects.count() == before


def test_a_weight_in_the_future_is_refused(nurse, clinic_a, patient):
    with pytest.raises(ValidationError) as exc:
        actions.record_weight(
            user=nurse,
            clinic=clinic_a,
            patient=patient,
            value="70",
            unit="kg",
            measured_at=timezone.now() + timedelta(hours=2),
        )
    assert "measured_at" in exc.value.message_dict
    assert not WeightMeasurement.objects.exists()


def test_unknown_unit_through_the_action_names_the_unit(nurse, clinic_a, patient):
    with pytest.raises(ValidationError) as exc:
        actions.record_weight(user=nurse, clinic=clinic_a, patient=patient, value="70", unit="st")
    assert "unit" in exc.value.message_dict


def test_front_desk_may_not_record_weights(login, frontdesk, clinic_a, patient):
    url = reverse("patients-weight-add", kwargs={"patient_id": patient.pk})
    assert login(frontdesk).post(url, {"value": "70", "unit": "kg"}).status_code == 403
    with pytest.raises(PermissionDenied):
        actions.record_weight(user=frontdesk, clinic=clinic_a, patient=patient, value="70", unit="kg")
    assert not WeightMeasurement.objects.exists()


def test_correction_keeps_the_original(login, nurse, prescriber, clinic_a, patient):
    original = actions.record_weight(
        user=nurse, clinic=clinic_a, patient=patient, value="175", unit="kg", measured_at="2025-06-01T08:00"
    )
    url = reverse("patients-weight-correct", kwargs={"patient_id": patient.pk, "weight_id": original.pk})
    response = login(prescriber).post(
        url, {"value": "175", "unit": "lb", "measured_at": "2025-06-01T08:00", "reason": "entered lb as kg"}
    )

    assert response.status_code == 302
    original.refresh_from_db()
    assert original.weight_kg == Decimal("175.00") and original.entered_unit == "kg"  # untouched
    fix = WeightMeasurement.objects.get(corrects=original)
    assert (fix.weight_kg, fix.entered_unit, fix.recorded_by) == (Decimal("79.38"), "lb", prescriber)
    assert fix.correction_reason == "entered lb as kg"
    assert patient.current_weight() == fix
    entry = AuditEntry.objects.get(action="patient.weight_correct")
    assert entry.detail["corrects"] == original.pk and entry.detail["was_kg"] == "175.00"

    html = (
        login(prescriber).get(reverse("patients-detail", kwargs={"patient_id": patient.pk})).content.decode()
    )
    assert "<s>175.00 kg</s>" in html and "corrected to 79.38 kg: entered lb as kg" in html


def test_correction_needs_a_reason_and_happens_once(nurse, clinic_a, patient):
    original = actions.record_weight(user=nurse, clinic=clinic_a, patient=patient, value="80", unit="kg")
    with pytest.raises(ValidationError) as exc:
        actions.correct_weight(
            user=nurse, clinic=clinic_a, weight=original, value="81", unit="kg", reason=" "
        )
    assert "reason" in exc.value.message_dict
    assert WeightMeasurement.objects.count() == 1

    actions.correct_weight(
        user=nurse, clinic=clinic_a, weight=original, value="81", unit="kg", reason="scale"
    )
    with pytest.raises(ValidationError) as exc:
        actions.correct_weight(
            user=nurse, clinic=clinic_a, weight=original, value="82", unit="kg", reason="again"
        )
    assert "weight" in exc.value.message_dict
    assert WeightMeasurement.objects.count() == 2


def test_weight_of_another_patient_in_the_url_is_404(login, nurse, clinic_a, patient):
    other = patient.__class__.objects.create(
        clinic=clinic_a,
        mrn="A-9",
        given_name="Li",
        family_name="Wu",
        date_of_birth=patient.date_of_birth,
        sex="female",
        created_by=nurse,
    )
    weight = actions.record_weight(user=nurse, clinic=clinic_a, patient=other, value="60", unit="kg")
    url = reverse("patients-weight-correct", kwargs={"patient_id": patient.pk, "weight_id": weight.pk})
    assert login(nurse).get(url).status_code == 404
