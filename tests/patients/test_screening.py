"""Eligibility screening: findings page, signing by a prescriber only, reasons, expiry, invalidation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients import eligibility, intake_actions
from ketaclinic.patients.models import Screening
from tests.conftest import PASSWORD, make_user

NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)


def url(name, patient, **kw):
    return reverse(name, kwargs={"patient_id": patient.pk, **kw})


def take_intake(user, clinic, patient, **extra):
    """An intake with one review (BP 150/85), one interaction (Nardil) and one note (unknown drug)."""
    data = {
        "history": {},
        "medications": [
            {"name": "Nardil", "dose_text": "15 mg three times daily"},
            {"name": "Zyxoprilan", "dose_text": ""},
        ],
        "baseline_systolic_mmhg": 150,
        "baseline_diastolic_mmhg": 85,
    }
    data.update(extra)
    return intake_actions.save_intake(user=user, clinic=clinic, patient=patient, data=data)


REASONS = {"reason_bp_elevated": "repeat BP 132/80 after rest", "reason_maoi": "BP every 10 min"}


def sign_post(intake, **extra):
    data = {
        "decision": "eligible_with_precautions",
        "reason": "benefit outweighs risk",
        "password": PASSWORD,
        "intake_version": str(intake.version),
        **REASONS,
    }
    data.update(extra)
    return data


@pytest.fixture
def intake(nurse, clinic_a, patient):
    with time_machine.travel(NOW, tick=False):
        return take_intake(nurse, clinic_a, patient)


def test_nurse_sees_findings_grouped_with_sources_but_no_sign_form(login, nurse, clinic_a, patient, intake):
    response = login(nurse).get(url("patients-screening", patient))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Needs prescriber review" in body and "Interaction warning" in body and "Note" in body
    assert "Baseline BP 150/85 mmHg" in body
    assert "clinical.md §2.2 [S30][S31]" in body
    assert "Medication not recognised: Zyxoprilan" in body
    assert "Only a prescriber signs" in body
    assert 'name="password"' not in body
    entry = AuditEntry.objects.get(action="patient.screening_evaluate")
    assert entry.user == nurse and entry.patient_id == patient.pk and entry.clinic == clinic_a
    assert entry.detail["findings"] == [
        "bp_elevated",
        "maoi",
        "pregnancy_status_unknown",
        "medication_unrecognised",
    ]


def test_prescriber_gets_a_reason_box_for_each_item_that_needs_one(login, prescriber, patient, intake):
    body = login(prescriber).get(url("patients-screening", patient)).content.decode()
    assert 'name="reason_bp_elevated"' in body
    assert 'name="reason_maoi"' in body
    assert 'name="reason_medication_unrecognised"' not in body  # a note needs no reason
    assert body.count("Your reason (required)") == 2
    assert "Sign as Priya, MD" in body


def test_nurse_cannot_sign_and_nothing_is_written(login, nurse, patient, intake):
    response = login(nurse).post(url("patients-screening-sign", patient), sign_post(intake))
    assert response.status_code == 403
    assert not Screening.objects.exists()
    assert not AuditEntry.objects.filter(action="screening.sign").exists()


def test_action_refuses_a_nurse_too(nurse, clinic_a, patient, intake):
    with pytest.raises(PermissionDenied):
        intake_actions.sign_screening(
            user=nurse, clinic=clinic_a, patient=patient, decision="eligible", item_reasons={}, reason="x"
        )
    assert not Screening.objects.exists()


def test_prescriber_signs_and_the_snapshot_is_stored(login, prescriber, clinic_a, patient, intake):
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        response = login(prescriber).post(url("patients-screening-sign", patient), sign_post(intake))
    screening = Screening.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("patients-screening-detail", patient, screening_id=screening.pk)
    assert screening.signed_by == prescriber
    assert screening.intake == intake
    assert screening.decision == "eligible_with_precautions"
    assert screening.rules_version == eligibility.RULES_VERSION
    assert [f["code"] for f in screening.findings] == [
        "bp_elevated",
        "maoi",
        "pregnancy_status_unknown",
        "medication_unrecognised",
    ]
    assert screening.item_reasons == {"bp_elevated": "repeat BP 132/80 after rest", "maoi": "BP every 10 min"}
    assert screening.signed_at == NOW + timedelta(hours=1)
    assert screening.expires_at == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # 12 months by default
    assert screening.status(NOW + timedelta(days=1))[0] == "current"
    entry = AuditEntry.objects.get(action="screening.sign")
    assert entry.user == prescriber and entry.clinic == clinic_a and entry.patient_id == patient.pk
    assert entry.object_id == str(screening.pk)
    assert entry.detail["decision"] == "eligible_with_precautions" and entry.detail["intake_version"] == 1


def test_each_review_and_interaction_item_needs_its_own_reason(login, prescriber, patient, intake):
    response = login(prescriber).post(
        url("patients-screening-sign", patient), sign_post(intake, reason_maoi="  ")
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["reason_maoi"] == ["Give your reason for: MAOI: Nardil."]
    assert "reason_bp_elevated" not in form.errors
    assert "Give your reason for: MAOI: Nardil." in response.content.decode()
    assert not Screening.objects.exists()


def test_an_overall_reason_and_a_decision_are_required(login, prescriber, patient, intake):
    response = login(prescriber).post(
        url("patients-screening-sign", patient), sign_post(intake, reason="", decision="maybe")
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) >= {"reason", "decision"}
    assert not Screening.objects.exists()


def test_wrong_password_does_not_sign(login, prescriber, patient, intake):
    response = login(prescriber).post(
        url("patients-screening-sign", patient), sign_post(intake, password="nope")
    )
    assert response.status_code == 400
    assert "not your password" in response.content.decode()
    assert not Screening.objects.exists()


def test_a_password_an_admin_reset_signs_no_screening(login, prescriber, patient, intake):
    client = login(prescriber)  # signed in before the reset
    type(prescriber).objects.filter(pk=prescriber.pk).update(must_change_password=True)
    response = client.post(url("patients-screening-sign", patient), sign_post(intake))
    assert (response.status_code, response["Location"]) == (302, reverse("accounts-password"))
    assert not Screening.objects.exists()
    # The form's own check, for any other way in: the same rule as every signature.
    from ketaclinic.patients.intake_forms import ScreeningForm

    prescriber.refresh_from_db()
    form = ScreeningForm(sign_post(intake), user=prescriber, findings=[])
    assert not form.is_valid()
    assert form.errors["password"] == [
        "An admin reset your password: choose your own first; nothing was signed."
    ]


def test_eligible_is_refused_with_an_absolute_contraindication(login, prescriber, nurse, clinic_a, patient):
    intake = take_intake(nurse, clinic_a, patient, history={"arteriovenous_malformation": {"present": True}})
    reasons = REASONS | {"reason_arteriovenous_malformation": "treated AVM, neurosurgery letter"}
    client = login(prescriber)
    response = client.post(
        url("patients-screening-sign", patient), sign_post(intake, decision="eligible", **reasons)
    )
    assert response.status_code == 400
    assert "An absolute contraindication is present" in " ".join(response.context["form"].errors["decision"])
    assert not Screening.objects.exists()

    response = client.post(
        url("patients-screening-sign", patient), sign_post(intake, decision="not_eligible", **reasons)
    )
    assert response.status_code == 302
    assert Screening.objects.get().decision == "not_eligible"


def test_eligible_is_allowed_without_findings(prescriber, nurse, clinic_a, patient):
    patient.pregnancy_status = "not_pregnant"
    patient.save()
    take_intake(
        nurse, clinic_a, patient, medications=[], baseline_systolic_mmhg=120, baseline_diastolic_mmhg=80
    )
    screening = intake_actions.sign_screening(
        user=prescriber,
        clinic=clinic_a,
        patient=patient,
        decision="eligible",
        item_reasons={},
        reason="no findings",
    )
    assert screening.findings == [] and screening.decision == "eligible"


def test_a_stale_intake_version_is_refused(prescriber, nurse, clinic_a, patient, intake):
    take_intake(nurse, clinic_a, patient, baseline_systolic_mmhg=138, change_reason="BP re-measured")
    with pytest.raises(ValidationError) as exc:
        intake_actions.sign_screening(
            user=prescriber,
            clinic=clinic_a,
            patient=patient,
            decision="not_eligible",
            item_reasons={"maoi": "x"},
            reason="x",
            intake_version=1,
        )
    assert "intake_version" in exc.value.message_dict
    assert not Screening.objects.exists()


def test_a_reason_for_a_finding_that_does_not_exist_is_refused(prescriber, clinic_a, patient, intake):
    with pytest.raises(ValidationError) as exc:
        intake_actions.sign_screening(
            user=prescriber,
            clinic=clinic_a,
            patient=patient,
            decision="not_eligible",
            item_reasons={"bp_elevated": "a", "maoi": "b", "psychosis": "c"},
            reason="x",
        )
    assert list(exc.value.message_dict) == ["item_reasons.psychosis"]


def test_no_intake_no_screening(prescriber, clinic_a, patient):
    with pytest.raises(ValidationError) as exc:
        intake_actions.sign_screening(
            user=prescriber,
            clinic=clinic_a,
            patient=patient,
            decision="not_eligible",
            item_reasons={},
            reason="x",
        )
    assert "intake" in exc.value.message_dict


def sign(prescriber, clinic, patient):
    return intake_actions.sign_screening(
        user=prescriber,
        clinic=clinic,
        patient=patient,
        decision="eligible_with_precautions",
        item_reasons={"bp_elevated": "ok", "maoi": "ok"},
        reason="ok",
    )


def test_screening_expires_after_the_configured_months(prescriber, clinic_a, patient, intake, settings):
    with time_machine.travel(NOW, tick=False):
        screening = sign(prescriber, clinic_a, patient)
    with time_machine.travel(NOW + timedelta(days=364), tick=False):
        assert screening.status()[0] == "current" and screening.is_current()
    with time_machine.travel(datetime(2026, 3, 10, 15, 0, tzinfo=UTC), tick=False):
        assert screening.status()[0] == "expired" and not screening.is_current()

    settings.SCREENING_VALID_MONTHS = 6
    with time_machine.travel(NOW, tick=False):
        short = sign(prescriber, clinic_a, patient)
    assert short.expires_at == datetime(2025, 9, 10, 15, 0, tzinfo=UTC)


def test_month_end_expiry_is_clamped():
    assert intake_actions.add_months(datetime(2025, 8, 31, tzinfo=UTC), 6) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert intake_actions.add_months(datetime(2024, 2, 29, tzinfo=UTC), 12) == datetime(
        2025, 2, 28, tzinfo=UTC
    )


@pytest.mark.usefixtures("intake")
def test_expired_screening_shows_on_the_chart(login, prescriber, nurse, clinic_a, patient):
    with time_machine.travel(NOW, tick=False):
        sign(prescriber, clinic_a, patient)
    with time_machine.travel(NOW + timedelta(days=400), tick=False):
        body = (
            login(nurse).get(reverse("patients-detail", kwargs={"patient_id": patient.pk})).content.decode()
        )
    assert ">expired<" in body
    assert "Expired on 2026-03-10. Screen again." in body


@pytest.mark.usefixtures("intake")
def test_a_new_intake_invalidates_the_screening_and_the_chart_says_so(
    login, prescriber, nurse, clinic_a, patient
):
    screening = sign(prescriber, clinic_a, patient)
    client = login(nurse)
    body = client.get(reverse("patients-detail", kwargs={"patient_id": patient.pk})).content.decode()
    assert ">current<" in body

    take_intake(
        nurse,
        clinic_a,
        patient,
        medications=[{"name": "Adderall", "dose_text": "20 mg daily"}],
        change_reason="started Adderall",
    )
    assert screening.status()[0] == "invalidated"
    body = client.get(reverse("patients-detail", kwargs={"patient_id": patient.pk})).content.decode()
    assert ">invalidated<" in body
    assert "started Adderall" in body
    assert "Findings of the current intake (not yet signed)" in body
    assert "Psychostimulant: Adderall" in body


@pytest.mark.usefixtures("intake")
def test_signed_screening_detail_is_audited(login, prescriber, auditor, clinic_a, patient):
    screening = sign(prescriber, clinic_a, patient)
    response = login(auditor).get(url("patients-screening-detail", patient, screening_id=screening.pk))
    assert response.status_code == 200
    assert (
        "Prescriber&#x27;s reason:" in response.content.decode()
        or "Prescriber's reason:" in response.content.decode()
    )
    entry = AuditEntry.objects.get(action="patient.screening_view")
    assert entry.user == auditor and entry.object_id == str(screening.pk)


def test_frontdesk_sees_no_screening(login, frontdesk, patient, intake):
    assert login(frontdesk).get(url("patients-screening", patient)).status_code == 403


@pytest.mark.usefixtures("intake")
def test_outsider_gets_404_everywhere(login, prescriber, outsider, clinic_a, patient):
    screening = sign(prescriber, clinic_a, patient)
    client = login(outsider)
    assert client.get(url("patients-screening", patient)).status_code == 404
    post = sign_post(patient.current_intake())
    # A nurse of clinic B is refused by role before any lookup: nothing about the patient leaks.
    assert client.post(url("patients-screening-sign", patient), post).status_code == 403
    # A prescriber of clinic B may sign, but not for clinic A's patient: 404.
    other_prescriber = make_user(outsider.memberships.get().clinic, "bob", "prescriber")
    assert login(other_prescriber).post(url("patients-screening-sign", patient), post).status_code == 404
    assert client.get(url("patients-screening-detail", patient, screening_id=screening.pk)).status_code == 404
    assert Screening.objects.count() == 1
    with pytest.raises(PermissionDenied):
        intake_actions.evaluate_current(patient, user=outsider, clinic=outsider.memberships.get().clinic)


@pytest.mark.usefixtures("intake")
def test_a_screening_of_another_patient_is_404(login, prescriber, nurse, clinic_a, patient):
    from ketaclinic.patients.models import Patient

    other = Patient.objects.create(
        clinic=clinic_a,
        mrn="A-1002",
        given_name="Ken",
        family_name="Ito",
        date_of_birth=datetime(1990, 1, 1, tzinfo=UTC).date(),
        sex="male",
        created_by=nurse,
    )
    screening = sign(prescriber, clinic_a, patient)
    response = login(prescriber).get(url("patients-screening-detail", other, screening_id=screening.pk))
    assert response.status_code == 404


@pytest.mark.usefixtures("intake")
def test_screening_page_query_count_is_bounded(
    login, prescriber, clinic_a, patient, django_assert_max_num_queries
):
    for _ in range(5):
        sign(prescriber, clinic_a, patient)
    client = login(prescriber)
    with django_assert_max_num_queries(25):
        response = client.get(url("patients-screening", patient))
    assert response.status_code == 200
