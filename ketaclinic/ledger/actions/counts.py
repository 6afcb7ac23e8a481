"""Counts of a location against the running balances, and what follows a difference: a
discrepancy, investigated and resolved with a reason (with an adjustment to the count, witnessed)
or escalated to a loss report."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.ledger import rules
from ketaclinic.ledger.actions.common import (
    Signature,
    amount,
    locked_container,
    must_hold_key,
    text,
    tolerance_ml,
    witness_user,
)
from ketaclinic.ledger.actions.stock import apply_adjustment, report_loss
from ketaclinic.ledger.models import (
    CLOSED_STATUSES,
    BusinessTime,
    Container,
    Count,
    CountKind,
    CountLine,
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyStatus,
    LedgerHead,
    LossReport,
    StorageLocation,
)

INVENTORIES = (CountKind.INITIAL, CountKind.BIENNIAL)


def record_count(
    *,
    user: User,
    clinic: Clinic,
    location: StorageLocation,
    kind: str,
    counted: Mapping[int, Any],
    witness: Signature | None,
    business_time: str = "",
    note: str = "",
) -> Count:
    """Count every container on the books in ``location``: ``counted`` maps a container's id to
    the mL found (vials) or 1/0 (a device present or not). Each line beyond the tolerance opens a
    discrepancy. An inventory (initial, biennial) says whether it was taken at the opening or the
    close of business (clinical.md §5 [S90][S91])."""
    require(user, clinic, "ledger.count")
    same_clinic(location.clinic_id, clinic, "location")
    if kind not in CountKind.values:
        raise ValidationError({"kind": f"Choose one of {', '.join(CountKind.values)}."})
    if kind in INVENTORIES and business_time not in BusinessTime.values:
        raise ValidationError(
            {"business_time": "Say whether the inventory was taken at opening or close of business."}
        )
    if kind not in INVENTORIES and business_time:
        business_time = business_time if business_time in BusinessTime.values else ""
    note = text(note, "note", required=False)
    must_hold_key(user, location)
    with transaction.atomic():
        signer = witness_user(clinic, user, witness)
        containers = list(
            Container.objects.select_for_update()
            .select_related("product__product")
            .filter(clinic=clinic, location=location)
            .exclude(status__in=CLOSED_STATUSES)
            .order_by("pk")
        )
        on_books = {c.pk for c in containers}
        strange = [k for k in counted if int(k) not in on_books]
        if strange:
            raise ValidationError(
                {
                    "counted": "These containers are not on the books in this location: "
                    + ", ".join(map(str, strange))
                }
            )
        missing = [c.label for c in containers if c.pk not in {int(k) for k in counted}]
        if missing:
            raise ValidationError(
                {"counted": "Count every container on the books here; not counted: " + ", ".join(missing)}
            )
        head = LedgerHead.objects.filter(clinic=clinic).first()
        count = Count.objects.create(
            clinic=clinic,
            location=location,
            kind=kind,
            taken_at=timezone.now(),
            business_time=business_time,
            counted_by=user,
            witness=signer,
            ledger_seq=head.seq if head else 0,
            note=note,
        )
        by_id = {int(k): v for k, v in counted.items()}
        opened = 0
        for container in containers:
            found_mg, found_ml = _found(container, by_id[container.pk])
            line = CountLine.objects.create(
                count=count,
                container=container,
                expected_mg=container.balance_mg,
                counted_mg=found_mg,
                counted_ml=found_ml,
            )
            tolerance = rules.tolerance_mg(container.product.mg_per_ml, tolerance_ml())
            if abs(line.difference_mg) > tolerance:
                opened += 1
                discrepancy = Discrepancy.objects.create(
                    clinic=clinic,
                    kind=DiscrepancyKind.COUNT,
                    container=container,
                    count_line=line,
                    staff=user,
                    expected_mg=line.expected_mg,
                    found_mg=found_mg,
                    description=(
                        f"{count.get_kind_display()} of {location.name}: {container.label} holds "
                        f"{found_mg} mg, the ledger says {line.expected_mg} mg (tolerance {tolerance} mg)."
                    ),
                )
                record("ledger.discrepancy_opened", user=user, clinic=clinic, obj=discrepancy)
        record(
            "ledger.count",
            user=user,
            clinic=clinic,
            obj=count,
            detail={
                "kind": kind,
                "containers": len(containers),
                "discrepancies": opened,
                "witness": signer.username,
            },
        )
    return count


def _found(container: Container, value: Any) -> tuple[Decimal, Decimal | None]:
    field = f"counted_{container.pk}"
    if container.product.is_device:
        present = amount(value, field, allow_zero=True)
        if present not in (0, 1):
            raise ValidationError({field: f"{container.label}: 1 if the device is there, 0 if not."})
        return rules.q(container.balance_mg if present else rules.ZERO), None
    ml = amount(value, field, allow_zero=True)
    return rules.q(ml * container.product.mg_per_ml), ml  # type: ignore[operator]


def note_investigation(*, user: User, clinic: Clinic, discrepancy: Discrepancy, note: str) -> Discrepancy:
    """Add a dated note to an open discrepancy's investigation (notes are appended, never replaced)."""
    require(user, clinic, "ledger.investigate")
    same_clinic(discrepancy.clinic_id, clinic, "discrepancy")
    note = text(note, "note", min_length=10)
    with transaction.atomic():
        discrepancy = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
        _must_be_open(discrepancy)
        stamp = timezone.localtime(timezone.now(), clinic.tz).strftime("%Y-%m-%d %H:%M")
        line = f"{stamp} {user.username}: {note}"
        discrepancy.investigation = f"{discrepancy.investigation}\n{line}".strip()
        discrepancy.save(update_fields=["investigation"])
        record("ledger.discrepancy_note", user=user, clinic=clinic, obj=discrepancy, detail={"note": note})
    return discrepancy


def resolve(
    *,
    user: User,
    clinic: Clinic,
    discrepancy: Discrepancy,
    resolution: str,
    adjust_to_count: bool = False,
    witness: Signature | None = None,
) -> Discrepancy:
    """Close a discrepancy with a reason a reviewer can read. A count discrepancy may set the
    container's balance to what was counted (an adjustment entry, witnessed)."""
    require(user, clinic, "ledger.investigate")
    same_clinic(discrepancy.clinic_id, clinic, "discrepancy")
    resolution = text(resolution, "resolution", min_length=10)
    with transaction.atomic():
        container = None
        if adjust_to_count:
            if discrepancy.kind != DiscrepancyKind.COUNT or discrepancy.container is None:
                raise ValidationError({"adjust_to_count": "Only a count discrepancy adjusts a balance."})
            container = locked_container(discrepancy.container)
        discrepancy = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
        _must_be_open(discrepancy)
        if container is not None:
            signer = witness_user(clinic, user, witness)
            delta = discrepancy.found_mg - container.balance_mg
            apply_adjustment(
                clinic,
                user,
                container,
                delta,
                witness=signer,
                reason=resolution,
                detail={"discrepancy_id": discrepancy.pk},
            )
        discrepancy.status = DiscrepancyStatus.RESOLVED
        discrepancy.resolution, discrepancy.resolved_by, discrepancy.resolved_at = (
            resolution,
            user,
            timezone.now(),
        )
        discrepancy.save(update_fields=["status", "resolution", "resolved_by", "resolved_at"])
        record(
            "ledger.discrepancy_resolved",
            user=user,
            clinic=clinic,
            obj=discrepancy,
            detail={"resolution": resolution},
        )
    return discrepancy


def escalate(
    *,
    user: User,
    clinic: Clinic,
    discrepancy: Discrepancy,
    kind: str,
    description: str,
    police_report: str = "",
) -> LossReport:
    """Turn a discrepancy into a theft or significant-loss report. A count's missing drug leaves
    the container's balance; a session's was already out of stock when drawn."""
    require(user, clinic, "ledger.investigate")
    same_clinic(discrepancy.clinic_id, clinic, "discrepancy")
    with transaction.atomic():
        discrepancy = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
        _must_be_open(discrepancy)
        missing = discrepancy.expected_mg - discrepancy.found_mg
        if missing <= 0:
            raise ValidationError(
                {"discrepancy": "Nothing is missing here (more was found than expected): resolve it instead."}
            )
        container = discrepancy.container if discrepancy.kind == DiscrepancyKind.COUNT else None
        report = report_loss(
            user=user,
            clinic=clinic,
            kind=kind,
            discovered_at=discrepancy.opened_at,
            quantity_mg=str(missing),
            description=description,
            container=container,
            police_report=police_report,
        )
        discrepancy.status = DiscrepancyStatus.ESCALATED
        discrepancy.loss_report = report
        discrepancy.resolved_by, discrepancy.resolved_at = user, timezone.now()
        discrepancy.resolution = f"Escalated to loss report {report.pk}."
        discrepancy.save(update_fields=["status", "loss_report", "resolved_by", "resolved_at", "resolution"])
        record(
            "ledger.discrepancy_escalated",
            user=user,
            clinic=clinic,
            obj=discrepancy,
            detail={"loss_report": report.pk},
        )
    return report


def _must_be_open(discrepancy: Discrepancy) -> None:
    if discrepancy.status != DiscrepancyStatus.OPEN:
        raise ValidationError(
            {"discrepancy": f"This discrepancy is {discrepancy.get_status_display().lower()} already."}
        )
