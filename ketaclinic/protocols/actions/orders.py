"""Dose orders: the draft (computation, session history, limit check), and signing it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.clinic_time import clinic_datetime
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.patients.models import Patient, WeightMeasurement
from ketaclinic.protocols import dose_calc, limits
from ketaclinic.protocols.actions.common import OrderRefused, decimal_field
from ketaclinic.protocols.models import (
    DoseOrder,
    DrugLibrary,
    LibraryEntry,
    LimitEvent,
    LimitEventKind,
    OrderStatus,
    PlanStatus,
    Product,
    TreatmentPlan,
)


@dataclass
class OrderDraft:
    """Everything a dose order would say, before it is signed (used for the live preview too)."""

    plan: TreatmentPlan
    product: Product
    library: DrugLibrary
    entry: LibraryEntry
    weight: WeightMeasurement
    scheduled_for: datetime
    session_number: int
    computation: dose_calc.DoseComputation
    history_values: dict[str, Decimal | None]
    check: limits.CheckResult
    warnings: list[str] = field(default_factory=list)

    @property
    def values(self) -> dict[str, Decimal | None]:
        return self.computation.limit_values() | self.history_values

    def limit_check_json(self) -> dict[str, Any]:
        return {
            "breaches": [b.to_dict() for b in self.check.breaches],
            "not_applicable": list(self.check.not_applicable),
            "open": list(self.check.open_kinds),
            "values": {k: None if v is None else str(v) for k, v in self.values.items()},
        }


def order_defaults(plan: TreatmentPlan) -> dict[str, Any]:
    """The protocol's dose rule as form values (the first nasal session gets the day-1 dose)."""
    proto = plan.protocol
    dose, tit = proto.dose, proto.titration or {}
    first = not DoseOrder.objects.filter(plan=plan).exclude(status=OrderStatus.SUPERSEDED).exists()
    return {
        "product": proto.product.code,
        "dose_mg_per_kg": dose.get("dose_mg_per_kg", ""),
        "dose_mg": (dose.get("first_dose_mg") if first else None) or dose.get("dose_mg", ""),
        "duration_min": dose.get("duration_min", ""),
        "titration_start": tit.get("start_mg_per_kg_per_h", ""),
        "titration_step": tit.get("step_mg_per_kg_per_h", ""),
        "titration_interval": tit.get("interval_min", ""),
        "titration_ceiling": tit.get("ceiling_mg_per_kg_per_h", ""),
        "bolus_mg_per_kg": "",
    }


def _history(
    patient: Patient, when: datetime, exclude_pk: int | None
) -> tuple[dict[str, Decimal | None], int]:
    """Interval to the nearest other session and the busiest 7-day window containing this one."""
    others = DoseOrder.objects.filter(patient=patient).exclude(status=OrderStatus.SUPERSEDED)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    week = timedelta(days=7)
    nearby = sorted(
        others.filter(scheduled_for__gt=when - week, scheduled_for__lt=when + week).values_list(
            "scheduled_for", flat=True
        )
    )
    prev = (
        others.filter(scheduled_for__lte=when)
        .order_by("-scheduled_for")
        .values_list("scheduled_for", flat=True)
        .first()
    )
    nxt = (
        others.filter(scheduled_for__gt=when)
        .order_by("scheduled_for")
        .values_list("scheduled_for", flat=True)
        .first()
    )
    gaps = [abs(when - t) for t in (prev, nxt) if t is not None]
    interval = None
    if gaps:
        interval = (Decimal(min(gaps).total_seconds()) / Decimal(3600)).quantize(Decimal("0.01"))
    times = sorted([*nearby, when])
    busiest = max(
        sum(1 for t in times if start <= t < start + week) for start in times if when - week < start <= when
    )
    return {"interval_since_last_h": interval, "sessions_per_week": Decimal(busiest)}, busiest


def draft_order(  # noqa: PLR0912, PLR0915 - each missing prerequisite gets its own message
    clinic: Clinic, plan: TreatmentPlan, data: Mapping[str, Any], *, supersedes: DoseOrder | None = None
) -> OrderDraft:
    """Compute and check an order without writing anything. ValidationError names the bad field."""
    same_clinic(plan.patient.clinic_id, clinic, "plan")
    proto = plan.protocol
    errors: dict[str, list[str]] = {}
    if plan.status != PlanStatus.SIGNED:
        raise ValidationError(
            {"plan": ["The treatment plan is not signed yet; a prescriber signs it first."]}
        )
    library = DrugLibrary.current_for(clinic)
    if library is None:
        raise ValidationError(
            {"library": ["This clinic has no drug library yet; the clinic admin creates it."]}
        )
    entry = library.entries.filter(key=proto.library_key).select_related("product").first()
    if entry is None:
        raise ValidationError(
            {
                "library": [
                    f"Drug library v{library.version} has no entry '{proto.library_key}' for this protocol, "
                    "so the dose cannot be checked; the clinic admin adds it."
                ]
            }
        )
    if entry.route != proto.route:
        raise ValidationError(
            {"library": [f"Library entry '{entry.key}' is for a different route ({entry.route})."]}
        )
    product = Product.objects.filter(code=data.get("product") or proto.product.code, is_active=True).first()
    if product is None or product.drug != proto.drug:
        raise ValidationError({"product": [f"Choose a {proto.get_drug_display()} product."]})
    if proto.route in ("iv", "im") and product.concentration_mg_per_ml is None:
        raise ValidationError({"product": ["This route needs a product with a concentration (a vial)."]})
    if proto.route == "nasal" and product.device_mg is None:
        raise ValidationError({"product": ["Nasal dosing needs a device product."]})

    when = clinic_datetime(data.get("scheduled_for") or timezone.now(), "scheduled_for", clinic)
    weight = WeightMeasurement.current_for(plan.patient)
    window = proto.weight_window_days
    if weight is None:
        raise ValidationError({"weight": ["No weight on record; record today's weight on the chart first."]})
    if weight.measured_at < when - timedelta(days=window) or weight.measured_at > timezone.now() + timedelta(
        minutes=5
    ):
        raise ValidationError(
            {
                "weight": [
                    f"The last weight ({weight.entered_value} {weight.entered_unit}, "
                    f"{timezone.localtime(weight.measured_at):%Y-%m-%d}) is older than this protocol's "
                    f"{window}-day window; weigh the patient and record it on the chart."
                ]
            }
        )
    dose_kwargs: dict[str, Any] = {}
    basis = proto.dose.get("basis")
    try:
        if proto.route == "nasal":
            dose_kwargs["dose_mg"] = decimal_field(data, "dose_mg")
        elif basis == "titrated":
            dose_kwargs["duration_min"] = decimal_field(data, "duration_min")
            dose_kwargs["titration"] = dose_calc.Titration(
                start_mg_per_kg_per_h=decimal_field(data, "titration_start"),  # type: ignore[arg-type]
                step_mg_per_kg_per_h=decimal_field(data, "titration_step"),  # type: ignore[arg-type]
                interval_min=decimal_field(data, "titration_interval"),  # type: ignore[arg-type]
                ceiling_mg_per_kg_per_h=decimal_field(data, "titration_ceiling"),  # type: ignore[arg-type]
            )
        else:
            dose_kwargs["dose_mg_per_kg"] = decimal_field(data, "dose_mg_per_kg")
            if proto.route == "iv":
                dose_kwargs["duration_min"] = decimal_field(data, "duration_min")
        if proto.route == "iv":
            dose_kwargs["bolus_mg_per_kg"] = decimal_field(data, "bolus_mg_per_kg", required=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    dose_request = dose_calc.DoseRequest(
        route=proto.route,  # type: ignore[arg-type]
        weight_kg=weight.weight_kg,
        conc_base_mg_per_ml=product.base_mg_per_ml(),
        drug=proto.drug,  # type: ignore[arg-type]
        **dose_kwargs,
    )
    try:
        comp = dose_calc.compute(dose_request)
    except ValueError as exc:
        name, _, msg = str(exc).partition(": ")
        field_map = {"concentration": "product", "weight_kg": "weight"}
        raise ValidationError({field_map.get(name, name): [msg or str(exc)]}) from None
    history, _ = _history(plan.patient, when, supersedes.pk if supersedes else None)
    result = limits.check(entry.parsed_limits(), comp.limit_values() | history)
    planned = DoseOrder.objects.filter(plan=plan).exclude(status=OrderStatus.SUPERSEDED).count()
    number = supersedes.session_number if supersedes else planned + 1
    warnings = []
    if number > plan.sessions_planned:
        warnings.append(f"Session {number} is beyond the {plan.sessions_planned} sessions the plan foresees.")
    return OrderDraft(plan, product, library, entry, weight, when, number, comp, history, result, warnings)


def _log_limit_events(
    user: User,
    clinic: Clinic,
    draft: OrderDraft,
    *,
    breaches: tuple[limits.Breach, ...],
    event: str,
    order: DoseOrder | None,
    reason: str,
) -> None:
    log_limit_events(
        user,
        clinic,
        breaches=breaches,
        event=event,
        patient=draft.plan.patient,
        protocol=draft.plan.protocol,
        library=draft.library,
        order=order,
        reason=reason,
    )


def log_limit_events(
    user: User,
    clinic: Clinic,
    *,
    breaches: tuple[limits.Breach, ...] | list[limits.Breach],
    event: str,
    patient: Any,
    protocol: Any,
    library: Any,
    order: DoseOrder | None,
    reason: str,
    messages: list[str] | None = None,
) -> None:
    """One ``LimitEvent`` per breach, for the limits report: at signing, and at the chair (a rate
    change, a resume or a bolus checked by ``infusions.guardrails``). ``messages`` replaces each
    breach's own wording where given."""
    for i, b in enumerate(breaches):
        LimitEvent.objects.create(
            clinic=clinic,
            user=user,
            event=event,
            patient=patient,
            protocol=protocol,
            library=library,
            order=order,
            kind=b.kind,
            severity=b.severity,
            limit_value=b.limit,
            value=b.value,
            unit=b.unit,
            message=(messages[i] if messages else b.message)[:300],
            reason=reason,
        )


def sign_order(  # noqa: PLR0912, PLR0915 - one transaction: refusal log, supersession, order, events
    user: User,
    clinic: Clinic,
    plan: TreatmentPlan,
    data: Mapping[str, Any],
    *,
    override_reason: str = "",
    supersedes: DoseOrder | None = None,
    correction_reason: str = "",
) -> DoseOrder:
    """Compute, check against the library and sign a dose order (or a correction superseding one).

    Hard breach: the refusal is logged and ``OrderRefused`` raised; no order exists. Soft breach:
    needs ``override_reason``; each overridden limit is logged against the new order.
    """
    require(user, clinic, "orders.sign")
    same_clinic(plan.patient.clinic_id, clinic, "plan")
    if supersedes is not None:
        same_clinic(supersedes.patient.clinic_id, clinic, "supersedes")
        if supersedes.plan_id != plan.pk:
            raise ValidationError(
                {"supersedes": ["A correction belongs to the same plan as the order it corrects."]}
            )
        if supersedes.status == OrderStatus.SUPERSEDED:
            raise ValidationError(
                {"supersedes": ["That order was already corrected; correct the newest one."]}
            )
        if not (correction_reason or "").strip():
            raise ValidationError({"correction_reason": ["Say what the correction changes and why."]})
    screening = plan.patient.latest_screening()
    if screening is None or not screening.is_current():
        raise ValidationError(
            {
                "screening": [
                    "The patient's eligibility screening is not current; screen again before ordering."
                ]
            }
        )
    data = dict(data)
    if supersedes is not None and not data.get("scheduled_for"):
        data["scheduled_for"] = supersedes.scheduled_for
    patient = plan.patient
    reason = (override_reason or "").strip()
    # Limits that depend on the patient's other orders (the interval since the last session, the
    # sessions in a week, the session number) are computed under a lock on the patient, in the
    # transaction that writes the order: two prescribers signing at once are checked one after
    # the other, and the second sees the first's order. (On SQLite, IMMEDIATE transactions
    # serialize writers at BEGIN; on PostgreSQL the row lock does.)
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        draft = draft_order(clinic, plan, data, supersedes=supersedes)
        if draft.check.refused:
            _log_limit_events(
                user,
                clinic,
                draft,
                breaches=draft.check.hard,
                event=LimitEventKind.REFUSAL,
                order=None,
                reason="",
            )
            record(
                "order.refused",
                user=user,
                clinic=clinic,
                obj=plan,
                patient_id=plan.patient_id,
                detail={"library_version": draft.library.version, **draft.limit_check_json()},
            )
        elif draft.check.needs_override and not reason:
            raise ValidationError(
                {
                    "override_reason": [
                        "Outside a soft limit: "
                        + " ".join(b.message for b in draft.check.soft)
                        + " Give the clinical reason to override."
                    ]
                }
            )
        else:
            order = _write_order(
                user,
                clinic,
                plan,
                draft,
                reason=reason,
                supersedes=supersedes,
                correction_reason=correction_reason,
            )
    if draft.check.refused:
        raise OrderRefused(draft.check.hard)
    return order


def _write_order(
    user: User,
    clinic: Clinic,
    plan: TreatmentPlan,
    draft: OrderDraft,
    *,
    reason: str,
    supersedes: DoseOrder | None,
    correction_reason: str,
) -> DoseOrder:
    """Inside ``sign_order``'s transaction: supersede the corrected order, write the new one, log."""
    from ketaclinic.protocols.prediction import predict_draft

    patient = plan.patient
    pred = predict_draft(draft)
    comp = draft.computation
    if supersedes is not None:
        locked = DoseOrder.objects.select_for_update().get(pk=supersedes.pk)
        if locked.status == OrderStatus.SUPERSEDED:
            raise ValidationError({"supersedes": ["That order was already corrected."]})
        locked.status = OrderStatus.SUPERSEDED
        locked.save(update_fields=["status"])
    try:
        order = DoseOrder.objects.create(
            patient=patient,
            plan=plan,
            protocol=plan.protocol,
            protocol_snapshot=plan.protocol.to_dict(),
            library=draft.library,
            library_entry=draft.entry,
            product=draft.product,
            route=plan.protocol.route,
            drug=plan.protocol.drug,
            scheduled_for=draft.scheduled_for,
            session_number=draft.session_number,
            weight=draft.weight,
            weight_kg=draft.weight.weight_kg,
            weight_entered_value=draft.weight.entered_value,
            weight_entered_unit=draft.weight.entered_unit,
            weight_measured_at=draft.weight.measured_at,
            dose_mg_per_kg=comp.dose_mg_per_kg,
            dose_mg=comp.dose_mg,
            dose_mg_salt=comp.dose_mg_salt,
            concentration_mg_per_ml=draft.product.concentration_mg_per_ml,
            concentration_basis=draft.product.concentration_basis,
            concentration_base_mg_per_ml=comp.concentration_base_mg_per_ml,
            volume_ml=comp.volume_ml,
            duration_min=comp.duration_min,
            rate_mg_per_kg_per_h=comp.rate_mg_per_kg_per_h,
            rate_ml_per_h=comp.rate_ml_per_h,
            bolus_mg=comp.bolus_mg,
            bolus_ml=comp.bolus_ml,
            cumulative_mg=comp.cumulative_mg,
            devices=comp.devices,
            titration_steps=[s.to_dict() for s in comp.steps],
            regimen_text=comp.regimen_text(),
            limit_check=draft.limit_check_json(),
            override_reason=reason if draft.check.soft else "",
            prediction_summary=pred.summary() if pred.ok else {"error": pred.error},
            signed_by=user,
            supersedes=supersedes,
            correction_reason=(correction_reason or "").strip() if supersedes else "",
        )
    except IntegrityError:
        raise ValidationError({"supersedes": ["That order was already corrected."]}) from None
    _log_limit_events(
        user,
        clinic,
        draft,
        breaches=draft.check.soft,
        event=LimitEventKind.OVERRIDE,
        order=order,
        reason=reason,
    )
    record(
        "order.sign",
        user=user,
        clinic=clinic,
        obj=order,
        patient_id=patient.pk,
        detail={
            "library_version": draft.library.version,
            "dose_mg": comp.dose_mg,
            "route": order.route,
            "overrides": [b.kind for b in draft.check.soft],
            "override_reason": order.override_reason,
            "supersedes": supersedes.pk if supersedes else None,
            "correction_reason": order.correction_reason,
        },
    )
    return order
