"""Discharge through the action, on both sides of each rule: the protocol's scored form must reach
9 (PADSS, clinical.md §3.2 [S45]), and the protocol's own minimum observation must have passed
(the IV template's 120 min; a protocol that asks for longer is held to its own number)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from ketaclinic.infusions import actions
from ketaclinic.infusions.models import SessionState
from tests.infusions.conftest import VITALS

CHECKLIST = {"gait_steady": True, "escort_present": True, "no_driving_advice_given": True}


def observe(nurse, clinic, session, kind, data, key):
    return actions.record_observation(
        user=nurse, clinic=clinic, session=session, kind=kind, data=data, idempotency_key=key
    )[0]


def recover(nurse, clinic, session, *, padss_mental):
    """Dose, stop, and record a recovery that passes the checklist, with one PADSS score."""
    for kind in ("start", "stop"):
        actions.record_dosing_event(
            user=nurse, clinic=clinic, session=session, kind=kind, idempotency_key=kind,
            reason="stopped early for the test" if kind == "stop" else "",
        )  # fmt: skip
    observe(nurse, clinic, session, "vitals", VITALS, "rv")
    observe(nurse, clinic, session, "moaas", {"score": 5}, "rm")
    observe(nurse, clinic, session, "cadss6", {"items": [0] * 6}, "rc")
    observe(nurse, clinic, session, "discharge_check", {"items": CHECKLIST}, "rd")
    padss = {"vital_signs": 2, "activity_mental_status": padss_mental, "pain_nausea_vomiting": 1}
    observe(nurse, clinic, session, "padss", {"items": padss}, f"rp{padss_mental}")


def discharge(nurse, clinic, session):
    return actions.transition(user=nurse, clinic=clinic, session=session, to="discharged")


def test_padss_below_9_holds_the_patient_and_9_lets_them_go(iv_session, nurse, clinic_a):
    recover(nurse, clinic_a, iv_session, padss_mental=0)  # 2 + 0 + 1 + 2 + 2 = 7
    with time_machine.travel(timezone.now() + timedelta(hours=3), tick=False):
        with pytest.raises(ValidationError, match="PADSS 7 is below 9"):
            discharge(nurse, clinic_a, iv_session)
        iv_session.refresh_from_db()
        assert iv_session.state == SessionState.RECOVERY
        observe(
            nurse,
            clinic_a,
            iv_session,
            "padss",
            {"items": {"vital_signs": 2, "activity_mental_status": 2, "pain_nausea_vomiting": 1}},
            "rp-ok",
        )
        assert discharge(nurse, clinic_a, iv_session).state == SessionState.DISCHARGED


def test_padss_of_exactly_8_is_refused(iv_session, nurse, clinic_a):
    recover(nurse, clinic_a, iv_session, padss_mental=1)  # 2 + 1 + 1 + 2 + 2 = 8
    with time_machine.travel(timezone.now() + timedelta(hours=3), tick=False):
        with pytest.raises(ValidationError, match="PADSS 8 is below 9"):
            discharge(nurse, clinic_a, iv_session)


def test_the_protocols_own_minimum_observation_holds(iv_session, nurse, clinic_a):
    # The order's snapshot asks for 180 min: 150 min is too early although the usual 120 have passed.
    order = iv_session.dose_order
    snapshot = order.protocol_snapshot
    snapshot.setdefault("config", {})["observation_min"] = 180
    type(order).objects.filter(pk=order.pk).update(protocol_snapshot=snapshot)
    iv_session.refresh_from_db()
    recover(nurse, clinic_a, iv_session, padss_mental=2)
    start = timezone.now()
    with time_machine.travel(start + timedelta(minutes=150), tick=False):
        with pytest.raises(ValidationError, match="180"):
            discharge(nurse, clinic_a, iv_session)
    with time_machine.travel(start + timedelta(minutes=185), tick=False):
        assert discharge(nurse, clinic_a, iv_session).state == SessionState.DISCHARGED
