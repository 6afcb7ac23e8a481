"""Infusion views. The live streams are async (Server-Sent Events); pages follow the house pattern:
thin function views calling ``actions``; an htmx request gets the fragment, a form error is shown
next to its field and changes nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from ketaclinic.accounts.access import ClinicRequest, async_clinic_view, clinic_view
from ketaclinic.audit.actions import record
from ketaclinic.events.bus import channel_for_floor, channel_for_session, last_event_id
from ketaclinic.events.sse import sse_response
from ketaclinic.infusions import actions, observations, pages, pump, rems, scales, states
from ketaclinic.infusions.models import (
    Alert,
    DoseKind,
    DosingEvent,
    Kind,
    Observation,
    Session,
    SessionState,
)
from ketaclinic.patients.models import Patient
from ketaclinic.web import error_messages, is_htmx

# --- list and schedule ---------------------------------------------------------------------


@clinic_view("infusions.list")
def session_list(request: ClinicRequest) -> HttpResponse:
    return _list(request, errors={}, status=200)


def _list(request: ClinicRequest, *, errors: dict[str, list[str]], status: int) -> HttpResponse:
    clinic = request.clinic
    today = timezone.localdate()
    sessions = list(actions.schedule(clinic, today - timedelta(days=1), today + timedelta(days=7)))
    with_activity = [s for s in sessions if s.state in states.ACTIVE or s.state == SessionState.SCHEDULED]
    ctx = {
        "sessions": sessions,
        "active_count": len(with_activity),
        "patients": Patient.in_clinic(clinic).order_by("family_name", "given_name")[:500],
        "errors": errors,
        "form": request.POST if errors else {},
        "now_local": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
    }
    return render(request, "infusions/list.html", ctx, status=status)


@require_POST
@clinic_view("infusions.schedule")
def schedule(request: ClinicRequest) -> HttpResponse:
    post = request.POST
    patient = Patient.in_clinic(request.clinic).filter(pk=post.get("patient") or 0).first()
    try:
        if patient is None:
            raise ValidationError({"patient": "Choose a patient of this clinic."})
        actions.schedule_session(
            user=request.user,
            clinic=request.clinic,
            patient=patient,
            chair=post.get("chair", ""),
            scheduled_at=post.get("scheduled_at", ""),
        )
    except ValidationError as exc:
        return _list(request, errors=error_messages(exc), status=400)
    return redirect("infusions-list")


# --- the chair view ------------------------------------------------------------------------


def _failed_form(request: ClinicRequest, form: tuple[str, dict[str, list[str]]] | None) -> dict[str, Any]:
    """A refused observation form: its errors by field, the rest, and what was typed (shown again)."""
    if form is None:
        return {}
    kind, errors = form
    at_field, general = pages.field_errors(kind, errors)
    return {
        "kind": kind,
        "fe": {kind: at_field},
        "general": {kind: general} if kind in Kind.values else {},
        "unplaced": general if kind not in Kind.values else [],
        "v": {kind: request.POST},
    }


def _planned_end(progress: pump.Progress | None) -> datetime | None:
    """While the infusion runs, observation will count from its end: now plus the time remaining."""
    if progress is None or progress.time_remaining_min is None:
        return None
    return timezone.now() + timedelta(minutes=progress.time_remaining_min)


def _chair_ctx(
    request: ClinicRequest,
    session: Session,
    errors: dict[str, list[str]] | None = None,
    form: tuple[str, dict[str, list[str]]] | None = None,
) -> dict[str, Any]:
    now = timezone.now()
    proto = actions.session_protocol(session)
    events = actions.dose_events(session)  # once: the progress and the prediction both read them
    plan = actions.order_plan(session, proto)
    progress = None if plan is None else pump.progress(plan, events, now)
    checklist, score = (
        actions.discharge_assessment(session, proto)
        if session.state == SessionState.RECOVERY
        else (None, None)
    )
    start = actions.observation_from(session, proto)
    pred = pages.predict(session, now, events) if session.dose_order_id else None
    ready = session.transitions.filter(to_state=SessionState.DISCHARGED).first()
    ready_obs = (
        Observation.current()
        .filter(session=session, kind=Kind.DISCHARGE_CHECK)
        .order_by("observed_at")
        .first()
    )
    open_alerts = Alert.objects.filter(session=session, acknowledged_at__isnull=True)
    orders = []
    if session.state in (SessionState.SCHEDULED, SessionState.CHECKED_IN, SessionState.PREDOSE_DONE):
        orders = list(session.patient.dose_orders.exclude(status="superseded").order_by("-scheduled_for")[:5])
    return {
        "session": session,
        "patient": session.patient,
        "order": session.dose_order,
        "orders": orders,
        "proto": proto,
        "progress": progress,
        # A resume restarts the rate that ran before the pause, not the order's.
        "resume_rate": pump.rate_before_pause(plan, events) if plan is not None else None,
        "alerts": list(Alert.noting_withdrawn(open_alerts).order_by(*Alert.WORST_FIRST)),
        # Every row, superseded ones too (struck through, "corrected by #N", "withdrawn: reason"):
        # nothing is hidden. A withdrawal is shown on the row it withdraws (the record lists it too).
        "observations": list(
            Observation.objects.filter(session=session, withdrawn=False)
            .select_related("corrected_by")
            .order_by("-observed_at", "-id")[:30]
        ),
        "doses": list(
            DosingEvent.objects.filter(session=session).select_related("corrected_by").order_by("-at", "-id")
        ),
        "buttons": pages.transition_buttons(session, now),
        "can_abort": states.State.ABORTED in states.allowed_targets(session.state),
        "checklist": checklist,
        "discharge_score": score,
        "prediction": pred,
        "predicted_ready_at": pages.ready_at(
            pred, actions.dosing_started_at(session), start or _planned_end(progress), proto.min_observation
        ),
        "actual_ready_at": ready_obs.observed_at if ready_obs else (ready.at if ready else None),
        "errors": errors or {},
        "key": uuid.uuid4().hex,
        "forms": pages.form_specs(),
        "failed": _failed_form(request, form),
        "moaas_labels": sorted(scales.MOAAS_LABELS.items(), reverse=True),
        "is_nasal": session.dose_order is not None and session.dose_order.route == "nasal",
        "is_iv": session.dose_order is not None and session.dose_order.route == "iv",
        "last_event_id": last_event_id(channel_for_session(session.pk)),
        "final": session.state in states.FINAL,
    }


@clinic_view("infusions.view", load={"session": Session})
def chair(request: ClinicRequest, session: Session) -> HttpResponse:
    """The tablet page at the chair: chart, progress, alerts, one-tap entry, state buttons."""
    actions.view_session(user=request.user, clinic=request.clinic, session=session, what="view")
    ctx = _chair_ctx(request, session)
    template = "infusions/_panels.html" if is_htmx(request) else "infusions/chair.html"
    return render(request, template, ctx)


@clinic_view("infusions.view", load={"session": Session})
def chart(request: ClinicRequest, session: Session) -> JsonResponse:
    actions.view_session(user=request.user, clinic=request.clinic, session=session, what="chart")
    return JsonResponse(pages.chart_data(session))


def _panels(
    request: ClinicRequest,
    session: Session,
    errors: dict[str, list[str]] | None = None,
    form: tuple[str, dict[str, list[str]]] | None = None,
    confirm: dict[str, Any] | None = None,
) -> HttpResponse:
    session.refresh_from_db()
    ctx = _chair_ctx(request, session, errors, form)
    # A rate or bolus past a soft limit: the same values again, with the confirmation asked for.
    ctx["confirm"] = confirm
    if is_htmx(request):
        # htmx swaps only 2xx answers: a form error comes back as 200 with the error next to the field.
        return render(request, "infusions/_panels.html", ctx)
    if errors or form or confirm:
        return render(request, "infusions/chair.html", ctx, status=400)
    return redirect("infusions-chair", session_id=session.pk)


def observation_data(kind: str, post: Any) -> dict[str, Any]:  # noqa: PLR0911 - one return per kind
    """The posted fields of an observation form as ``observations.clean`` takes them.

    The field names are those of ``infusions/_obs_fields.html`` (``pages.form_values`` is the inverse).
    """
    if kind == "vitals":
        return {n: post.get(n) for n in observations.FIELDS["vitals"]}
    if kind == "cadss":
        return {"items": [post.get(f"cadss_{n}") for n in range(1, scales.CADSS_ITEM_COUNT + 1)]}
    if kind == "cadss6":
        return {"items": {n: post.get(f"item_{n}") for n in scales.CADSS6_ITEMS}}
    if kind == "bprs":
        return {"items": {k: post.get(f"bprs_{k}") for k in scales.BPRS_POSITIVE_ITEMS}}
    if kind in ("aldrete", "padss"):
        items: tuple[str, ...] = (
            scales.ALDRETE_ITEMS
            if kind == "aldrete"
            else ("vital_signs", "activity_mental_status", "pain_nausea_vomiting")
        )
        return {"items": {n: post.get(n) for n in items if post.get(n) not in (None, "")}}
    if kind == "discharge_check":
        return {
            "items": {n: post.get(n) == "on" for n in observations.DISCHARGE_CHECKS},
            "text": post.get("text", ""),
        }
    if kind in ("prn", "adverse_event"):
        return {n: post.get(n) for n in observations.FIELDS[kind]}
    if kind == "setting":
        return {
            "setting": {k: post.get(k) for k in observations.SETTING_KEYS if post.get(k) not in (None, "")},
            "text": post.get("text", ""),
        }
    if kind == "note":
        return {"text": post.get("text", "")}
    return {"score": post.get("score")}


@require_POST
@clinic_view("infusions.record", load={"session": Session})
def observe(request: ClinicRequest, session: Session) -> HttpResponse:
    kind = request.POST.get("kind", "")
    try:
        actions.record_observation(
            user=request.user,
            clinic=request.clinic,
            session=session,
            kind=kind,
            data=observation_data(kind, request.POST),
            idempotency_key=request.POST.get("idempotency_key"),
        )
    except ValidationError as exc:
        return _panels(request, session, form=(kind, error_messages(exc)))
    return _panels(request, session)


# --- corrections ---------------------------------------------------------------------------


def _local_input(moment: Any, session: Session) -> str:
    """A time as a datetime-local input shows it, to the second, in the clinic's zone."""
    return str(moment.astimezone(session.clinic.tz).strftime("%Y-%m-%dT%H:%M:%S"))


def _corrected(request: ClinicRequest, session: Session) -> HttpResponse:
    """After a correction: htmx closes the dialog (empty answer) and refreshes the panels; else the chair."""
    if is_htmx(request):
        response = HttpResponse("")
        response["HX-Trigger"] = "live:refresh"
        return response
    return redirect("infusions-chair", session_id=session.pk)


def _correction_page(
    request: ClinicRequest,
    template: str,
    ctx: dict[str, Any],
    errors: dict[str, list[str]],
    placed: Any,
    *,
    refused: bool = False,
) -> HttpResponse:
    """The correction form (a fragment for the chair view's dialog, else a page), with its errors:
    those of a field next to it (``placed``), the others on top."""
    htmx = is_htmx(request)
    ctx |= {
        "htmx": htmx,
        "key": uuid.uuid4().hex,
        "fe": {k: v for k, v in errors.items() if k in placed},
        "general": [m for k, msgs in errors.items() if k not in placed for m in msgs],
    }
    name = f"infusions/_{template}.html" if htmx else f"infusions/{template}.html"
    # htmx swaps only 2xx answers: a refused correction comes back as 200 with the errors in the form.
    return render(request, name, ctx, status=400 if (errors or refused) and not htmx else 200)


@require_http_methods(["GET", "POST"])
@clinic_view("infusions.record", load={"observation": Observation})
def correct(request: ClinicRequest, observation: Observation) -> HttpResponse:
    """Correct an observation: the form starts from the old values; a reason is required.

    The correction is a new observation pointing at the old one (``actions.correct_observation``);
    the old one is kept and shown struck through.
    """
    session = observation.session
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        post = request.POST
        try:
            actions.correct_observation(
                user=request.user,
                clinic=request.clinic,
                original=observation,
                data=observation_data(observation.kind, post),
                reason=post.get("correction_reason", ""),
                idempotency_key=post.get("idempotency_key"),
                observed_at=post.get("observed_at"),
            )
        except ValidationError as exc:
            errors = error_messages(exc)
        else:
            return _corrected(request, session)
        values: Any = post
    else:
        actions.view_session(user=request.user, clinic=request.clinic, session=session, what="correct")
        values = pages.form_values(observation) | {
            "observed_at": _local_input(observation.observed_at, session)
        }
    return _correct_form(request, observation, values, errors)


def _correct_form(
    request: ClinicRequest,
    observation: Observation,
    values: Any,
    errors: dict[str, list[str]],
    withdraw_errors: dict[str, list[str]] | None = None,
) -> HttpResponse:
    """The correction dialog of an observation: the correction form and the withdrawal form, each
    with its own errors."""
    withdraw_errors = withdraw_errors or {}
    ctx = {
        "obs": observation,
        "session": observation.session,
        "corrected_by": Observation.objects.filter(corrects=observation).first(),
        "v": values,
        "forms": pages.form_specs(),
        "wfe": {k: v for k, v in withdraw_errors.items() if k == "withdrawal_reason"},
        "wgeneral": [m for k, msgs in withdraw_errors.items() if k != "withdrawal_reason" for m in msgs],
        "w": request.POST if withdraw_errors else {},
    }
    placed, _ = pages.field_errors(observation.kind, {k: [] for k in errors})
    return _correction_page(request, "correct", ctx, errors, placed, refused=bool(withdraw_errors))


@require_POST
@clinic_view("infusions.record", load={"observation": Observation})
def withdraw(request: ClinicRequest, observation: Observation) -> HttpResponse:
    """Withdraw an observation as entered in error, with a reason (``actions.withdraw_observation``).

    The entry is kept, struck through with "withdrawn: reason", and no longer counts anywhere.
    A refusal comes back in the correction dialog, next to the reason or on top of the form.
    """
    try:
        actions.withdraw_observation(
            user=request.user,
            clinic=request.clinic,
            original=observation,
            reason=request.POST.get("withdrawal_reason", ""),
            idempotency_key=request.POST.get("idempotency_key"),
        )
    except ValidationError as exc:
        values = pages.form_values(observation) | {
            "observed_at": _local_input(observation.observed_at, observation.session)
        }
        return _correct_form(request, observation, values, {}, error_messages(exc))
    return _corrected(request, observation.session)


@require_http_methods(["GET", "POST"])
@clinic_view("infusions.run", load={"dosing_event": DosingEvent})
def correct_dose(request: ClinicRequest, dosing_event: DosingEvent) -> HttpResponse:
    """Correct a dosing event's time, pump rate, amount or device lot, with a reason.

    The correction is a new event pointing at the old one (``actions.correct_dosing_event``); the
    running totals use it in place of the old one, which is kept and shown struck through.
    """
    session = dosing_event.session
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        post = request.POST
        try:
            actions.correct_dosing_event(
                user=request.user,
                clinic=request.clinic,
                original=dosing_event,
                reason=post.get("correction_reason", ""),
                idempotency_key=post.get("idempotency_key"),
                at=post.get("at"),
                rate_ml_per_h=post.get("rate_ml_per_h"),
                mg=post.get("mg"),
                lot_number=post.get("lot_number"),
            )
        except ValidationError as exc:
            errors = error_messages(exc)
        else:
            return _corrected(request, session)
        values: Any = post
    else:
        actions.view_session(user=request.user, clinic=request.clinic, session=session, what="correct")
        values = {
            "at": _local_input(dosing_event.at, session),
            "rate_ml_per_h": "" if dosing_event.rate_ml_per_h is None else str(dosing_event.rate_ml_per_h),
            "mg": "" if dosing_event.mg is None else str(dosing_event.mg),
            "lot_number": dosing_event.lot_number,
        }
    order = session.dose_order
    kind = dosing_event.kind
    placed = ("at", "rate_ml_per_h", "mg", "lot_number", "correction_reason")
    ctx = {
        "event": dosing_event,
        "session": session,
        "corrected_by": DosingEvent.objects.filter(corrects=dosing_event).first(),
        "v": values,
        "has_rate": kind in actions.RATE_KINDS and order is not None and order.route == "iv",
        "has_mg": kind == DoseKind.BOLUS
        or (kind == DoseKind.START and order is not None and order.route == "im"),
        "has_lot": kind == DoseKind.DEVICE or bool(dosing_event.lot_number),
    }
    return _correction_page(request, "correct_dose", ctx, errors, placed)


@require_POST
@clinic_view("infusions.run", load={"session": Session})
def dose(request: ClinicRequest, session: Session) -> HttpResponse:
    post = request.POST
    try:
        actions.record_dosing_event(
            user=request.user,
            clinic=request.clinic,
            session=session,
            kind=post.get("kind", ""),
            idempotency_key=post.get("idempotency_key"),
            rate_ml_per_h=post.get("rate_ml_per_h"),
            mg=post.get("mg"),
            lot_number=post.get("lot_number", ""),
            reason=post.get("reason", ""),
            override_reason=post.get("override_reason", ""),
        )
    except ValidationError as exc:
        errors = error_messages(exc)
        confirm = None
        if "override_reason" in errors:
            keep = ("kind", "idempotency_key", "rate_ml_per_h", "mg", "reason", "lot_number")
            confirm = {
                "values": {name: post.get(name, "") for name in keep},
                "messages": errors.pop("override_reason"),
            }
        return _panels(request, session, {f"dose.{k}": v for k, v in errors.items()}, confirm=confirm)
    return _panels(request, session)


@require_POST
@clinic_view("infusions.run", load={"session": Session})
def move(request: ClinicRequest, session: Session) -> HttpResponse:
    """A state button (check in, pre-dose done, discharge, abort). Dosing moves go through ``dose``."""
    try:
        actions.transition(
            user=request.user,
            clinic=request.clinic,
            session=session,
            to=request.POST.get("to", ""),
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as exc:
        return _panels(request, session, error_messages(exc))
    return _panels(request, session)


@require_POST
@clinic_view("infusions.run", load={"session": Session})
def setup(request: ClinicRequest, session: Session) -> HttpResponse:
    """Confirm the escort or link the dose order."""
    post = request.POST
    try:
        if "escort_name" in post:
            actions.confirm_escort(
                user=request.user,
                clinic=request.clinic,
                session=session,
                escort_name=post["escort_name"],
            )
        else:
            order = session.patient.dose_orders.filter(pk=post.get("dose_order") or 0).first()
            actions.link_order(user=request.user, clinic=request.clinic, session=session, order=order)
    except ValidationError as exc:
        return _panels(request, session, error_messages(exc))
    return _panels(request, session)


@require_POST
@clinic_view("infusions.acknowledge", load={"alert": Alert})
def acknowledge(request: ClinicRequest, alert: Alert) -> HttpResponse:
    """Acknowledge an alert with the action taken, from the chair view or the floor board."""
    session = alert.session
    from_floor = request.POST.get("from") == "floor"
    try:
        actions.acknowledge_alert(
            user=request.user,
            clinic=request.clinic,
            alert=alert,
            action_taken=request.POST.get("action_taken", ""),
        )
    except ValidationError as exc:
        errors = error_messages(exc)
        if from_floor:
            return _floor(request, ack_errors={alert.pk: [m for v in errors.values() for m in v]})
        return _panels(request, session, {f"alert{alert.pk}.{k}": v for k, v in errors.items()})
    if from_floor:
        return _floor(request) if is_htmx(request) else redirect("infusions-floor")
    return _panels(request, session)


# --- the floor board -----------------------------------------------------------------------


@clinic_view("infusions.board")
def floor(request: ClinicRequest) -> HttpResponse:
    """Every active chair of the clinic, live."""
    return _floor(request)


def _floor(request: ClinicRequest, ack_errors: dict[int, list[str]] | None = None) -> HttpResponse:
    """The board; ``ack_errors`` are shown under the alert whose acknowledgement was refused."""
    rows = pages.floor_rows(request.clinic)
    unplaced = dict(ack_errors or {})
    for row in rows:
        for a in row["alerts"]:
            a.ack_errors = unplaced.pop(a.pk, [])
    record(
        "infusions.floor.view",
        user=request.user,
        clinic=request.clinic,
        detail={"sessions": [r["session"].pk for r in rows]},
        request=request,
    )
    # A refusal for an alert no longer on the board (acknowledged meanwhile) is shown above it.
    ctx = {
        "rows": rows,
        "last_event_id": last_event_id(channel_for_floor(request.clinic.pk)),
        "board_errors": [m for msgs in unplaced.values() for m in msgs],
    }
    template = "infusions/_floor_rows.html" if is_htmx(request) else "infusions/floor.html"
    return render(request, template, ctx)


# --- record and REMS -----------------------------------------------------------------------


@clinic_view("infusions.view", load={"session": Session})
def session_record(request: ClinicRequest, session: Session) -> HttpResponse:
    """The complete, printable session record."""
    actions.view_session(user=request.user, clinic=request.clinic, session=session, what="print")
    ctx = _chair_ctx(request, session)
    ctx |= {
        # Every entry, corrected ones too: the record shows both, linked.
        "observations": list(
            Observation.objects.filter(session=session)
            .select_related("recorded_by", "corrected_by")
            .order_by("observed_at", "id")
        ),
        "doses": list(
            DosingEvent.objects.filter(session=session)
            .select_related("recorded_by", "corrected_by")
            .order_by("at", "id")
        ),
        "transitions": list(session.transitions.select_related("by").order_by("at", "id")),
        "all_alerts": list(
            Alert.noting_withdrawn(Alert.objects.filter(session=session))
            .select_related("acknowledged_by")
            .order_by("raised_at", "id")
        ),
        "rems": pages.rems_form(session) if ctx["is_nasal"] else None,
    }
    return render(request, "infusions/record.html", ctx)


@clinic_view("infusions.view", load={"session": Session})
def rems_view(request: ClinicRequest, session: Session) -> HttpResponse:
    """The REMS patient monitoring form data of an esketamine session; ?format=csv or json exports it."""
    if session.dose_order is None or session.dose_order.route != "nasal":
        return render(
            request, "403.html", {"message": "The REMS form applies to esketamine sessions only."}, status=404
        )
    fmt = request.GET.get("format", "")
    actions.view_session(
        user=request.user,
        clinic=request.clinic,
        session=session,
        what=f"rems{'.' + fmt if fmt else ''}",
    )
    form = pages.rems_form(session)
    if fmt == "csv":
        response = HttpResponse(rems.to_csv([form]), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="rems-session-{session.pk}.csv"'
        return response
    if fmt == "json":
        response = HttpResponse(rems.to_json([form]), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="rems-session-{session.pk}.json"'
        return response
    return render(
        request,
        "infusions/rems.html",
        {
            "session": session,
            "form": form,
            "version": rems.FORM_VERSION,
            "fields_json": json.dumps(form.fields, default=str, indent=1),
        },
    )


@async_clinic_view("infusions.view", load={"session": Session})
async def session_stream(request: Any, session: Session) -> HttpResponseBase:
    """The chair view's live feed: every event of one session, resumable by Last-Event-ID."""
    await sync_to_async(actions.view_session)(
        user=request.user,
        clinic=request.clinic,
        session=session,
        what="stream",
    )
    return sse_response(request, channel_for_session(session.pk))


@async_clinic_view("infusions.board")
async def floor_stream(request: Any) -> HttpResponseBase:
    """The floor board's live feed: every session event of the active clinic."""
    return sse_response(request, channel_for_floor(request.clinic.pk))
