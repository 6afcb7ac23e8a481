"""Alerts from stored observations (the pure rules are ``infusions.alert_rules``), overdue
observations, and acknowledgement with the action taken."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.infusions import alert_rules as rules
from ketaclinic.infusions.actions.common import announce, locked
from ketaclinic.infusions.actions.queries import session_protocol
from ketaclinic.infusions.models import (
    Alert,
    DoseKind,
    DosingEvent,
    Kind,
    Observation,
    Session,
    SessionState,
)


def _reading(obs: Observation) -> rules.Reading:
    return rules.Reading(
        at=obs.observed_at,
        systolic_mmhg=obs.systolic_mmhg,
        diastolic_mmhg=obs.diastolic_mmhg,
        heart_rate_bpm=obs.heart_rate_bpm,
        spo2_pct=obs.spo2_pct,
        resp_rate_per_min=obs.resp_rate_per_min,
        temperature_c=float(obs.temperature_c) if obs.temperature_c is not None else None,
        moaas=obs.score if obs.kind == Kind.MOAAS else None,
    )


def _raise_alerts(
    session: Session, found: list[rules.Finding], observation: Observation | None
) -> list[Alert]:
    if not found:  # nothing alarming: no need to know which alerts are open
        return []
    open_codes = Alert.objects.filter(session=session, acknowledged_at__isnull=True).values_list(
        "code", flat=True
    )
    return [
        Alert.objects.create(
            session=session,
            observation=observation,
            code=a.code,
            severity=a.severity.value,
            message=a.message[:300],
            source=a.source[:200],
            confirmed=a.confirmed,
        )
        for a in rules.new_only(found, list(open_codes))
    ]


def _baseline(session: Session, obs: Observation) -> rules.Baseline:
    """``alerts.baseline_from`` in one bounded query: the last blood pressure (corrections applied)
    taken at or before dosing started (``dosing_started_at``), other than ``obs``.

    Ties on the time go to the lower id, as ``baseline_from`` (``max`` keeps the first) does over
    the history in its default order (time, id). No dosing start: no baseline.
    """
    start = (
        DosingEvent.current()
        .filter(session=session, kind=DoseKind.START)
        .order_by("at", "id")
        .values("at")[:1]
    )
    moved = session.transitions.filter(to_state=SessionState.DOSING).order_by("at", "id").values("at")[:1]
    last = (
        Observation.current()
        .filter(
            session=session,
            kind=Kind.VITALS,
            systolic_mmhg__isnull=False,
            observed_at__lte=Coalesce(Subquery(start), Subquery(moved)),
        )
        .exclude(pk=obs.pk)
        .order_by("-observed_at", "id")
        .values_list("systolic_mmhg", "diastolic_mmhg")
        .first()
    )
    return rules.Baseline() if last is None else rules.Baseline(*last)


def _evaluate(session: Session, obs: Observation, thresholds: rules.Thresholds | None) -> list[rules.Finding]:
    """The alert rules on a new observation. They read one thing of the session's history, the
    blood-pressure baseline, and only for a reading with a blood pressure (``alerts._blood_pressure``)."""
    if obs.kind not in (Kind.VITALS, Kind.MOAAS):
        return []
    reading = _reading(obs)
    has_bp = reading.systolic_mmhg is not None or reading.diastolic_mmhg is not None
    baseline = _baseline(session, obs) if has_bp else rules.Baseline()
    return rules.evaluate(reading, baseline=baseline, thresholds=thresholds)


def check_overdue(
    *,
    session: Session,
    now: datetime | None = None,
    schedule: rules.MonitoringSchedule | None = None,
    thresholds: rules.Thresholds | None = None,
) -> list[Alert]:
    """Raise an alert for each scheduled observation not taken on time. Run periodically by the worker.

    The schedule and thresholds default to the session's protocol (``session_protocol``).
    """
    now = now or timezone.now()
    if schedule is None or thresholds is None:
        proto = session_protocol(session)
        schedule = schedule or proto.schedule
        thresholds = thresholds or proto.thresholds
    phase = {
        SessionState.DOSING: "dosing",
        SessionState.PAUSED: "dosing",
        SessionState.RECOVERY: "recovery",
    }.get(session.state)  # type: ignore[call-overload]
    if phase is None:
        return []
    with transaction.atomic():
        session = locked(session)
        last_at: dict[str, datetime] = {}
        for entry in schedule.entries:
            latest = (
                Observation.current()
                .filter(session=session, kind=entry.kind)
                .order_by("-observed_at")
                .values_list("observed_at", flat=True)
                .first()
            )
            if latest is not None:
                last_at[entry.kind] = latest
        tz = session.clinic.tz
        found = rules.overdue(
            schedule,
            phase=phase,
            phase_started_at=session.state_changed_at.astimezone(tz),
            last_at={k: v.astimezone(tz) for k, v in last_at.items()},
            now=now.astimezone(tz),
            thresholds=thresholds,
        )
        raised = _raise_alerts(session, found, None)
        if raised:
            record(
                "infusions.alert.overdue",
                clinic=session.clinic,
                obj=session,
                patient_id=session.patient_id,
                detail={"alerts": [a.code for a in raised]},
            )
            announce(session, {"type": "alert", "alerts": [a.to_dict() for a in raised]})
    return raised


def acknowledge_alert(*, user: User, clinic: Clinic, alert: Alert, action_taken: str) -> Alert:
    require(user, clinic, "infusions.acknowledge")
    same_clinic(alert.session.clinic_id, clinic, "alert")
    action_taken = str(action_taken or "").strip()
    if not action_taken:
        raise ValidationError({"action_taken": "Say what was done about this alert."})
    with transaction.atomic():
        alert = Alert.objects.select_for_update().select_related("session__clinic").get(pk=alert.pk)
        if alert.acknowledged_at is not None:
            raise ValidationError({"action_taken": "This alert was already acknowledged."})
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = user
        alert.action_taken = action_taken
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "action_taken"])
        record(
            "infusions.alert.acknowledge",
            user=user,
            clinic=clinic,
            obj=alert,
            patient_id=alert.session.patient_id,
            detail={"code": alert.code, "action_taken": action_taken},
        )
        announce(alert.session, {"type": "alert_ack", "alert": alert.to_dict()})
    return alert
