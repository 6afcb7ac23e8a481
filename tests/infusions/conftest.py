"""Infusion fixtures on top of the personas: a patient ready for a session, a signed and verified order."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.protocols.conftest import IV_DOSE, screen, weigh

VITALS = {
    "systolic_mmhg": 126,
    "diastolic_mmhg": 80,
    "heart_rate_bpm": 72,
    "spo2_pct": 98,
    "resp_rate_per_min": 14,
}


def consent(patient, clinic, admin, nurse):
    from ketaclinic.patients.models import Consent, ConsentText

    text = ConsentText.objects.create(
        clinic=clinic, title="Treatment", version="1", body="...", created_by=admin
    )
    return Consent.objects.create(
        patient=patient,
        text=text,
        signed_by_name="Maria Lopez",
        signed_at=timezone.now(),
        witness=nurse,
        recorded_by=nurse,
    )


def make_order(
    clinic,
    prescriber,
    nurse,
    patient,
    admin,
    *,
    template="iv-racemic-depression",
    dose=None,
    indication="trd",
):
    """A signed order double-checked by the nurse, for a screened, weighed and consented patient."""
    from ketaclinic.protocols import actions

    if not patient.screenings.exists():
        screen(patient, prescriber)
        weigh(patient, nurse)
        consent(patient, clinic, admin, nurse)
    from ketaclinic.protocols.models import DrugLibrary

    if not DrugLibrary.objects.filter(clinic=clinic).exists():
        actions.create_default_library(admin, clinic)
    protocol = actions.copy_protocol(admin, clinic, source_template=template, name=template)
    plan = actions.create_plan(
        prescriber,
        clinic,
        patient,
        protocol=protocol,
        indication=indication,
        goal_scale="madrs",
        response_rule="pct_reduction",
        response_value="50",
        sessions_planned=6,
        baseline_score="32",
        sign=True,
    )
    nasal = template.startswith("esketamine")
    order = actions.sign_order(prescriber, clinic, plan, dose or ({"dose_mg": "56"} if nasal else IV_DOSE))
    actions.verify_order(
        nurse,
        clinic,
        order,
        weight_value="70",
        weight_unit="kg",
        dose_mg=str(order.dose_mg),
        rate_ml_per_h=None if nasal else str(order.rate_ml_per_h),
    )
    order.refresh_from_db()
    return order


def ready_for_dosing(nurse, clinic, session, *, vitals=None):
    """Check in, confirm the escort, take pre-dose vitals, finish the pre-dose assessment."""
    from ketaclinic.infusions import actions

    actions.transition(user=nurse, clinic=clinic, session=session, to="checked_in")
    actions.confirm_escort(user=nurse, clinic=clinic, session=session, escort_name="Carlos Lopez")
    actions.record_observation(
        user=nurse,
        clinic=clinic,
        session=session,
        kind="vitals",
        data=vitals or VITALS,
        idempotency_key="pre-1",
    )
    return actions.transition(user=nurse, clinic=clinic, session=session, to="predose_done")


@pytest.fixture
def iv_order(clinic_a, prescriber, nurse, patient, clinic_admin):
    return make_order(clinic_a, prescriber, nurse, patient, clinic_admin)


@pytest.fixture
def bolus_order(clinic_a, prescriber, nurse, patient, clinic_admin):
    """The titrated chronic-pain order with a 7 mg loading bolus (its library allows up to 20 mg)."""
    from ketaclinic.protocols import actions

    if not patient.screenings.exists():
        screen(patient, prescriber)
        weigh(patient, nurse)
        consent(patient, clinic_a, clinic_admin, nurse)
    return make_order(
        clinic_a, prescriber, nurse, patient, clinic_admin, template="iv-racemic-chronic-pain",
        indication="chronic_pain", dose=_pain_dose(actions, clinic_a, prescriber, patient),
    )  # fmt: skip


def _pain_dose(actions, clinic, prescriber, patient):
    return {
        "duration_min": "240",
        "titration_start": "0.15",
        "titration_step": "0.1",
        "titration_interval": "30",
        "titration_ceiling": "0.35",
        "bolus_mg_per_kg": "0.1",
    }


@pytest.fixture
def bolus_session(frontdesk, nurse, clinic_a, bolus_order):
    return ready_for_dosing(nurse, clinic_a, scheduled(frontdesk, nurse, clinic_a, bolus_order))


@pytest.fixture
def nasal_order(clinic_a, prescriber, nurse, patient, clinic_admin):
    return make_order(clinic_a, prescriber, nurse, patient, clinic_admin, template="esketamine-nasal-trd")


def scheduled(frontdesk, nurse, clinic, order, chair="Chair 1"):
    from ketaclinic.infusions import actions

    session = actions.schedule_session(
        user=frontdesk, clinic=clinic, patient=order.patient, chair=chair, scheduled_at=timezone.now()
    )
    return actions.link_order(user=nurse, clinic=clinic, session=session, order=order)


@pytest.fixture
def iv_session(frontdesk, nurse, clinic_a, iv_order):
    return ready_for_dosing(nurse, clinic_a, scheduled(frontdesk, nurse, clinic_a, iv_order))


@pytest.fixture
def nasal_session(frontdesk, nurse, clinic_a, nasal_order):
    return ready_for_dosing(nurse, clinic_a, scheduled(frontdesk, nurse, clinic_a, nasal_order))
