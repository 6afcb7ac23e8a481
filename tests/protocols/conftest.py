"""Protocol-app fixtures on top of the personas: a library, protocols, a screened and weighed patient."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone


@pytest.fixture
def library(clinic_a, clinic_admin):
    from ketaclinic.protocols import actions

    return actions.create_default_library(clinic_admin, clinic_a)


@pytest.fixture
def iv_protocol(clinic_a, clinic_admin, library):
    from ketaclinic.protocols import actions

    return actions.copy_protocol(
        clinic_admin, clinic_a, source_template="iv-racemic-depression", name="IV depression"
    )


@pytest.fixture
def nasal_protocol(clinic_a, clinic_admin, library):
    from ketaclinic.protocols import actions

    return actions.copy_protocol(
        clinic_admin, clinic_a, source_template="esketamine-nasal-trd", name="Esketamine"
    )


@pytest.fixture
def pain_protocol(clinic_a, clinic_admin, library):
    from ketaclinic.protocols import actions

    return actions.copy_protocol(
        clinic_admin, clinic_a, source_template="iv-racemic-chronic-pain", name="Pain"
    )


def screen(patient, prescriber, *, decision="eligible", days_ago=0):
    from ketaclinic.patients.models import Intake, Screening

    version = patient.intakes.count() + 1
    intake = Intake.objects.create(patient=patient, version=version, taken_by=prescriber, history={})
    signed = timezone.now() - timedelta(days=days_ago)
    return Screening.objects.create(
        patient=patient,
        intake=intake,
        findings=[],
        decision=decision,
        signed_by=prescriber,
        signed_at=signed,
        expires_at=signed + timedelta(days=365),
        rules_version="test",
    )


def weigh(patient, nurse, value="70", unit="kg", days_ago=0):
    from ketaclinic.patients.models import WeightMeasurement
    from ketaclinic.patients.units import weight_to_kg

    return WeightMeasurement.objects.create(
        patient=patient,
        measured_at=timezone.now() - timedelta(days=days_ago),
        weight_kg=weight_to_kg(Decimal(value), unit),
        entered_value=Decimal(value),
        entered_unit=unit,
        recorded_by=nurse,
    )


@pytest.fixture
def ready_patient(patient, prescriber, nurse):
    """Maria: screened eligible today, weighed 70 kg today."""
    screen(patient, prescriber)
    weigh(patient, nurse)
    return patient


@pytest.fixture
def iv_plan(clinic_a, prescriber, ready_patient, iv_protocol):
    from ketaclinic.protocols import actions

    return actions.create_plan(
        prescriber,
        clinic_a,
        ready_patient,
        protocol=iv_protocol,
        indication="trd",
        goal_scale="madrs",
        response_rule="pct_reduction",
        response_value="50",
        sessions_planned=6,
        baseline_score="32",
        sign=True,
    )


IV_DOSE = {"dose_mg_per_kg": "0.5", "duration_min": "40"}
