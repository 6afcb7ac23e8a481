"""What the protocols actions share: the hard-limit refusal, number fields, the audited read."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.protocols import limits
from ketaclinic.protocols.units import as_decimal


class OrderRefused(ValidationError):
    """A hard limit was crossed. ``breaches`` holds the ``limits.Breach`` objects; nothing was ordered."""

    def __init__(self, breaches: tuple[limits.Breach, ...]) -> None:
        self.breaches = breaches
        super().__init__({b.kind: [b.message] for b in breaches})


def decimal_field(data: Mapping[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    value = data.get(name)
    if value in (None, ""):
        if required:
            raise ValidationError({name: ["Enter a number."]})
        return None
    try:
        return as_decimal(value, name)
    except ValueError as exc:
        raise ValidationError({name: [str(exc).split(": ", 1)[-1]]}) from None


def audit_read(
    action: str,
    user: User,
    clinic: Clinic,
    obj: Any,
    patient_id: int | None,
) -> None:
    """Every read of a patient's plan or order is audited, like a chart read."""
    with transaction.atomic():
        record(action, user=user, clinic=clinic, obj=obj, patient_id=patient_id)
