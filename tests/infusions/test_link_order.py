"""Linking a dose order to a session: only this patient's current order, and only before dosing."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from ketaclinic.infusions import actions
from ketaclinic.patients.models import Consent, ConsentText, Patient
from tests.infusions.conftest import make_order
from tests.protocols.conftest import screen, weigh


@pytest.fixture
def other_patients_order(clinic_a, prescriber, nurse, clinic_admin, iv_order):
    other = Patient.objects.create(
        clinic=clinic_a,
        mrn="A-1002",
        given_name="Jonas",
        family_name="Berg",
        date_of_birth=date(1979, 11, 23),
        sex="male",
        escort_name="Eva Berg",
        escort_phone="555-0198",
        created_by=nurse,
    )
    # Screened, weighed and consented (to the clinic's existing consent text) like the first patient.
    screen(other, prescriber)
    weigh(other, nurse)
    Consent.objects.create(
        patient=other,
        text=ConsentText.objects.get(clinic=clinic_a),
        signed_by_name="Jonas Berg",
        signed_at=timezone.now(),
        witness=nurse,
        recorded_by=nurse,
    )
    return make_order(clinic_a, prescriber, nurse, other, clinic_admin)


def test_another_patients_order_is_refused_and_nothing_changes(
    frontdesk, nurse, clinic_a, patient, iv_order, other_patients_order
):
    session = actions.schedule_session(
        user=frontdesk, clinic=clinic_a, patient=patient, chair="Chair 2", scheduled_at=timezone.now()
    )
    with pytest.raises(ValidationError) as exc:
        actions.link_order(user=nurse, clinic=clinic_a, session=session, order=other_patients_order)
    assert exc.value.message_dict == {"dose_order": ["Choose a dose order of this patient."]}
    session.refresh_from_db()
    assert session.dose_order_id is None
    linked = actions.link_order(user=nurse, clinic=clinic_a, session=session, order=iv_order)
    assert linked.dose_order_id == iv_order.pk
