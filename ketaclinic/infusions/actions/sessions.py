"""Scheduling, the state machine from check-in to discharge, and the audited read of a session."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.clinic_time import clinic_datetime
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.infusions import closeout, states
from ketaclinic.infusions.actions.common import MAX_BACKDATE, announce, locked, required_text
from ketaclinic.infusions.actions.queries import gather_facts
from ketaclinic.infusions.models import (
    Session,
    SessionState,
    Transition,
)
from ketaclinic.patients.models import Patient


def view_session(*, user: User, clinic: Clinic, session: Session, what: str = "view") -> None:
    """Audit a read of a session (the chair view, its live stream, the printed record)."""
    require(user, clinic, "infusions.view")
    same_clinic(session.clinic_id, clinic, "session")
    with transaction.atomic():
        record(
            f"infusions.session.{what}",
            user=user,
            clinic=clinic,
            obj=session,
            patient_id=session.patient_id,
        )


def schedule_session(
    *,
    user: User,
    clinic: Clinic,
    patient: Patient,
    chair: str,
    scheduled_at: Any,
) -> Session:
    require(user, clinic, "infusions.schedule")
    same_clinic(patient.clinic_id, clinic, "patient")
    chair = required_text(chair, "chair", "Choose a chair.", limit=40)
    if scheduled_at in (None, ""):
        raise ValidationError({"scheduled_at": "This field is required."})
    when = clinic_datetime(scheduled_at, "scheduled_at", clinic)
    now = timezone.now()
    # A session booked on arrival may be a little in the past; a year ahead is a typing error.
    if not now - MAX_BACKDATE <= when <= now + timedelta(days=366):
        raise ValidationError({"scheduled_at": "Choose a time between yesterday and a year from now."})
    with transaction.atomic():
        session = Session.objects.create(
            clinic=clinic, patient=patient, chair=chair, scheduled_at=when, created_by=user
        )
        record(
            "infusions.session.schedule",
            user=user,
            clinic=clinic,
            obj=session,
            patient_id=patient.pk,
            detail={"chair": chair, "scheduled_at": when},
        )
        announce(session, {"type": "session", "session": session.to_dict()})
    return session


def confirm_escort(*, user: User, clinic: Clinic, session: Session, escort_name: str) -> Session:
    """Record who will take the patient home, confirmed in person or by phone on the day."""
    require(user, clinic, "infusions.run")
    same_clinic(session.clinic_id, clinic, "session")
    name = required_text(escort_name, "escort_name", "Name the adult who takes the patient home.", limit=200)
    with transaction.atomic():
        session = locked(session)
        if session.state in states.FINAL:
            raise ValidationError({"escort_name": f"The session is {session.get_state_display()}."})
        session.escort_confirmed_name = name
        session.escort_confirmed_at = timezone.now()
        session.escort_confirmed_by = user
        session.save(update_fields=["escort_confirmed_name", "escort_confirmed_at", "escort_confirmed_by"])
        record(
            "infusions.session.confirm_escort",
            user=user,
            clinic=clinic,
            obj=session,
            patient_id=session.patient_id,
            detail={"escort_name": name},
        )
        announce(session, {"type": "session", "session": session.to_dict()})
    return session


def transition(
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    to: str,
    reason: str = "",
) -> Session:
    """Move the session to state ``to`` if the state machine and its guard allow it.

    An illegal move or a failed guard raises ``ValidationError({"state": [...]})`` listing every
    failed condition in plain words; nothing changes.
    """
    require(user, clinic, "infusions.run")
    same_clinic(session.clinic_id, clinic, "session")
    if to not in SessionState.values:
        raise ValidationError({"state": f"Unknown state {to!r}."})
    reason = str(reason or "").strip()
    with transaction.atomic():
        session = move_state(user=user, clinic=clinic, session=locked(session), to=to, reason=reason)
    return session


def move_state(*, user: User, clinic: Clinic, session: Session, to: str, reason: str) -> Session:
    """The transition itself, on a locked session inside the caller's transaction."""
    now = timezone.now()
    try:
        failures = states.check(session.state, to, gather_facts(session, now=now, reason=reason))
    except states.IllegalTransition as exc:
        raise ValidationError({"state": str(exc)}) from None
    if to == SessionState.DISCHARGED:
        failures = [*failures, *closeout.problems(session)]
    if failures:
        raise ValidationError({"state": failures})
    previous = session.state
    Transition.objects.create(
        session=session, from_state=previous, to_state=to, at=now, by=user, reason=reason
    )
    session.state = to
    session.state_changed_at = now
    fields = ["state", "state_changed_at"]
    if to == SessionState.ABORTED:
        session.abort_reason = reason
        fields.append("abort_reason")
    session.save(update_fields=fields)
    record(
        "infusions.session.transition",
        user=user,
        clinic=clinic,
        obj=session,
        patient_id=session.patient_id,
        detail={"from": previous, "to": to, "reason": reason},
    )
    announce(session, {"type": "state", "session": session.to_dict(), "from": previous, "by": user.pk})
    return session
