"""The nurse's independent, blind double check of a signed order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.protocols import dose_calc
from ketaclinic.protocols.actions.common import decimal_field
from ketaclinic.protocols.models import (
    DoseOrder,
    DoubleCheck,
    OrderStatus,
)
from ketaclinic.protocols.units import weight_to_kg


def verify_order(
    user: User,
    clinic: Clinic,
    order: DoseOrder,
    *,
    weight_value: Any,
    weight_unit: str,
    dose_mg: Any,
    rate_ml_per_h: Any = None,
    note: str = "",
) -> DoubleCheck:
    """The nurse's independent double check. A mismatch blocks the order until a check matches."""
    require(user, clinic, "orders.verify")
    same_clinic(order.patient.clinic_id, clinic, "order")
    if order.signed_by_id == user.pk:
        raise PermissionDenied("The double check must be done by someone other than the person who signed.")
    errors: dict[str, list[str]] = {}
    weight_kg = entered_weight = entered_dose = entered_rate = None
    try:
        entered_weight = decimal_field({"weight": weight_value}, "weight")
        assert entered_weight is not None  # noqa: S101
        weight_kg = weight_to_kg(entered_weight, weight_unit)
        if weight_kg <= 0:
            errors["weight"] = ["Weight must be greater than 0."]
    except ValidationError as exc:
        errors.update(exc.message_dict)
    except ValueError:
        errors["weight_unit"] = ["Choose kg or lb."]
    try:
        entered_dose = decimal_field({"dose_mg": dose_mg}, "dose_mg")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if order.rate_ml_per_h is not None:
        try:
            entered_rate = decimal_field({"rate_ml_per_h": rate_ml_per_h}, "rate_ml_per_h")
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if order.status == OrderStatus.BLOCKED and not (note or "").strip():
        errors["note"] = ["This order was blocked by a mismatch: say what was wrong and how it was resolved."]
    if errors:
        raise ValidationError(errors)
    assert weight_kg is not None and entered_dose is not None and entered_weight is not None  # noqa: S101
    with transaction.atomic():
        locked = DoseOrder.objects.select_for_update().get(pk=order.pk)
        if locked.status not in (OrderStatus.SIGNED, OrderStatus.BLOCKED):
            raise ValidationError(
                {"status": [f"This order is {locked.get_status_display().lower()}; nothing to check."]}
            )
        mismatches = dose_calc.compare_double_check(
            locked.weight_kg,
            locked.dose_mg,
            locked.rate_ml_per_h,
            entered_weight_kg=weight_kg,
            entered_dose_mg=entered_dose,
            entered_rate_ml_per_h=entered_rate,
        )
        check = DoubleCheck.objects.create(
            order=locked,
            checked_by=user,
            entered_weight_value=entered_weight,
            entered_weight_unit=weight_unit,
            entered_weight_kg=weight_kg,
            entered_dose_mg=entered_dose.quantize(Decimal("0.1")),
            entered_rate_ml_per_h=None if entered_rate is None else entered_rate.quantize(Decimal("0.1")),
            matched=not mismatches,
            mismatches=[{"field": m.field, "message": m.message} for m in mismatches],
            note=(note or "").strip()[:300],
        )
        if mismatches:
            locked.status = OrderStatus.BLOCKED
            locked.save(update_fields=["status"])
        else:
            locked.status = OrderStatus.VERIFIED
            locked.verified_by = user
            locked.verified_at = timezone.now()
            locked.save(update_fields=["status", "verified_by", "verified_at"])
        record(
            "order.double_check",
            user=user,
            clinic=clinic,
            obj=locked,
            patient_id=locked.patient_id,
            detail={
                "matched": not mismatches,
                "mismatch_fields": [m.field for m in mismatches],
                "entered": {"weight_kg": weight_kg, "dose_mg": entered_dose, "rate_ml_per_h": entered_rate},
                "note": check.note,
            },
        )
    order.refresh_from_db()
    return check
