"""The dose order at the chair: linking it, recording what the pump and the nurse did (start, rate,
pause, resume, stop, bolus, nasal devices), and correcting a dosing event."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.infusions import guardrails, pump
from ketaclinic.infusions.actions.common import (
    ALREADY_CORRECTED,
    MAX_BACKDATE,
    announce,
    clean_key,
    locked,
    observed_moment,
    required_text,
)
from ketaclinic.infusions.actions.queries import (
    as_dose,
    dose_events,
    order_facts,
    order_plan,
    session_protocol,
)
from ketaclinic.infusions.actions.sessions import move_state
from ketaclinic.infusions.models import (
    DoseKind,
    DosingEvent,
    Session,
    SessionState,
)
from ketaclinic.protocols.actions.orders import log_limit_events
from ketaclinic.protocols.limits import Breach
from ketaclinic.protocols.models import LimitEventKind

# A confirmation of a soft limit at the chair says why, in a few words (as at signing).
MIN_OVERRIDE_REASON = 5

# Dosing events that also move the session along its state machine.
DOSE_TRANSITIONS = {
    DoseKind.START: SessionState.DOSING,
    DoseKind.PAUSE: SessionState.PAUSED,
    DoseKind.RESUME: SessionState.DOSING,
    DoseKind.STOP: SessionState.RECOVERY,
}


def link_order(*, user: User, clinic: Clinic, session: Session, order: Any) -> Session:
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
        session = locked(session)
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
        )
        announce(session, {"type": "session", "session": session.to_dict()})
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


def record_dosing_event(  # noqa: PLR0912, PLR0913, PLR0915 - the fields of one event, each checked
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
    override_reason: str = "",
) -> tuple[DosingEvent, bool]:
    """Record start, rate change (with reason), pause (with reason), resume, bolus, stop or a nasal device.

    Every new rate and every bolus passes the drug library's limits as the order did when it was
    signed (``guardrails``): a hard limit refuses it (the refusal is logged for the limits report);
    a soft one, or a rate above the order's, needs ``override_reason``, which is logged with it. A
    resume without a rate restarts the rate that ran before the pause.

    Start, pause, resume and stop move the session's state in the same transaction (their guards
    apply: a refused start lists every failed condition). The event must fit the order
    (``pump.check``: no bolus beyond the signed total, 5 min between devices, ...). A retry with
    the same ``idempotency_key`` and the same content returns the stored event and writes nothing;
    the same key with other content is refused (``_dose_replayed``).
    """
    require(user, clinic, "infusions.run")
    same_clinic(session.clinic_id, clinic, "session")
    key = clean_key(idempotency_key)
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
    when = observed_moment(at, "at", clinic, now)
    if when < now - timedelta(hours=2):
        raise ValidationError({"at": "More than 2 hours ago; add a note instead."})
    # What was submitted, for comparing a retry with what is stored (no time given: none to compare).
    sent = (kind, None if at in (None, "") else when, rate, amount, lot, reason)
    existing = DosingEvent.objects.filter(session=session, idempotency_key=key).first()
    if existing is not None:
        return _dose_replayed(existing, order_plan(session), sent)
    try:
        with transaction.atomic():
            session = locked(session)
            proto = session_protocol(session)
            plan = order_plan(session, proto)
            existing = DosingEvent.objects.filter(session=session, idempotency_key=key).first()
            if existing is not None:
                return _dose_replayed(existing, plan, sent)
            if plan is None:
                raise ValidationError({"kind": "Link the signed dose order to the session first."})
            rate, amount = _with_defaults(plan, kind, rate, amount)
            if kind not in DOSE_TRANSITIONS and session.state not in (
                SessionState.DOSING,
                SessionState.PAUSED,
            ):
                raise ValidationError(
                    {"kind": f"The session is {session.get_state_display()}; start dosing first."}
                )
            events = dose_events(session)
            if kind == DoseKind.RESUME and rate is None:
                rate = pump.rate_before_pause(plan, events)
            problems = pump.check(plan, events, pump.Dose(kind, when, rate, amount))
            if problems:
                raise ValidationError(problems)
            if kind == DoseKind.STOP:
                _stop_needs_a_reason(plan, events, when, reason)
            breaches = _guardrails(session, kind, rate, amount, override_reason)
            target = DOSE_TRANSITIONS.get(kind)  # type: ignore[call-overload]
            if target is not None:
                session = move_state(user=user, clinic=clinic, session=session, to=target, reason=reason)
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
            if breaches:
                _log_guardrail(
                    user, clinic, session, breaches, event=LimitEventKind.OVERRIDE, reason=override_reason
                )
            progress = pump.progress(plan, dose_events(session), max(now, when))
            record(
                "infusions.dose.record",
                user=user,
                clinic=clinic,
                obj=event,
                patient_id=session.patient_id,
                detail={
                    "event": event.to_dict(),
                    "idempotency_key": key,
                    "given_mg": str(progress.given_mg),
                    "overrides": [guardrails.explain(b) for b in breaches],
                    "override_reason": override_reason.strip() if breaches else "",
                },
            )
            announce(
                session,
                {
                    "type": "dose",
                    "dose": event.to_dict(),
                    "progress": progress.to_dict(),
                    "session": session.to_dict(),
                },
            )
    except _Refused as refused:
        raise _log_refusal(user, clinic, session, kind, refused.breaches) from None
    return event, True


class _Refused(Exception):  # noqa: N818 - not an error of the code: a hard limit said no
    """A hard limit refused the event: raised inside the transaction (which then writes nothing),
    caught outside it to log the refusal in a transaction of its own."""

    def __init__(self, breaches: list[Breach]) -> None:
        super().__init__("refused by a hard limit")
        self.breaches = breaches


def _guardrails(
    session: Session, kind: str, rate: Decimal | None, mg: Decimal | None, override_reason: str
) -> list[Breach]:
    """The soft breaches the event goes ahead with (confirmed); raises ``_Refused`` for a hard one,
    and asks for the confirmation when a soft one has no reason."""
    facts = order_facts(session)
    breaches: list[Breach] = []
    if facts is not None and kind in (DoseKind.START, DoseKind.RATE, DoseKind.RESUME) and rate is not None:
        breaches = guardrails.check_rate(facts, rate)
    elif facts is not None and kind == DoseKind.BOLUS and mg is not None:
        breaches = guardrails.check_bolus(facts, mg)
    hard = [b for b in breaches if b.severity == "hard"]
    if hard:
        raise _Refused(hard)
    _needs_confirmation(breaches, override_reason)
    return breaches


def _log_refusal(
    user: User, clinic: Clinic, session: Session, kind: str, refused: list[Breach]
) -> ValidationError:
    """Log a hard-limit refusal for the limits report, in a transaction of its own (the event's
    was rolled back), and the refusal to raise, on the field that was refused."""
    with transaction.atomic():
        _log_guardrail(user, clinic, session, refused, event=LimitEventKind.REFUSAL, reason="")
        record(
            "infusions.dose.refused",
            user=user,
            clinic=clinic,
            obj=session,
            patient_id=session.patient_id,
            detail={"kind": kind, "refused": [guardrails.explain(b) for b in refused]},
        )
    field = "mg" if kind == DoseKind.BOLUS else "rate_ml_per_h"
    return ValidationError({field: [guardrails.explain(b) for b in refused]})


def _stop_needs_a_reason(plan: pump.OrderPlan, events: list[pump.Dose], when: datetime, reason: str) -> None:
    """Stopping before the order's dose is given is a decision: it needs its reason."""
    p = pump.progress(plan, events, when)
    if p.percent < 100 and not reason:
        raise ValidationError(
            {
                "reason": f"Only {p.given_mg} of {p.planned_mg} mg is given ({p.percent:.0f}%): "
                "say why dosing stops before the full dose."
            }
        )


def _needs_confirmation(breaches: list[Breach], override_reason: str) -> None:
    """Soft breaches go ahead only with a reason (at least a few words): else a refusal that
    lists them under ``override_reason``, so the chair view asks for the confirmation."""
    if breaches and len(str(override_reason or "").strip()) < MIN_OVERRIDE_REASON:
        raise ValidationError(
            {
                "override_reason": [
                    *(guardrails.explain(b) for b in breaches),
                    "To go ahead, confirm with the clinical reason.",
                ]
            }
        )


def _log_guardrail(
    user: User, clinic: Clinic, session: Session, breaches: list[Breach], *, event: str, reason: str
) -> None:
    order = session.dose_order
    log_limit_events(
        user,
        clinic,
        breaches=breaches,
        event=event,
        patient=session.patient,
        protocol=order.protocol if order else None,
        library=order.library if order else None,
        order=order,
        reason=str(reason or "").strip(),
        messages=[f"At the chair: {guardrails.explain(b)}" for b in breaches],
    )


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
    if kind == DoseKind.RESUME and rate is None:
        rate = existing.rate_ml_per_h  # stored as the rate before the pause, which the retry repeats
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
    key = clean_key(idempotency_key)
    reason = required_text(reason, "correction_reason", "Say why the dosing event is corrected.")
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
        when = observed_moment(at, "at", clinic, now)
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
        session = locked(session)
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
            replacement if e.pk == original.pk else as_dose(e, tz)
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
            detail={
                "event": event.to_dict(),
                "corrects": original.pk,
                "before": original.to_dict(),
                "reason": reason,
                "idempotency_key": key,
                "given_mg": str(progress.given_mg),
            },
        )
        announce(
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
