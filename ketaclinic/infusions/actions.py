"""Session actions: schedule, move along the state machine, record and correct observations,
raise and acknowledge alerts.

Each takes plain values (the acting user, the clinic, the data) so pages and the JSON API share
one set of rules; each checks the role (``accounts.access.require``) and the clinic, validates
before writing (``ValidationError`` naming the field), writes in one transaction, appends the
audit entry and publishes the live event last in that transaction (``events.bus.publish``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.clinic_time import clinic_datetime
from ketaclinic.accounts.models import Clinic, Membership, User
from ketaclinic.audit.actions import record
from ketaclinic.events.bus import channel_for_floor, channel_for_session, publish_many
from ketaclinic.infusions import alert_rules as rules
from ketaclinic.infusions import observations, pump, scales, states
from ketaclinic.infusions.models import (
    Alert,
    DoseKind,
    DosingEvent,
    Kind,
    Observation,
    Session,
    SessionState,
    Source,
    Transition,
)
from ketaclinic.infusions.session_rules import SessionRules, from_snapshot
from ketaclinic.patients.models import Patient

# A device clock a little ahead of the server must not make "now" look like the future.
CLOCK_SKEW = timedelta(minutes=5)
# An observation may be entered late (charting after the fact), but not for another day.
MAX_BACKDATE = timedelta(hours=24)
MAX_KEY = 100
MAX_REASON = 200  # the length of the correction_reason columns
ALREADY_CORRECTED = "This record was already corrected; correct the correction instead."
IS_WITHDRAWAL = "This entry is a withdrawal; it cannot be corrected or withdrawn."


# --- helpers -------------------------------------------------------------------------------


def _required_text(value: Any, field: str, missing: str, limit: int = MAX_REASON) -> str:
    """A required line of text (a reason, a name), trimmed: ``missing`` when empty, refused when too long."""
    text = str(value or "").strip()
    if not text:
        raise ValidationError({field: missing})
    if len(text) > limit:
        raise ValidationError({field: f"At most {limit} characters."})
    return text


def _moment(value: Any, field: str, clinic: Clinic, now: datetime) -> datetime:
    """When something was observed: now if not given, never in the future."""
    if value in (None, ""):
        return now
    moment = clinic_datetime(value, field, clinic)
    if moment > now + CLOCK_SKEW:
        raise ValidationError({field: "This time is in the future."})
    return moment


def _publish(session: Session, event: dict[str, Any], *, floor: dict[str, Any] | None = None) -> None:
    """The event on the session's channel, and with its session id on the clinic's floor channel (last)."""
    publish_many(
        [
            (channel_for_session(session.pk), event),
            (channel_for_floor(session.clinic_id), {**event, **(floor or {}), "session_id": session.pk}),
        ],
        clinic=session.clinic,
    )


def _locked(session: Session) -> Session:
    return Session.objects.select_for_update().select_related("clinic", "patient").get(pk=session.pk)


# --- reading -------------------------------------------------------------------------------


def view_session(
    *, user: User, clinic: Clinic, session: Session, what: str = "view", request: HttpRequest | None = None
) -> None:
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
            request=request,
        )


# --- scheduling and the state machine ------------------------------------------------------


def schedule_session(
    *,
    user: User,
    clinic: Clinic,
    patient: Patient,
    chair: str,
    scheduled_at: Any,
    request: HttpRequest | None = None,
) -> Session:
    require(user, clinic, "infusions.schedule")
    same_clinic(patient.clinic_id, clinic, "patient")
    chair = _required_text(chair, "chair", "Choose a chair.", limit=40)
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
            request=request,
        )
        _publish(session, {"type": "session", "session": session.to_dict()})
    return session


def confirm_escort(
    *, user: User, clinic: Clinic, session: Session, escort_name: str, request: HttpRequest | None = None
) -> Session:
    """Record who will take the patient home, confirmed in person or by phone on the day."""
    require(user, clinic, "infusions.run")
    same_clinic(session.clinic_id, clinic, "session")
    name = _required_text(escort_name, "escort_name", "Name the adult who takes the patient home.", limit=200)
    with transaction.atomic():
        session = _locked(session)
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
            request=request,
        )
        _publish(session, {"type": "session", "session": session.to_dict()})
    return session


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


def _dose(event: DosingEvent, tz: Any) -> pump.Dose:
    # In the clinic's zone, so a message naming a time ("the next device is due at 09:05") reads right.
    return pump.Dose(event.kind, event.at.astimezone(tz), event.rate_ml_per_h, event.mg, event.ml)


def dose_events(session: Session) -> list[pump.Dose]:
    """The session's dosing events, corrections applied (a corrected event is replaced by its correction)."""
    tz = session.clinic.tz
    return [_dose(e, tz) for e in DosingEvent.current().filter(session=session).order_by("at", "id")]


def progress_for(session: Session, now: datetime | None = None) -> pump.Progress | None:
    """Mg and mL given and the time remaining, from the dosing events and the order."""
    plan = order_plan(session)
    return None if plan is None else pump.progress(plan, dose_events(session), now or timezone.now())


def observation_from(session: Session, proto: SessionRules) -> datetime | None:
    """Where the minimum observation time counts from: the first device (esketamine), else dosing start."""
    if proto.observe_from_first_device:
        first = (
            DosingEvent.current().filter(session=session, kind=DoseKind.DEVICE).order_by("at", "id").first()
        )
        return first.at if first else None
    return dosing_started_at(session)


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
    failures = list(checklist.failures)
    name = "modified Aldrete" if proto.discharge_score == "aldrete" else "PADSS"
    if score is None:
        failures.append(f"no {name} score recorded in recovery (the protocol's discharge criterion)")
    elif (score.score or 0) < scales.PADSS_READY_AT:
        failures.append(f"{name} {score.score} is below {scales.PADSS_READY_AT}")
    return tuple(failures)


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


def transition(
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    to: str,
    reason: str = "",
    request: HttpRequest | None = None,
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
        session = _move(
            user=user, clinic=clinic, session=_locked(session), to=to, reason=reason, request=request
        )
    return session


def _move(
    *, user: User, clinic: Clinic, session: Session, to: str, reason: str, request: HttpRequest | None
) -> Session:
    """The transition itself, on a locked session inside the caller's transaction."""
    now = timezone.now()
    try:
        failures = states.check(session.state, to, gather_facts(session, now=now, reason=reason))
    except states.IllegalTransition as exc:
        raise ValidationError({"state": str(exc)}) from None
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
        request=request,
    )
    _publish(session, {"type": "state", "session": session.to_dict(), "from": previous, "by": user.pk})
    return session


# --- observations --------------------------------------------------------------------------


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


def _key(idempotency_key: Any) -> str:
    key = str(idempotency_key or "").strip()
    if not key:
        raise ValidationError({"idempotency_key": "Every observation needs an idempotency key."})
    if len(key) > MAX_KEY:
        raise ValidationError({"idempotency_key": f"At most {MAX_KEY} characters."})
    return key


def _same_values(existing: Observation, values: Mapping[str, Any]) -> bool:
    stored = existing.values()
    return all(str(stored[k]) == str(v) for k, v in values.items())


def _same_submission(existing: Observation, kind: str, values: Mapping[str, Any], corrects: Any) -> bool:
    return (
        existing.kind == kind
        and existing.corrects_id == (corrects.pk if corrects is not None else None)
        and _same_values(existing, values)
    )


@dataclass(frozen=True)
class Recorded:
    """What ``record_observation`` did: the observation, whether it is new (False: a retry answered
    with the stored one), and the alerts it raised (a retry raises none; they were raised the first
    time). Unpacks as ``observation, created``."""

    observation: Observation
    created: bool
    alerts: tuple[Alert, ...] = ()

    def __iter__(self) -> Iterator[Any]:
        return iter((self.observation, self.created))


def record_observation(
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    kind: str,
    data: Mapping[str, Any],
    idempotency_key: Any,
    observed_at: Any = None,
    source: str = Source.MANUAL,
    device_id: str = "",
    corrects: Observation | None = None,
    correction_reason: str = "",
    thresholds: rules.Thresholds | None = None,
    request: HttpRequest | None = None,
    membership: Membership | None = None,
) -> Recorded:
    """Store one observation, evaluate it, raise alerts, and announce it. Returns a ``Recorded``
    (it unpacks as ``observation, created``; ``alerts`` are those a new observation raised).

    A retry with the same ``idempotency_key`` returns the stored observation and writes nothing;
    the same key with different content is refused. It is acknowledged (returned) only after commit.

    ``membership``: the caller's, when already read in this request (``require``).

    A device may post every few seconds per chair, so the statements are counted
    (tests/infusions/test_query_counts.py): the session is read and locked once with its order,
    the idempotency key is checked by the INSERT itself (the unique constraint; a retry is found
    after the rollback), and the alert rules read only the baseline blood pressure.
    """
    require(user, clinic, "infusions.record", membership)
    same_clinic(session.clinic_id, clinic, "session")
    key = _key(idempotency_key)
    if source not in Source.values:
        raise ValidationError({"source": f"Unknown source {source!r}; manual or device."})
    try:
        values = observations.clean(kind, data)
    except observations.ObservationError as exc:
        raise ValidationError({exc.field: exc.message}) from None
    now = timezone.now()
    when = _moment(observed_at, "observed_at", clinic, now)
    # A correction keeps the time of what it corrects, however long ago; a new time must be recent.
    kept_time = corrects is not None and when == corrects.observed_at
    if when < now - MAX_BACKDATE and not kept_time:
        raise ValidationError({"observed_at": "More than 24 hours ago; add a note to the session instead."})
    try:
        with transaction.atomic():
            recorded = _store_observation(
                user=user,
                clinic=clinic,
                session=session,
                kind=kind,
                values=values,
                key=key,
                when=when,
                now=now,
                source=source,
                device_id=device_id,
                corrects=corrects,
                correction_reason=correction_reason,
                thresholds=thresholds,
                request=request,
            )
    except IntegrityError:
        # The key is taken: a retry (perhaps racing the original), rolled back; answer with the stored one.
        existing = Observation.objects.filter(session=session, idempotency_key=key).first()
        if existing is None:
            if corrects is not None and Observation.objects.filter(corrects=corrects).exists():
                raise ValidationError({"corrects": ALREADY_CORRECTED}) from None
            raise
        return _replayed(existing, kind, values, corrects)
    return recorded


def _store_observation(  # noqa: PLR0913 - record_observation's checked values
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    kind: str,
    values: Mapping[str, Any],
    key: str,
    when: datetime,
    now: datetime,
    source: str,
    device_id: str,
    corrects: Observation | None,
    correction_reason: str,
    thresholds: rules.Thresholds | None,
    request: HttpRequest | None,
) -> Recorded:
    """The write of ``record_observation``, in its transaction. An IntegrityError leaves it (rolled back)."""
    # Only the session row is locked (its clinic and order are read with it, not locked).
    session = (
        Session.objects.select_for_update(of=("self",))
        .select_related("clinic", "dose_order")
        .get(pk=session.pk)
    )
    if corrects is None and session.state in (SessionState.SCHEDULED, *states.FINAL):
        existing = Observation.objects.filter(session=session, idempotency_key=key).first()
        if existing is not None:  # a late retry of what was stored before discharge
            return _replayed(existing, kind, values, corrects)
        raise ValidationError(
            {
                "session": f"The session is {session.get_state_display()}; observations are recorded "
                "from check-in to discharge (corrections are always possible)."
            }
        )
    obs = Observation(
        session=session,
        kind=kind,
        observed_at=when,
        recorded_at=now,
        recorded_by=user,
        source=source,
        device_id=str(device_id or "")[:100],
        # A correction belongs to the phase of what it corrects: a corrected pre-dose reading
        # is still the pre-dose baseline, a corrected recovery score still counts for discharge.
        phase=corrects.phase if corrects is not None else session.state,
        idempotency_key=key,
        corrects=corrects,
        correction_reason=correction_reason,
        **values,
    )
    obs.save(force_insert=True)
    if thresholds is None:
        thresholds = session_protocol(session).thresholds
    alerts = _raise_alerts(session, _evaluate(session, obs, thresholds), obs)
    action = "infusions.observation.correct" if corrects is not None else "infusions.observation.record"
    record(
        action,
        user=user,
        clinic=clinic,
        obj=obs,
        patient_id=session.patient_id,
        request=request,
        detail={
            "kind": kind,
            "idempotency_key": key,
            "source": source,
            "values": values,
            "corrects": corrects.pk if corrects else None,
            "reason": correction_reason,
            "alerts": [a.code for a in alerts],
        },
    )
    event = {"type": "observation", "observation": obs.to_dict(), "alerts": [a.to_dict() for a in alerts]}
    _publish(session, event)
    return Recorded(obs, True, tuple(alerts))


def _replayed(existing: Observation, kind: str, values: Mapping[str, Any], corrects: Any) -> Recorded:
    if not _same_submission(existing, kind, values, corrects):
        raise ValidationError(
            {"idempotency_key": "This key was already used for a different observation; use a new key."}
        )
    return Recorded(existing, False)


def correct_observation(
    *,
    user: User,
    clinic: Clinic,
    original: Observation,
    data: Mapping[str, Any],
    reason: str,
    idempotency_key: Any,
    observed_at: Any = None,
    request: HttpRequest | None = None,
) -> Recorded:
    """A new observation of the same kind that replaces ``original`` (which is kept, never edited)."""
    require(user, clinic, "infusions.record")
    session = original.session
    same_clinic(session.clinic_id, clinic, "observation")
    if original.withdrawn:
        raise ValidationError({"corrects": IS_WITHDRAWAL})
    reason = _required_text(reason, "correction_reason", "Say why the observation is corrected.")
    replaced = Observation.objects.filter(corrects=original).first()
    if replaced is not None and replaced.withdrawn:
        raise ValidationError({"corrects": _withdrawn_message(replaced)})
    if replaced is not None and replaced.idempotency_key != str(idempotency_key or "").strip():
        raise ValidationError({"corrects": ALREADY_CORRECTED})
    when = original.observed_at
    if observed_at not in (None, ""):
        when = _moment(observed_at, "observed_at", clinic, timezone.now())
        # A form shows the time to the second: the same second means the time was not changed.
        if when.replace(microsecond=0) == original.observed_at.replace(microsecond=0):
            when = original.observed_at
    if replaced is None:
        try:
            values = observations.clean(original.kind, data)
        except observations.ObservationError as exc:
            raise ValidationError({exc.field: exc.message}) from None
        if when == original.observed_at and _same_values(original, values):
            raise ValidationError(
                {"corrects": "Nothing differs from the recorded observation; change a value."}
            )
    return record_observation(
        user=user,
        clinic=clinic,
        session=session,
        kind=original.kind,
        data=data,
        idempotency_key=idempotency_key,
        observed_at=when,
        source=Source.MANUAL,
        corrects=original,
        correction_reason=reason,
        request=request,
    )


def _withdrawn_message(withdrawal: Observation) -> str:
    return (
        f"This observation was withdrawn as entered in error (#{withdrawal.pk}: "
        f"{withdrawal.correction_reason}); record a new one instead."
    )


def withdraw_observation(
    *,
    user: User,
    clinic: Clinic,
    original: Observation,
    reason: str,
    idempotency_key: Any,
    request: HttpRequest | None = None,
) -> tuple[Observation, bool]:
    """Withdraw ``original`` as entered in error (wrong kind, wrong session, recorded twice).

    Writes a withdrawal: a new row of the same kind, time and phase whose ``corrects`` points at
    ``original``, with ``withdrawn`` set, no values, the reason and its author. ``original`` is kept,
    never edited; both leave ``Observation.current()``, so nothing computed reads the entry again.
    Only the head of a chain can be withdrawn (withdraw the correction, not what it corrected); a
    withdrawal cannot be withdrawn or corrected. The open alerts the entry raised stay open for a
    nurse to acknowledge. Returns (withdrawal, created); a retry with the same key returns the stored one.
    """
    require(user, clinic, "infusions.record")
    session = original.session
    same_clinic(session.clinic_id, clinic, "observation")
    key = _key(idempotency_key)
    reason = _required_text(reason, "withdrawal_reason", "Say why the entry is withdrawn.")
    if original.withdrawn:
        raise ValidationError({"corrects": IS_WITHDRAWAL})
    try:
        with transaction.atomic():
            session = _locked(session)
            existing = Observation.objects.filter(session=session, idempotency_key=key).first()
            if existing is not None:
                return _replayed_withdrawal(existing, original, reason), False
            successor = Observation.objects.filter(corrects=original).first()
            if successor is not None and successor.withdrawn:
                raise ValidationError({"corrects": _withdrawn_message(successor)})
            if successor is not None:
                raise ValidationError(
                    {
                        "corrects": f"This observation was corrected by #{successor.pk}; "
                        "withdraw the correction instead."
                    }
                )
            withdrawal = _store_withdrawal(
                user=user,
                clinic=clinic,
                session=session,
                original=original,
                reason=reason,
                key=key,
                request=request,
            )
    except IntegrityError:
        # A concurrent withdrawal or key: rolled back; answer with what is stored.
        existing = Observation.objects.filter(session=session, idempotency_key=key).first()
        if existing is not None:
            return _replayed_withdrawal(existing, original, reason), False
        raise ValidationError({"corrects": ALREADY_CORRECTED}) from None
    return withdrawal, True


def _store_withdrawal(
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    original: Observation,
    reason: str,
    key: str,
    request: HttpRequest | None,
) -> Observation:
    withdrawal = Observation(
        session=session,
        kind=original.kind,
        # The withdrawn entry's time and phase: the withdrawal sits next to it in every list.
        observed_at=original.observed_at,
        recorded_at=timezone.now(),
        recorded_by=user,
        source=Source.MANUAL,
        phase=original.phase,
        idempotency_key=key,
        corrects=original,
        correction_reason=reason,
        withdrawn=True,
    )
    withdrawal.save(force_insert=True)
    still_open = list(
        Alert.objects.filter(observation=original, acknowledged_at__isnull=True)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    record(
        "infusions.observation.withdraw",
        user=user,
        clinic=clinic,
        obj=withdrawal,
        patient_id=session.patient_id,
        request=request,
        detail={
            "kind": original.kind,
            "idempotency_key": key,
            "withdraws": original.pk,
            "reason": reason,
            "values": original.to_dict()["values"],
            "open_alerts": still_open,
        },
    )
    event = {
        "type": "observation",
        "observation": withdrawal.to_dict(),
        "withdraws": original.pk,
        "alerts": [],
    }
    _publish(session, event)
    return withdrawal


def _replayed_withdrawal(existing: Observation, original: Observation, reason: str) -> Observation:
    same = existing.withdrawn and existing.corrects_id == original.pk and existing.correction_reason == reason
    if not same:
        raise ValidationError(
            {"idempotency_key": "This key was already used for a different entry; use a new key."}
        )
    return existing


# --- alerts --------------------------------------------------------------------------------


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
        session = _locked(session)
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
            _publish(session, {"type": "alert", "alerts": [a.to_dict() for a in raised]})
    return raised


def acknowledge_alert(
    *, user: User, clinic: Clinic, alert: Alert, action_taken: str, request: HttpRequest | None = None
) -> Alert:
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
            request=request,
        )
        _publish(alert.session, {"type": "alert_ack", "alert": alert.to_dict()})
    return alert


# --- the order and dosing ------------------------------------------------------------------

# Dosing events that also move the session along its state machine.
DOSE_TRANSITIONS = {
    DoseKind.START: SessionState.DOSING,
    DoseKind.PAUSE: SessionState.PAUSED,
    DoseKind.RESUME: SessionState.DOSING,
    DoseKind.STOP: SessionState.RECOVERY,
}


def link_order(
    *, user: User, clinic: Clinic, session: Session, order: Any, request: HttpRequest | None = None
) -> Session:
    """Attach the patient's signed dose order to the session (before dosing starts)."""
    require(user, clinic, "infusions.run")
    same_clinic(session.clinic_id, clinic, "session")
    if order is None or order.patient_id != session.patient_id:
        raise ValidationError({"dose_order": "Choose a dose order of this patient."})
    if order.status == "superseded":
        raise ValidationError(
            {"dose_order": "This order was superseded by a correction; choose the current one."}
        )
    with transaction.atomic():
        session = _locked(session)
        if session.state not in (SessionState.SCHEDULED, SessionState.CHECKED_IN, SessionState.PREDOSE_DONE):
            raise ValidationError(
                {
                    "dose_order": f"The session is {session.get_state_display()}; "
                    "the order can no longer change."
                }
            )
        previous = session.dose_order_id
        session.dose_order = order
        session.save(update_fields=["dose_order"])
        record(
            "infusions.session.link_order",
            user=user,
            clinic=clinic,
            obj=session,
            patient_id=session.patient_id,
            detail={"order": order.pk, "previous": previous},
            request=request,
        )
        _publish(session, {"type": "session", "session": session.to_dict()})
    return session


def _decimal(value: Any, field: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"{value!r} is not a number."}) from None
    if not number.is_finite() or number <= 0 or number >= 100000:
        raise ValidationError({field: "Enter a number above 0."})
    # Rates and amounts are stored to 0.1 (mL/h, mg): refuse more rather than round silently.
    if number != number.quantize(Decimal("0.1")):
        raise ValidationError({field: f"Enter at most one decimal place (got {value})."})
    return number


# The values an event stores, by kind: the pump rate from this event on, the amount given at once.
RATE_KINDS = (DoseKind.START, DoseKind.RATE, DoseKind.RESUME)
MG_KINDS = (DoseKind.BOLUS, DoseKind.DEVICE, DoseKind.START)
# The columns hold 0.1 mL/h and 0.1 mg; a default with more places is rounded when stored.
STORED_STEP = Decimal("0.1")


def _with_defaults(
    plan: pump.OrderPlan, kind: str, rate: Decimal | None, amount: Decimal | None
) -> tuple[Decimal | None, Decimal | None]:
    """The order's values where the event gives none: an IV start's rate, an IM start's dose, a
    nasal device's mg."""
    if kind == DoseKind.DEVICE:
        amount = amount or plan.device_mg
    if kind == DoseKind.START and plan.route == "iv" and rate is None:
        rate = plan.rate_ml_per_h
    if kind == DoseKind.START and plan.route == "im":
        amount = amount or plan.dose_mg
    return rate, amount


def _same_amount(stored: Decimal | None, sent: Decimal | None) -> bool:
    if stored is None or sent is None:
        return stored is sent
    return abs(stored - sent) <= STORED_STEP / 2


def record_dosing_event(  # noqa: PLR0912, PLR0913 - the fields of one event, each checked
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    kind: str,
    idempotency_key: Any,
    at: Any = None,
    rate_ml_per_h: Any = None,
    mg: Any = None,
    lot_number: str = "",
    reason: str = "",
    request: HttpRequest | None = None,
) -> tuple[DosingEvent, bool]:
    """Record start, rate change (with reason), pause (with reason), resume, bolus, stop or a nasal device.

    Start, pause, resume and stop move the session's state in the same transaction (their guards
    apply: a refused start lists every failed condition). The event must fit the order
    (``pump.check``: no bolus beyond the signed total, 5 min between devices, ...). A retry with
    the same ``idempotency_key`` and the same content returns the stored event and writes nothing;
    the same key with other content is refused (``_dose_replayed``).
    """
    require(user, clinic, "infusions.run")
    same_clinic(session.clinic_id, clinic, "session")
    key = _key(idempotency_key)
    if kind not in DoseKind.values:
        raise ValidationError(
            {"kind": f"Unknown dosing event {kind!r}; one of {', '.join(DoseKind.values)}."}
        )
    rate = _decimal(rate_ml_per_h, "rate_ml_per_h")
    amount = _decimal(mg, "mg")
    reason = str(reason or "").strip()[:300]
    lot = str(lot_number or "").strip()[:60]
    if kind == DoseKind.RATE and not reason:
        raise ValidationError({"reason": "Say why the rate changes."})
    if kind == DoseKind.PAUSE and not reason:
        raise ValidationError({"reason": "Say why the infusion is paused."})
    now = timezone.now()
    when = _moment(at, "at", clinic, now)
    if when < now - timedelta(hours=2):
        raise ValidationError({"at": "More than 2 hours ago; add a note instead."})
    # What was submitted, for comparing a retry with what is stored (no time given: none to compare).
    sent = (kind, None if at in (None, "") else when, rate, amount, lot, reason)
    existing = DosingEvent.objects.filter(session=session, idempotency_key=key).first()
    if existing is not None:
        return _dose_replayed(existing, order_plan(session), sent)
    with transaction.atomic():
        session = _locked(session)
        proto = session_protocol(session)
        plan = order_plan(session, proto)
        existing = DosingEvent.objects.filter(session=session, idempotency_key=key).first()
        if existing is not None:
            return _dose_replayed(existing, plan, sent)
        if plan is None:
            raise ValidationError({"kind": "Link the signed dose order to the session first."})
        rate, amount = _with_defaults(plan, kind, rate, amount)
        if kind not in DOSE_TRANSITIONS and session.state not in (SessionState.DOSING, SessionState.PAUSED):
            raise ValidationError(
                {"kind": f"The session is {session.get_state_display()}; start dosing first."}
            )
        problems = pump.check(plan, dose_events(session), pump.Dose(kind, when, rate, amount))
        if problems:
            raise ValidationError(problems)
        target = DOSE_TRANSITIONS.get(kind)  # type: ignore[call-overload]
        if target is not None:
            session = _move(
                user=user, clinic=clinic, session=session, to=target, reason=reason, request=request
            )
        ml = (
            amount / plan.concentration_mg_per_ml
            if (kind == DoseKind.BOLUS and amount is not None and plan.concentration_mg_per_ml)
            else None
        )
        count = DosingEvent.current().filter(session=session, kind=DoseKind.DEVICE).count()
        event = DosingEvent.objects.create(
            session=session,
            kind=kind,
            at=when,
            recorded_at=now,
            recorded_by=user,
            rate_ml_per_h=rate if kind in RATE_KINDS else None,
            mg=amount if kind in MG_KINDS else None,
            ml=ml.quantize(Decimal("0.01")) if ml is not None else None,
            device_number=count + 1 if kind == DoseKind.DEVICE else None,
            lot_number=lot,
            reason=reason,
            idempotency_key=key,
        )
        progress = pump.progress(plan, dose_events(session), max(now, when))
        record(
            "infusions.dose.record",
            user=user,
            clinic=clinic,
            obj=event,
            patient_id=session.patient_id,
            request=request,
            detail={"event": event.to_dict(), "idempotency_key": key, "given_mg": str(progress.given_mg)},
        )
        _publish(
            session,
            {
                "type": "dose",
                "dose": event.to_dict(),
                "progress": progress.to_dict(),
                "session": session.to_dict(),
            },
        )
    return event, True


def _dose_replayed(
    existing: DosingEvent,
    plan: pump.OrderPlan | None,
    sent: tuple[str, datetime | None, Decimal | None, Decimal | None, str, str],
) -> tuple[DosingEvent, bool]:
    """The stored event if the retry submits what it stored, normalised as the write normalises it
    (the order's defaults filled in, values the kind does not keep dropped); else a 422 on the key.

    ``at`` is compared when the retry gives one: an event sent without a time was stored at the
    moment it arrived, which a retry cannot repeat.
    """
    kind, at, rate, mg, lot_number, reason = sent
    if plan is not None:
        rate, mg = _with_defaults(plan, kind, rate, mg)
    same = (
        existing.corrects_id is None
        and existing.kind == kind
        and (at is None or existing.at == at)
        and _same_amount(existing.rate_ml_per_h, rate if kind in RATE_KINDS else None)
        and _same_amount(existing.mg, mg if kind in MG_KINDS else None)
        and existing.lot_number == lot_number
        and existing.reason == reason
    )
    if not same:
        raise ValidationError(
            {"idempotency_key": "This key was already used for a different dosing event; use a new key."}
        )
    return existing, False


# Which values a correction may change, by kind of dosing event (RATE_KINDS: the pump rate).
# A nasal device's amount is the device's (the protocol's 28 mg), not typed: it has none to correct.
AMOUNT_KINDS = (DoseKind.BOLUS, DoseKind.START)


def correct_dosing_event(  # noqa: PLR0912, PLR0913, PLR0915 - the fields of one correction, each checked
    *,
    user: User,
    clinic: Clinic,
    original: DosingEvent,
    reason: str,
    idempotency_key: Any,
    at: Any = None,
    rate_ml_per_h: Any = None,
    mg: Any = None,
    lot_number: Any = None,
    request: HttpRequest | None = None,
) -> tuple[DosingEvent, bool]:
    """A new dosing event of the same kind that replaces ``original`` (kept, never edited).

    Corrects what was entered wrong: the time (``at``), the pump rate (start, rate change, resume),
    the amount (bolus, IM start) or the device lot. A value left ``None`` (or empty)
    keeps the original's. The reason is required. Every later event must still fit after the
    corrected one (``pump.check_all``); a start cannot move before the pre-dose assessment.
    An event is corrected once: to change a correction, correct the correction. A retry with the
    same ``idempotency_key`` returns the stored correction. The state history is not rewritten: it
    keeps when each button was pressed; the dosing record says when it happened.
    """
    require(user, clinic, "infusions.run")
    session = original.session
    same_clinic(session.clinic_id, clinic, "dosing_event")
    key = _key(idempotency_key)
    reason = _required_text(reason, "correction_reason", "Say why the dosing event is corrected.")
    kind = original.kind
    label = original.get_kind_display().lower()
    rate = _decimal(rate_ml_per_h, "rate_ml_per_h")
    amount = _decimal(mg, "mg")
    if rate is not None and kind not in RATE_KINDS:
        raise ValidationError({"rate_ml_per_h": f"A {label} has no pump rate."})
    if amount is not None and kind not in AMOUNT_KINDS:
        raise ValidationError({"mg": f"A {label} has no amount to correct."})
    lot = None if lot_number is None else str(lot_number).strip()
    if lot is not None and len(lot) > 60:
        raise ValidationError({"lot_number": "At most 60 characters."})
    if lot and kind != DoseKind.DEVICE and not original.lot_number:
        raise ValidationError({"lot_number": "Only a nasal device carries a lot number."})
    now = timezone.now()
    when = original.at
    if at not in (None, ""):
        when = _moment(at, "at", clinic, now)
        # A form shows the time to the second: the same second means the time was not changed.
        if when.replace(microsecond=0) == original.at.replace(microsecond=0):
            when = original.at
        elif when < now - MAX_BACKDATE:
            raise ValidationError({"at": "More than 24 hours ago; add a note to the session instead."})
    # What the correction stores: a value left out keeps the original's.
    sent = (
        when,
        rate if rate is not None else original.rate_ml_per_h,
        amount if amount is not None else original.mg,
        lot if lot is not None else original.lot_number,
        reason,
    )
    existing = DosingEvent.objects.filter(session=session, idempotency_key=key).first()
    if existing is not None:
        return _correction_replayed(existing, original, sent)
    with transaction.atomic():
        session = _locked(session)
        existing = DosingEvent.objects.filter(session=session, idempotency_key=key).first()
        if existing is not None:
            return _correction_replayed(existing, original, sent)
        if DosingEvent.objects.filter(corrects=original).exists():
            raise ValidationError({"corrects": ALREADY_CORRECTED})
        plan = order_plan(session)
        if plan is None:
            raise ValidationError({"corrects": "The session has no dose order."})
        if amount is not None and kind == DoseKind.START and plan.route != "im":
            raise ValidationError({"mg": "Only an IM start gives an amount; correct the pump rate instead."})
        new_rate = rate if rate is not None else original.rate_ml_per_h
        new_mg = amount if amount is not None else original.mg
        new_lot = lot if lot is not None else original.lot_number
        if (when, new_rate, new_mg, new_lot) == (
            original.at,
            original.rate_ml_per_h,
            original.mg,
            original.lot_number,
        ):
            raise ValidationError(
                {"corrects": "Nothing differs from the recorded event; change the time, rate, dose or lot."}
            )
        if kind == DoseKind.START:
            predose = (
                session.transitions.filter(to_state=SessionState.PREDOSE_DONE).order_by("-at", "-id").first()
            )
            if predose is not None and when < predose.at:
                local = predose.at.astimezone(clinic.tz)
                raise ValidationError(
                    {"at": f"Dosing cannot start before the pre-dose assessment was done ({local:%H:%M})."}
                )
        ml = original.ml
        if kind == DoseKind.BOLUS and new_mg != original.mg:
            conc = plan.concentration_mg_per_ml
            ml = (new_mg / conc).quantize(Decimal("0.01")) if (new_mg is not None and conc) else None
        tz = clinic.tz
        replacement = pump.Dose(kind, when.astimezone(tz), new_rate, new_mg, ml)
        events = [
            replacement if e.pk == original.pk else _dose(e, tz)
            for e in DosingEvent.current().filter(session=session).order_by("at", "id")
        ]
        bad, problems = pump.check_all(plan, events)
        if problems:
            if bad is replacement or bad is None:
                raise ValidationError(problems)
            raise ValidationError(
                {
                    field: f"With this correction, the {DoseKind(bad.kind).label.lower()} at "
                    f"{bad.at:%H:%M} would no longer fit: {message}"
                    for field, message in problems.items()
                }
            )
        try:
            with transaction.atomic():
                event = DosingEvent.objects.create(
                    session=session,
                    kind=kind,
                    at=when,
                    recorded_at=now,
                    recorded_by=user,
                    rate_ml_per_h=new_rate,
                    mg=new_mg,
                    ml=ml,
                    device_number=original.device_number,
                    lot_number=new_lot,
                    reason=original.reason,
                    idempotency_key=key,
                    corrects=original,
                    correction_reason=reason,
                )
        except IntegrityError:
            raise ValidationError({"corrects": ALREADY_CORRECTED}) from None
        progress = pump.progress(plan, dose_events(session), max(now, when))
        record(
            "infusions.dose.correct",
            user=user,
            clinic=clinic,
            obj=event,
            patient_id=session.patient_id,
            request=request,
            detail={
                "event": event.to_dict(),
                "corrects": original.pk,
                "before": original.to_dict(),
                "reason": reason,
                "idempotency_key": key,
                "given_mg": str(progress.given_mg),
            },
        )
        _publish(
            session,
            {
                "type": "dose",
                "dose": event.to_dict(),
                "corrects": original.pk,
                "progress": progress.to_dict(),
                "session": session.to_dict(),
            },
        )
    return event, True


def _correction_replayed(
    existing: DosingEvent,
    original: DosingEvent,
    sent: tuple[datetime, Decimal | None, Decimal | None, str, str],
) -> tuple[DosingEvent, bool]:
    """The stored correction if the retry corrects the same event to the same values for the same
    reason; else a 422 on the key."""
    when, rate, mg, lot, reason = sent
    same = (
        existing.corrects_id == original.pk
        and existing.at == when
        and _same_amount(existing.rate_ml_per_h, rate)
        and _same_amount(existing.mg, mg)
        and existing.lot_number == lot
        and existing.correction_reason == reason
    )
    if not same:
        raise ValidationError(
            {"idempotency_key": "This key was already used for a different dosing event; use a new key."}
        )
    return existing, False


# --- background checks (run by the task worker) --------------------------------------------

# No published value: a local default (unconfirmed), set per clinic with
# KETACLINIC_ESCALATE_AFTER_MINUTES (settings.INFUSIONS_ESCALATE_AFTER_MINUTES).
DEFAULT_ESCALATE_AFTER = timedelta(minutes=5)


def escalate_alerts(*, now: datetime | None = None, after: timedelta | None = None) -> list[Alert]:
    """Mark alerts still unacknowledged ``after`` their raising as escalated to the prescriber.

    Each escalation is audited and published (type ``alert_escalated``) on the session and floor
    channels, where the prescriber's pages show it. Idempotent: an escalated alert is not escalated again.
    """
    from django.conf import settings

    now = now or timezone.now()
    minutes = getattr(settings, "INFUSIONS_ESCALATE_AFTER_MINUTES", None)
    after = after or (timedelta(minutes=minutes) if minutes else DEFAULT_ESCALATE_AFTER)
    escalated: list[Alert] = []
    due = Alert.objects.filter(
        acknowledged_at__isnull=True, escalated_at__isnull=True, raised_at__lte=now - after
    )
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            alert = Alert.objects.select_for_update().select_related("session__clinic").get(pk=pk)
            if alert.acknowledged_at is not None or alert.escalated_at is not None:
                continue
            alert.escalated_at = now
            alert.save(update_fields=["escalated_at"])
            record(
                "infusions.alert.escalate",
                clinic=alert.session.clinic,
                obj=alert,
                patient_id=alert.session.patient_id,
                detail={"code": alert.code, "after_min": int(after.total_seconds() // 60)},
            )
            _publish(alert.session, {"type": "alert_escalated", "alert": alert.to_dict()})
            escalated.append(alert)
    return escalated


def run_checks(now: datetime | None = None) -> dict[str, int]:
    """The periodic task: overdue observations on every dosing or recovering session, then escalation."""
    now = now or timezone.now()
    overdue = 0
    live = Session.objects.filter(state__in=[SessionState.DOSING, SessionState.PAUSED, SessionState.RECOVERY])
    for session in live.select_related("clinic", "dose_order"):
        overdue += len(check_overdue(session=session, now=now))
    return {"overdue": overdue, "escalated": len(escalate_alerts(now=now))}
