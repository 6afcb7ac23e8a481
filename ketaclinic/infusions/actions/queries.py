"""Reads of a session that write nothing: its rules, the order plan, doses given, progress, and the
facts the state machine and the discharge assessment are judged on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from ketaclinic.accounts.models import Clinic
from ketaclinic.infusions import guardrails, pump, scales, states
from ketaclinic.infusions.models import (
    DoseKind,
    DosingEvent,
    Kind,
    Observation,
    Session,
    SessionState,
)
from ketaclinic.infusions.session_rules import SessionRules, from_snapshot
from ketaclinic.protocols.limits import parse_limits


def predose_vitals(session: Session) -> states.Vitals | None:
    """The latest vital signs taken before dosing (checked-in or pre-dose phase), corrections applied."""
    obs = (
        Observation.current()
        .filter(
            session=session, kind=Kind.VITALS, phase__in=[SessionState.CHECKED_IN, SessionState.PREDOSE_DONE]
        )
        .order_by("-observed_at", "-id")
        .first()
    )
    if obs is None:
        return None
    return states.Vitals(
        obs.observed_at,
        obs.systolic_mmhg,
        obs.diastolic_mmhg,
        obs.heart_rate_bpm,
        obs.spo2_pct,
        obs.resp_rate_per_min,
    )


def dosing_started_at(session: Session) -> datetime | None:
    """When dosing started: the start event's time (corrections applied), else the move to dosing."""
    start = DosingEvent.current().filter(session=session, kind=DoseKind.START).order_by("at", "id").first()
    if start is not None:
        return start.at
    first = session.transitions.filter(to_state=SessionState.DOSING).order_by("at", "id").first()
    return first.at if first else None


def session_protocol(session: Session) -> SessionRules:
    """The rules of the session's order (gates, schedule, thresholds, discharge); defaults without one."""
    order = session.dose_order
    if order is None:
        return SessionRules()
    return from_snapshot(order.protocol_snapshot, order.route)


def order_plan(session: Session, proto: SessionRules | None = None) -> pump.OrderPlan | None:
    order = session.dose_order
    if order is None:
        return None
    proto = proto or session_protocol(session)
    return pump.OrderPlan(
        route=order.route,
        dose_mg=order.dose_mg,
        total_mg=order.cumulative_mg or order.dose_mg,
        concentration_mg_per_ml=order.concentration_base_mg_per_ml,
        volume_ml=order.volume_ml,
        rate_ml_per_h=order.rate_ml_per_h,
        duration_min=order.duration_min,
        devices=order.devices,
        device_mg=proto.device_mg,
        device_rest=proto.device_rest,
    )


def order_facts(session: Session) -> guardrails.OrderFacts | None:
    """What the running guardrails check against: the order's weight, concentration, highest pump
    rate and bolus, and its library entry's limits (as signed: the order keeps its entry)."""
    order = session.dose_order
    if order is None:
        return None
    try:
        entry_limits = parse_limits(order.library_entry.limits)
    except ValueError:
        entry_limits = {}  # an entry that no longer parses: the order's own bounds still hold
    steps = [
        Decimal(str(s["rate_ml_per_h"])) for s in order.titration_steps if s.get("rate_ml_per_h") is not None
    ]
    return guardrails.order_facts(
        weight_kg=order.weight_kg,
        concentration_mg_per_ml=order.concentration_base_mg_per_ml,
        rate_ml_per_h=order.rate_ml_per_h,
        step_rates_ml_per_h=steps,
        bolus_mg=order.bolus_mg,
        limits=entry_limits,
    )


def as_dose(event: DosingEvent, tz: Any) -> pump.Dose:
    # In the clinic's zone, so a message naming a time ("the next device is due at 09:05") reads right.
    return pump.Dose(event.kind, event.at.astimezone(tz), event.rate_ml_per_h, event.mg, event.ml)


def dose_events(session: Session) -> list[pump.Dose]:
    """The session's dosing events, corrections applied (a corrected event is replaced by its correction)."""
    tz = session.clinic.tz
    return [as_dose(e, tz) for e in DosingEvent.current().filter(session=session).order_by("at", "id")]


def progress_for(session: Session, now: datetime | None = None) -> pump.Progress | None:
    """Mg and mL given and the time remaining, from the dosing events and the order."""
    plan = order_plan(session)
    return None if plan is None else pump.progress(plan, dose_events(session), now or timezone.now())


def observation_from(session: Session, proto: SessionRules) -> datetime | None:
    """Where the minimum observation time counts from: the first device (esketamine, as the label
    counts), else the end of dosing (the stop: a 4-hour infusion's 2 h of observation must not run
    out while it still runs); an IM injection ends when it starts. None until then."""
    current = DosingEvent.current().filter(session=session)
    if proto.observe_from_first_device:
        first = current.filter(kind=DoseKind.DEVICE).order_by("at", "id").first()
        return first.at if first else None
    stop = current.filter(kind=DoseKind.STOP).order_by("-at", "-id").first()
    if stop is not None:
        return stop.at
    if session.dose_order is not None and session.dose_order.route == "im":
        return dosing_started_at(session)
    return None


def _latest(
    session: Session, kinds: Sequence[str], phases: Sequence[str] | None = None
) -> Observation | None:
    qs = Observation.current().filter(session=session, kind__in=kinds)
    if phases:
        qs = qs.filter(phase__in=phases)
    return qs.order_by("-observed_at", "-id").first()


def discharge_assessment(
    session: Session, proto: SessionRules | None = None
) -> tuple[scales.Checklist | None, Observation | None]:
    """The discharge checklist from the recovery observations, and the protocol's scored form.

    None until a discharge check (gait, escort, no-driving advice) was recorded in recovery.
    """
    proto = proto or session_protocol(session)
    rec = [SessionState.RECOVERY]
    check = _latest(session, [Kind.DISCHARGE_CHECK], rec)
    score = _latest(session, [proto.discharge_score], rec)
    if check is None:
        return None, score
    base = predose_vitals(session)
    vitals = _latest(session, [Kind.VITALS], rec)
    moaas = _latest(session, [Kind.MOAAS], rec)
    cadss = _latest(session, [Kind.CADSS, Kind.CADSS6], rec)
    items = check.items or {}
    facts = scales.DischargeFacts(
        baseline_systolic_mmhg=base.systolic_mmhg if base else None,
        baseline_diastolic_mmhg=base.diastolic_mmhg if base else None,
        baseline_heart_rate_bpm=base.heart_rate_bpm if base else None,
        systolic_mmhg=vitals.systolic_mmhg if vitals else None,
        diastolic_mmhg=vitals.diastolic_mmhg if vitals else None,
        heart_rate_bpm=vitals.heart_rate_bpm if vitals else None,
        moaas=moaas.score if moaas else None,
        cadss_total=cadss.score if cadss else None,
        gait_steady=bool(items.get("gait_steady")),
        escort_present=bool(items.get("escort_present")),
        no_driving_advice_given=bool(items.get("no_driving_advice_given")),
    )
    return scales.evaluate_discharge(facts, proto.discharge), score


def _discharge_failures(session: Session, proto: SessionRules) -> tuple[str, ...] | None:
    checklist, score = discharge_assessment(session, proto)
    if checklist is None:
        return None
    total = None if score is None else (score.score or 0)
    return scales.discharge_failures(checklist, proto.discharge_score, total)


def gather_facts(session: Session, *, now: datetime, reason: str = "") -> states.Facts:
    """Everything the guards need, read from the database.

    The order facts come from the linked ``DoseOrder`` (signed: not superseded; double-checked:
    verified); the pre-dose gates, minimum observation time and discharge criteria from its
    protocol snapshot (``protocol.from_snapshot``).
    """
    patient = session.patient
    screening = patient.latest_screening()
    other_active = (
        Session.objects.filter(patient=patient, state__in=[s.value for s in states.ACTIVE])
        .exclude(pk=session.pk)
        .exists()
    )
    order = session.dose_order
    proto = session_protocol(session)
    discharge = _discharge_failures(session, proto) if session.state == SessionState.RECOVERY else None
    return states.Facts(
        now=now,
        other_active_session=other_active,
        order_signed=order is not None and order.status in ("signed", "verified"),
        order_double_checked=order is not None
        and order.status == "verified"
        and order.verified_at is not None,
        eligibility_current=screening is not None and screening.is_current(now),
        consent_recorded=patient.consents.exists(),
        escort_confirmed=session.escort_confirmed_at is not None,
        predose_vitals=predose_vitals(session),
        gates=proto.gates,
        observation_from=observation_from(session, proto),
        min_observation=proto.min_observation,
        discharge_failures=discharge,
        reason=reason,
    )


def schedule(clinic: Clinic, first_day: date, last_day: date) -> QuerySet[Session]:
    """The clinic's sessions booked from ``first_day`` to ``last_day`` (days in the active time
    zone, the clinic's), in time order, with their patient and order: the list page and the API."""
    start = timezone.make_aware(datetime.combine(first_day, time.min))
    end = timezone.make_aware(datetime.combine(last_day + timedelta(days=1), time.min))
    return (
        Session.in_clinic(clinic)
        .filter(scheduled_at__gte=start, scheduled_at__lt=end)
        .select_related("patient", "dose_order")
        .order_by("scheduled_at", "id")
    )
