"""Infusion sessions over the JSON API: the chair view's reads and writes for tablets, device gateways
and scripts.

Every operation calls the action the pages call (``ketaclinic.infusions.actions``), under the same
permissions (``infusions.list/view/record/run/acknowledge/board``); the actions validate, write in one
transaction, audit and publish the live event, and return only after the commit. So a 201 or 200
from a write means the record is committed.

Observations and dosing events carry an ``idempotency_key``: a retry with the same key and body is
answered 200 with the stored record (nothing new is written), the first submission 201; the same key
with a different observation is a 422 on ``idempotency_key``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Status
from pydantic import ConfigDict

from ketaclinic.accounts.api_access import MAX_OFFSET, api_access, current_membership
from ketaclinic.audit.actions import record
from ketaclinic.events.bus import channel_for_session, events_after, last_event_id
from ketaclinic.infusions import actions, observations, pages
from ketaclinic.infusions.models import (
    Alert,
    DosingEvent,
    Kind,
    Observation,
    Session,
    SessionState,
)
from ketaclinic.protocols.queries import order_as_seen
from ketaclinic.web import StrictSchema, renamed

router = Router(tags=["infusions"])

MAX_LIST = 500
MAX_EVENTS = 500


# --- bodies -----------------------------------------------------------------------------------


class ObservationValues(StrictSchema):
    """The value fields of every kind (``observations.FIELDS``); send only those of the kind.

    Ranges and scoring are checked by the action (a 422 names the field); a field that does not
    belong to the kind is refused rather than silently dropped.
    """

    model_config = ConfigDict(extra="forbid")

    systolic_mmhg: int | None = Field(None, description="vitals: mmHg")
    diastolic_mmhg: int | None = Field(None, description="vitals: mmHg")
    heart_rate_bpm: int | None = Field(None, description="vitals: beats per minute")
    spo2_pct: int | None = Field(None, description="vitals: %")
    on_oxygen: bool | None = Field(None, description="vitals: SpO2 taken on supplemental oxygen")
    resp_rate_per_min: int | None = Field(None, description="vitals: breaths per minute")
    temperature_c: Decimal | None = Field(None, description="vitals: °C")
    score: int | None = Field(None, description="moaas 0-5, nausea 0-3, pain 0-10")
    items: dict[str, Any] | list[Any] | None = Field(
        None,
        description="cadss: 23 items 0-4; cadss6: {item number: 0-4}; bprs: {item: 1-7}; aldrete / padss: "
        "{item: score}; discharge_check: {gait_steady, escort_present, no_driving_advice_given}",
    )
    ae_term: str | None = Field(None, description="adverse_event: term")
    ctcae_grade: int | None = Field(None, description="adverse_event: CTCAE v5.0 grade 1-5")
    action_taken: str | None = Field(None, description="adverse_event: what was done")
    text: str | None = Field(None, description="note, adverse_event, setting, discharge_check: free text")
    drug: str | None = Field(None, description="prn: drug name")
    dose_value: Decimal | None = Field(None, description="prn: dose, in dose_unit")
    dose_unit: str | None = Field(None, description="prn: " + ", ".join(observations.DOSE_UNITS))
    route: str | None = Field(None, description="prn: " + ", ".join(observations.ROUTES))
    indication: str | None = Field(None, description="prn: why it was given")
    setting: dict[str, Any] | None = Field(
        None, description="setting: " + ", ".join(observations.SETTING_KEYS)
    )

    def data_for(self, kind: str) -> dict[str, Any]:
        """The fields sent, as the action takes them; a non-null field foreign to ``kind`` is a 422."""
        sent = self.dict(exclude_unset=True)
        own = observations.FIELDS.get(kind)
        if own is not None:
            foreign = [
                f for f in observations.VALUE_FIELDS if f in sent and f not in own and sent[f] is not None
            ]
            if foreign:
                raise ValidationError(
                    {f: f"Not a field of {kind} observations (those are: {', '.join(own)})." for f in foreign}
                )
        return {f: sent[f] for f in observations.VALUE_FIELDS if f in sent}


class ObservationIn(ObservationValues):
    kind: str = Field(..., description=", ".join(observations.FIELDS))
    idempotency_key: str = Field(
        ..., description="Unique per session; a retry with the same key stores nothing"
    )
    observed_at: datetime | None = Field(
        None, description="Default now; at most 24 h ago, never in the future"
    )
    source: str = Field("manual", description="manual or device")
    device_id: str = Field("", description="The device's id when source is device")


class CorrectionIn(ObservationValues):
    """The corrected values (the kind is the original's) and why; the original is kept."""

    reason: str = Field(..., description="Why the observation is corrected")
    idempotency_key: str
    observed_at: datetime | None = Field(None, description="Default: the original's time")


class WithdrawalIn(StrictSchema):
    """Why the observation is withdrawn as entered in error; the original is kept."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., description="Why the entry is withdrawn (wrong patient, recorded twice)")
    idempotency_key: str


class DosingEventIn(StrictSchema):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(..., description="start, rate, pause, resume, bolus, stop or device")
    idempotency_key: str
    at: datetime | None = Field(None, description="Default now; at most 2 h ago")
    rate_ml_per_h: Decimal | None = Field(None, description="start (default: the order's), rate, resume")
    mg: Decimal | None = Field(None, description="bolus; device (default: the protocol's mg per device)")
    lot_number: str = ""
    reason: str = Field("", description="Required for rate and pause, and for a stop before the full dose")
    override_reason: str = Field(
        "",
        description="The clinical reason to go past a soft limit of the drug library or above the order's "
        "rate (the refusal lists the breaches under override_reason); recorded on the limits report",
    )


class DosingCorrectionIn(StrictSchema):
    """What was entered wrong; a value left out keeps the original's."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., description="Why the dosing event is corrected")
    idempotency_key: str
    at: datetime | None = None
    rate_ml_per_h: Decimal | None = Field(None, description="start, rate, resume")
    mg: Decimal | None = Field(None, description="bolus, device, IM start")
    lot_number: str | None = Field(None, description="device")


class TransitionIn(StrictSchema):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(..., description=", ".join(SessionState.values))
    reason: str = Field("", description="Required for pause and abort")


class AcknowledgeIn(StrictSchema):
    model_config = ConfigDict(extra="forbid")

    action_taken: str = Field(..., description="What was done about the alert")


class SessionsQuery(StrictSchema):
    day: date | None = Field(None, alias="date", description="One day in the clinic's time zone")
    start: date | None = Field(None, alias="from", description="Default yesterday")
    end: date | None = Field(None, alias="to", description="Default a week from today")
    state: str = Field("", description="Comma-separated states, e.g. dosing,paused")
    limit: int = Field(100, ge=1, le=MAX_LIST)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class EventsQuery(StrictSchema):
    after: int = Field(0, ge=0, le=2**63 - 1, description="The last event id the client has seen")
    limit: int = Field(100, ge=1, le=MAX_EVENTS)


# --- what the answers hold ----------------------------------------------------------------------


def _patient(session: Session) -> dict[str, Any]:
    p = session.patient
    return {"id": p.pk, "mrn": p.mrn, "given_name": p.given_name, "family_name": p.family_name}


def _order(request: HttpRequest, session: Session) -> dict[str, Any] | None:
    """The order the session runs. For a nurse, the numbers stay hidden until the double check."""
    order = session.dose_order
    if order is None:
        return None
    data = order.to_dict()
    summary = {
        key: data[key]
        for key in (
            "id",
            "status",
            "route",
            "drug",
            "regimen",
            "dose_mg_base",
            "cumulative_mg",
            "volume_ml",
            "rate_ml_per_h",
            "duration_min",
            "devices",
            "signed_by",
            "signed_at",
            "verified_by",
            "verified_at",
        )
    }
    summary["product"] = data["product"].get("name")
    return order_as_seen(current_membership(request), order, summary)


def _detail(request: HttpRequest, session: Session) -> dict[str, Any]:
    now = timezone.now()
    last_vitals = (
        Observation.current()
        .filter(session=session, kind=Kind.VITALS)
        .order_by("-observed_at", "-id")
        .first()
    )
    progress = actions.progress_for(session, now)
    open_alerts = Alert.objects.filter(session=session, acknowledged_at__isnull=True)
    return {
        "session": session.to_dict(),
        "patient": _patient(session),
        "seconds_in_state": int((now - session.state_changed_at).total_seconds()),
        "order": _order(request, session),
        "progress": progress.to_dict() if progress is not None else None,
        "open_alerts": [
            a.to_dict() for a in Alert.noting_withdrawn(open_alerts).order_by(*Alert.WORST_FIRST)
        ],
        "last_vitals": last_vitals.to_dict() if last_vitals is not None else None,
        "next": pages.transition_buttons(session, now),
        "last_event_id": last_event_id(channel_for_session(session.pk)),
    }


def _observation_answer(recorded: actions.Recorded) -> Status[dict[str, Any]]:
    """201 for a new observation, 200 for a replay; the alerts it raised (also on a replay).

    A new observation's alerts come with it, as the action created them (in id order), so they are
    not read back; a replay reads them.
    """
    obs, created = recorded
    raised = recorded.alerts if created else Alert.objects.filter(observation=obs).order_by("id")
    alerts = [a.to_dict() for a in raised]
    return Status(
        201 if created else 200, {"observation": obs.to_dict(), "alerts": alerts, "replayed": not created}
    )


def _dose_answer(session: Session, event: DosingEvent, created: bool) -> Status[dict[str, Any]]:
    """201 for a new event, 200 for a replay; the running totals and the session after it."""
    event.refresh_from_db()  # the values as stored (rounded to the column), as a replay answers them
    session.refresh_from_db()
    progress = actions.progress_for(session)
    answer = {
        "dose": event.to_dict(),
        "progress": progress.to_dict() if progress is not None else None,
        "session": session.to_dict(),
        "replayed": not created,
    }
    return Status(201 if created else 200, answer)


@contextmanager
def _renamed(names: dict[str, str]) -> Iterator[None]:
    """Report an action's error under the body's field name (``correction_reason`` -> ``reason``)."""
    try:
        yield
    except ValidationError as exc:
        raise renamed(exc, names) from None


# --- reads --------------------------------------------------------------------------------------


@router.get("/infusions", response=dict[str, Any], summary="The clinic's sessions (schedule)")
@api_access("infusions.list")
def list_sessions(request: HttpRequest, filters: Query[SessionsQuery]) -> Any:
    """Sessions scheduled in a range of days (default yesterday to a week ahead), optionally of some
    states. Chairs, times, names and states only, as on the schedule page."""
    m = current_membership(request)
    today = timezone.localdate()
    if filters.day is not None:
        start_d = end_d = filters.day
    else:
        start_d = filters.start or today - timedelta(days=1)
        end_d = filters.end or today + timedelta(days=7)
    if end_d < start_d:
        raise ValidationError({"to": "The end of the range is before its start."})
    if end_d - start_d > timedelta(days=366):
        raise ValidationError({"to": "At most a year at a time."})
    states = [s.strip() for s in filters.state.split(",") if s.strip()]
    unknown = [s for s in states if s not in SessionState.values]
    if unknown:
        raise ValidationError(
            {"state": f"Unknown state(s) {', '.join(unknown)}; {', '.join(SessionState.values)}."}
        )
    found = actions.schedule(m.clinic, start_d, end_d)
    if states:
        found = found.filter(state__in=states)
    page = found[filters.offset : filters.offset + filters.limit]
    return {
        "count": found.count(),
        "items": [s.to_dict() | {"patient": _patient(s), "dose_order_id": s.dose_order_id} for s in page],
    }


@router.get("/infusions/floor", response=list[dict[str, Any]], summary="Every active chair (audited)")
@api_access("infusions.board")
def floor(request: HttpRequest) -> Any:
    """What the floor board shows: state, time in state, last vitals and open alerts of each chair."""
    m = current_membership(request)
    rows = pages.floor_rows(m.clinic)
    record(
        "infusions.floor.view",
        user=m.user,
        clinic=m.clinic,
        detail={"sessions": [r["session"].pk for r in rows]},
        request=request,
    )
    return [
        {
            "session": r["session"].to_dict(),
            "patient": _patient(r["session"]),
            "minutes_in_state": r["minutes_in_state"],
            "last_vitals": r["vitals"].to_dict() if r["vitals"] is not None else None,
            "open_alerts": [a.to_dict() for a in r["alerts"]],
        }
        for r in rows
    ]


@router.get("/infusions/{session_id}", response=dict[str, Any], summary="One session (audited)")
@api_access("infusions.view", load={"session": Session})
def get_session(request: HttpRequest, session: Session) -> Any:
    """State and time in it, the order, progress and running totals, open alerts, last vitals, the
    next states with the conditions not yet met, and the last event id (to open the stream from)."""
    m = current_membership(request)
    actions.view_session(user=m.user, clinic=m.clinic, session=session, what="view")
    return _detail(request, session)


@router.get("/infusions/{session_id}/events", response=dict[str, Any], summary="Events since an id")
@api_access("infusions.view", load={"session": Session})
def session_events(request: HttpRequest, session: Session, params: Query[EventsQuery]) -> Any:
    """The session's live events after ``after``, oldest first: the JSON twin of the SSE stream
    (``/infusions/{id}/stream/``) for clients that cannot hold one open. Poll with the last id seen;
    ``more`` says another page is waiting. A read that returns events is audited."""
    m = current_membership(request)
    rows = events_after(channel_for_session(session.pk), params.after, params.limit + 1)
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    if rows:
        actions.view_session(user=m.user, clinic=m.clinic, session=session, what="events")
    return {
        "events": [{"id": e.id, "type": e.type, "data": e.payload, "created_at": e.created_at} for e in rows],
        "last_event_id": rows[-1].id if rows else params.after,
        "more": more,
    }


# --- writes -------------------------------------------------------------------------------------


@router.post(
    "/infusions/{session_id}/observations",
    response={200: dict[str, Any], 201: dict[str, Any]},
    summary="Record an observation (idempotent)",
)
@api_access("infusions.record", load={"session": Session})
def record_observation(request: HttpRequest, session: Session, payload: ObservationIn) -> Any:
    """201 when stored, 200 when the key was already stored with the same content (nothing written).
    The answer comes after the commit and lists the alerts the observation raised."""
    m = current_membership(request)
    recorded = actions.record_observation(
        user=m.user,
        clinic=m.clinic,
        session=session,
        kind=payload.kind,
        data=payload.data_for(payload.kind),
        idempotency_key=payload.idempotency_key,
        observed_at=payload.observed_at,
        source=payload.source,
        device_id=payload.device_id,
        membership=m,
    )
    return _observation_answer(recorded)


@router.post(
    "/infusions/{session_id}/observations/{observation_id}/corrections",
    response={200: dict[str, Any], 201: dict[str, Any]},
    summary="Correct an observation (the original is kept)",
)
@api_access("infusions.record", load={"session": Session, "observation": Observation})
def correct_observation(
    request: HttpRequest, session: Session, observation: Observation, payload: CorrectionIn
) -> Any:
    """A new observation of the same kind pointing at the original, with the reason and its author."""
    if observation.session_id != session.pk:
        raise Http404("No such observation in this session.")
    m = current_membership(request)
    with _renamed({"correction_reason": "reason"}):
        recorded = actions.correct_observation(
            user=m.user,
            clinic=m.clinic,
            original=observation,
            data=payload.data_for(observation.kind),
            reason=payload.reason,
            idempotency_key=payload.idempotency_key,
            observed_at=payload.observed_at,
        )
    return _observation_answer(recorded)


@router.post(
    "/infusions/{session_id}/observations/{observation_id}/withdrawal",
    response={200: dict[str, Any], 201: dict[str, Any]},
    summary="Withdraw an observation entered in error (the original is kept)",
)
@api_access("infusions.record", load={"session": Session, "observation": Observation})
def withdraw_observation(
    request: HttpRequest, session: Session, observation: Observation, payload: WithdrawalIn
) -> Any:
    """A withdrawal: a new row pointing at the original, with no values, the reason and its author.
    The original no longer counts anywhere; the open alerts it raised stay open (``alerts_still_open``).
    201 when stored, 200 for a retry with the same key and reason."""
    if observation.session_id != session.pk:
        raise Http404("No such observation in this session.")
    m = current_membership(request)
    with _renamed({"withdrawal_reason": "reason"}):
        withdrawal, created = actions.withdraw_observation(
            user=m.user,
            clinic=m.clinic,
            original=observation,
            reason=payload.reason,
            idempotency_key=payload.idempotency_key,
        )
    still_open = Alert.objects.filter(observation=observation, acknowledged_at__isnull=True).order_by("id")
    return Status(
        201 if created else 200,
        {
            "observation": withdrawal.to_dict(),
            "withdraws": observation.to_dict(),
            "alerts_still_open": [a.to_dict() | {"reading_withdrawn": True} for a in still_open],
            "replayed": not created,
        },
    )


@router.post(
    "/infusions/{session_id}/dosing-events",
    response={200: dict[str, Any], 201: dict[str, Any]},
    summary="Record a dosing event (idempotent)",
)
@api_access("infusions.run", load={"session": Session})
def record_dosing_event(request: HttpRequest, session: Session, payload: DosingEventIn) -> Any:
    """start, rate (reason), pause (reason), resume, bolus, stop, device. Start, pause, resume and stop
    move the session; a refused start lists every failed condition under ``state``."""
    m = current_membership(request)
    event, created = actions.record_dosing_event(
        user=m.user,
        clinic=m.clinic,
        session=session,
        kind=payload.kind,
        idempotency_key=payload.idempotency_key,
        at=payload.at,
        rate_ml_per_h=payload.rate_ml_per_h,
        mg=payload.mg,
        lot_number=payload.lot_number,
        reason=payload.reason,
        override_reason=payload.override_reason,
    )
    return _dose_answer(session, event, created)


@router.post(
    "/infusions/{session_id}/dosing-events/{dosing_event_id}/corrections",
    response={200: dict[str, Any], 201: dict[str, Any]},
    summary="Correct a dosing event (the original is kept)",
)
@api_access("infusions.run", load={"session": Session, "dosing_event": DosingEvent})
def correct_dosing_event(
    request: HttpRequest, session: Session, dosing_event: DosingEvent, payload: DosingCorrectionIn
) -> Any:
    """A new event of the same kind pointing at the original; every later event must still fit."""
    if dosing_event.session_id != session.pk:
        raise Http404("No such dosing event in this session.")
    m = current_membership(request)
    with _renamed({"correction_reason": "reason"}):
        event, created = actions.correct_dosing_event(
            user=m.user,
            clinic=m.clinic,
            original=dosing_event,
            reason=payload.reason,
            idempotency_key=payload.idempotency_key,
            at=payload.at,
            rate_ml_per_h=payload.rate_ml_per_h,
            mg=payload.mg,
            lot_number=payload.lot_number,
        )
    return _dose_answer(session, event, created)


@router.post("/infusions/{session_id}/transitions", response=dict[str, Any], summary="Move the session")
@api_access("infusions.run", load={"session": Session})
def transition(request: HttpRequest, session: Session, payload: TransitionIn) -> Any:
    """Check in, pre-dose done, recovery, discharge, abort (dosing moves go through dosing events).
    Refused: 422 with one entry per failed condition under ``state``; nothing changes."""
    m = current_membership(request)
    session = actions.transition(
        user=m.user, clinic=m.clinic, session=session, to=payload.to, reason=payload.reason
    )
    return {"session": session.to_dict()}


@router.post(
    "/infusions/{session_id}/alerts/{alert_id}/acknowledge",
    response=dict[str, Any],
    summary="Acknowledge an alert with the action taken",
)
@api_access("infusions.acknowledge", load={"session": Session, "alert": Alert})
def acknowledge(request: HttpRequest, session: Session, alert: Alert, payload: AcknowledgeIn) -> Any:
    if alert.session_id != session.pk:
        raise Http404("No such alert in this session.")
    m = current_membership(request)
    alert = actions.acknowledge_alert(
        user=m.user, clinic=m.clinic, alert=alert, action_taken=payload.action_taken
    )
    return alert.to_dict()
