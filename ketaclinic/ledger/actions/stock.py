"""The clinic's stock: registration, places and products; receipts; moves; destruction, reverse
distribution, adjustments and losses. Each write is one transaction with its ledger entries and
audit entry; every person named as a witness signed with their own password.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.clinic_time import clinic_datetime
from ketaclinic.accounts.models import Clinic, Membership, User
from ketaclinic.audit import chain
from ketaclinic.audit.actions import record
from ketaclinic.ledger import rules
from ketaclinic.ledger.actions.common import (
    Signature,
    a_date,
    amount,
    append,
    locked_container,
    must_hold_key,
    registration_in_force,
    text,
    witness_user,
)
from ketaclinic.ledger.models import (
    CLOSED_STATUSES,
    Container,
    ContainerStatus,
    EntryKind,
    LedgerEntry,
    LedgerHead,
    LocationKind,
    LossKind,
    LossReport,
    Receipt,
    ReceiptStatus,
    Registration,
    StockProduct,
    StorageLocation,
)
from ketaclinic.patients.actions import clinic_today
from ketaclinic.protocols.models import Product

MAX_CONTAINERS_PER_RECEIPT = 500
SCHEDULES = ("1", "2", "2N", "3", "3N", "4", "5")


# ----- setup ------------------------------------------------------------------------------------


def add_registration(
    *,
    user: User,
    clinic: Clinic,
    number: str,
    registrant_name: str,
    address: str,
    schedules: str,
    expires_on: Any,
) -> Registration:
    require(user, clinic, "ledger.manage")
    number = str(number or "").strip().upper()
    problem = rules.dea_number_problem(number)
    if problem:
        raise ValidationError({"number": problem})
    listed = str(schedules or "").upper().replace(",", " ").split()
    unknown = [s for s in listed if s not in SCHEDULES]
    if not listed or unknown:
        raise ValidationError(
            {"schedules": f"List the schedules from {', '.join(SCHEDULES)} (got {schedules!r})."}
        )
    expires = a_date(expires_on, "expires_on")
    if expires < clinic_today(clinic):
        raise ValidationError({"expires_on": "This registration has already expired."})
    with transaction.atomic():
        reg = Registration.objects.create(
            clinic=clinic,
            number=number,
            registrant_name=text(registrant_name, "registrant_name", max_length=200),
            address=text(address, "address"),
            schedules=" ".join(listed),
            expires_on=expires,
            created_by=user,
        )
        record("ledger.registration", user=user, clinic=clinic, obj=reg, detail={"number": number})
    return reg


def add_location(
    *, user: User, clinic: Clinic, name: str, kind: str, keyholders: Iterable[User]
) -> StorageLocation:
    require(user, clinic, "ledger.manage")
    name = text(name, "name", max_length=100)
    if kind not in LocationKind.values:
        raise ValidationError({"kind": f"Choose one of {', '.join(LocationKind.values)}."})
    holders = _members(clinic, keyholders)
    with transaction.atomic():
        try:
            with transaction.atomic():
                location = StorageLocation.objects.create(clinic=clinic, name=name, kind=kind)
        except IntegrityError:
            raise ValidationError({"name": f"{name} exists already."}) from None
        location.keyholders.set(holders)
        record(
            "ledger.location",
            user=user,
            clinic=clinic,
            obj=location,
            detail={"name": name, "keyholders": [u.username for u in holders]},
        )
    return location


def set_keyholders(
    *, user: User, clinic: Clinic, location: StorageLocation, keyholders: Iterable[User]
) -> None:
    require(user, clinic, "ledger.manage")
    same_clinic(location.clinic_id, clinic, "location")
    holders = _members(clinic, keyholders)
    with transaction.atomic():
        location.keyholders.set(holders)
        record(
            "ledger.keyholders",
            user=user,
            clinic=clinic,
            obj=location,
            detail={"keyholders": [u.username for u in holders]},
        )


def _members(clinic: Clinic, users: Iterable[User]) -> list[User]:
    users = list(users)
    members = set(
        Membership.objects.filter(clinic=clinic, is_active=True, user__in=users).values_list(
            "user_id", flat=True
        )
    )
    outsiders = [u.username for u in users if u.pk not in members]
    if outsiders:
        raise ValidationError({"keyholders": f"Not staff of this clinic: {', '.join(outsiders)}."})
    if not users:
        raise ValidationError({"keyholders": "Name at least one keyholder."})
    return users


def add_product(
    *, user: User, clinic: Clinic, product: Product, ndc: str, container_ml: Any = None
) -> StockProduct:
    require(user, clinic, "ledger.manage")
    ndc = str(ndc or "").strip()
    problem = rules.ndc_problem(ndc)
    if problem:
        raise ValidationError({"ndc": problem})
    if product.device_mg is not None:
        if container_ml not in (None, ""):
            raise ValidationError(
                {"container_ml": "A nasal device is one container: leave the volume empty."}
            )
        volume, mg = None, product.device_mg
    else:
        volume = amount(container_ml, "container_ml")
        mg = rules.q(volume * product.base_mg_per_ml())  # type: ignore[operator]
    with transaction.atomic():
        try:
            with transaction.atomic():
                stock = StockProduct.objects.create(
                    clinic=clinic, product=product, ndc=ndc, container_ml=volume, container_mg=mg
                )
        except IntegrityError:
            raise ValidationError({"ndc": f"NDC {ndc} is stocked already."}) from None
        record(
            "ledger.product",
            user=user,
            clinic=clinic,
            obj=stock,
            detail={"ndc": ndc, "container_mg": str(mg)},
        )
    return stock


# ----- receipt ----------------------------------------------------------------------------------


def receive(
    *,
    user: User,
    clinic: Clinic,
    invoice_number: str,
    supplier_name: str,
    supplier_address: str,
    supplier_registration: str,
    received_on: Any,
    product: StockProduct,
    lot_number: str,
    expires_on: Any,
    containers_ordered: Any,
    containers_received: Any,
    location: StorageLocation,
    witness: Signature | None,
    order_reference: str = "",
    hold_reason: str = "",
) -> Receipt:
    """Receive one invoice line into ``location``. Containers are numbered and put on the books at
    once; a receipt that does not match the order (count, an expired or short-dated lot, or a
    reason the receiver gives) is held, its containers unusable until a clinic admin releases it."""
    require(user, clinic, "ledger.receive")
    for obj, field in ((product, "product"), (location, "location")):
        same_clinic(obj.clinic_id, clinic, field)
    registration_in_force(clinic)
    supplier_registration = str(supplier_registration or "").strip().upper()
    problem = rules.dea_number_problem(supplier_registration)
    if problem:
        raise ValidationError({"supplier_registration": problem})
    fields = {
        "invoice_number": text(invoice_number, "invoice_number", max_length=60),
        "order_reference": text(order_reference, "order_reference", required=False, max_length=60),
        "supplier_name": text(supplier_name, "supplier_name", max_length=200),
        "supplier_address": text(supplier_address, "supplier_address"),
        "lot_number": text(lot_number, "lot_number", max_length=40),
    }
    received = a_date(received_on, "received_on")
    if received > clinic_today(clinic):
        raise ValidationError({"received_on": "A receipt cannot be dated in the future."})
    expires = a_date(expires_on, "expires_on")
    ordered = _count(containers_ordered, "containers_ordered")
    got = _count(containers_received, "containers_received")
    reasons = []
    if got != ordered:
        reasons.append(f"received {got} containers, the order was for {ordered}")
    if expires <= received:
        reasons.append(f"the lot expired on {expires}")
    given = text(hold_reason, "hold_reason", required=False)
    if given:
        reasons.append(given)
    if not location.is_active:
        raise ValidationError({"location": f"{location.name} is no longer in use."})
    must_hold_key(user, location)
    with transaction.atomic():
        signer = witness_user(clinic, user, witness)
        held = bool(reasons)
        try:
            with transaction.atomic():
                receipt = Receipt.objects.create(
                    clinic=clinic,
                    supplier_registration=supplier_registration,
                    received_on=received,
                    product=product,
                    expires_on=expires,
                    containers_ordered=ordered,
                    containers_received=got,
                    location=location,
                    received_by=user,
                    witnessed_by=signer,
                    status=ReceiptStatus.HELD if held else ReceiptStatus.ACCEPTED,
                    hold_reason="; ".join(reasons),
                    **fields,
                )
        except IntegrityError:
            raise ValidationError(
                {
                    "invoice_number": "This invoice line (supplier, invoice, product and lot) "
                    "is received already."
                }
            ) from None
        # The clinic's ledger head, locked first: two receipts at once number their containers one
        # after the other (no container is locked yet, so the lock order holds).
        LedgerHead.objects.select_for_update().get_or_create(clinic=clinic, defaults={"hash": chain.GENESIS})
        first = (Container.objects.filter(clinic=clinic).aggregate(n=Max("number"))["n"] or 0) + 1
        for number in range(first, first + got):
            container = Container.objects.create(
                clinic=clinic,
                number=number,
                product=product,
                receipt=receipt,
                lot_number=receipt.lot_number,
                expires_on=expires,
                location=location,
                status=ContainerStatus.HELD if held else ContainerStatus.SEALED,
                balance_mg=rules.ZERO,
                balance_ml=None if product.is_device else rules.ZERO,
            )
            append(
                clinic,
                EntryKind.RECEIPT,
                user,
                product.container_mg,
                ml=product.container_ml,
                container=container,
                witness=signer,
                detail={"receipt_id": receipt.pk, "invoice": receipt.invoice_number, "held": held},
            )
    return receipt


def _count(value: Any, field: str) -> int:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationError({field: f"{value!r} is not a whole number."}) from None
    if not 0 < n <= MAX_CONTAINERS_PER_RECEIPT:
        raise ValidationError({field: f"Enter 1 to {MAX_CONTAINERS_PER_RECEIPT} containers."})
    return n


def release(*, user: User, clinic: Clinic, receipt: Receipt, reason: str) -> Receipt:
    """A clinic admin releases a held receipt after review: its containers become usable."""
    require(user, clinic, "ledger.investigate")
    same_clinic(receipt.clinic_id, clinic, "receipt")
    reason = text(reason, "reason", min_length=10)
    with transaction.atomic():
        receipt = Receipt.objects.select_for_update().get(pk=receipt.pk)
        if receipt.status != ReceiptStatus.HELD:
            raise ValidationError({"receipt": "This receipt is not held."})
        for container in receipt.containers.select_for_update().order_by("pk"):
            container.status = ContainerStatus.SEALED
            container.save(update_fields=["status"])
            append(clinic, EntryKind.RELEASE, user, rules.ZERO, container=container, reason=reason)
        receipt.status = ReceiptStatus.RELEASED
        receipt.released_by, receipt.released_at, receipt.release_reason = user, timezone.now(), reason
        receipt.save(update_fields=["status", "released_by", "released_at", "release_reason"])
    return receipt


# ----- moves out of stock -----------------------------------------------------------------------


def transfer(*, user: User, clinic: Clinic, container: Container, to: StorageLocation) -> Container:
    """Move a container to another location of the clinic; the mover holds both keys."""
    require(user, clinic, "ledger.draw")
    same_clinic(container.clinic_id, clinic, "container")
    same_clinic(to.clinic_id, clinic, "to")
    with transaction.atomic():
        container = locked_container(container)
        if container.status in CLOSED_STATUSES:
            raise ValidationError(
                {"container": f"{container.label} is {container.get_status_display().lower()}."}
            )
        if container.location_id == to.pk:
            raise ValidationError({"to": f"{container.label} is in {to.name} already."})
        must_hold_key(user, container.location, "container")
        must_hold_key(user, to, "to")
        origin = container.location
        container.location = to
        container.save(update_fields=["location"])
        append(
            clinic,
            EntryKind.TRANSFER,
            user,
            rules.ZERO,
            container=container,
            detail={"from": origin.name, "to": to.name},
        )
    return container


def destroy(
    *,
    user: User,
    clinic: Clinic,
    container: Container,
    reason: str,
    method: str,
    witnesses: tuple[Signature | None, Signature | None],
) -> Container:
    """Destroy what is left of an expired or damaged container, witnessed by two authorised
    employees (the data of DEA Form 41; clinical.md §5 [S97][S98])."""
    require(user, clinic, "ledger.destroy")
    same_clinic(container.clinic_id, clinic, "container")
    reason = text(reason, "reason", min_length=10)
    method = text(method, "method", max_length=200)
    with transaction.atomic():
        container = locked_container(container)
        if container.status in CLOSED_STATUSES and container.balance_mg == 0:
            raise ValidationError({"container": f"{container.label} holds nothing to destroy."})
        first = witness_user(clinic, user, witnesses[0], field="witness")
        second = witness_user(clinic, user, witnesses[1], field="second_witness", others=(first,))
        mg, ml = container.balance_mg, container.balance_ml
        append(
            clinic,
            EntryKind.DESTRUCTION,
            user,
            mg,
            ml=ml,
            container=container,
            witness=first,
            second_witness=second,
            reason=reason,
            detail={"method": method, "expired": container.expires_on < clinic_today(clinic)},
        )
        container.status = ContainerStatus.DESTROYED
        container.save(update_fields=["status"])
    return container


def send_to_reverse_distributor(
    *,
    user: User,
    clinic: Clinic,
    container: Container,
    distributor_name: str,
    distributor_registration: str,
    distributor_address: str,
    shipped_on: Any,
    witness: Signature | None,
) -> Container:
    """Transfer a container to a reverse distributor (for Schedule III-V: the date, the
    distributor and the quantity are recorded; clinical.md §5 [S97][S98])."""
    require(user, clinic, "ledger.destroy")
    same_clinic(container.clinic_id, clinic, "container")
    number = str(distributor_registration or "").strip().upper()
    problem = rules.dea_number_problem(number)
    if problem:
        raise ValidationError({"distributor_registration": problem})
    detail = {
        "distributor": text(distributor_name, "distributor_name", max_length=200),
        "registration": number,
        "address": text(distributor_address, "distributor_address"),
        "shipped_on": a_date(shipped_on, "shipped_on").isoformat(),
    }
    with transaction.atomic():
        container = locked_container(container)
        if container.status in CLOSED_STATUSES:
            raise ValidationError(
                {"container": f"{container.label} is {container.get_status_display().lower()}."}
            )
        signer = witness_user(clinic, user, witness)
        append(
            clinic,
            EntryKind.REVERSE_DISTRIBUTOR,
            user,
            container.balance_mg,
            ml=container.balance_ml,
            container=container,
            witness=signer,
            detail=detail,
        )
        container.status = ContainerStatus.REVERSE_DISTRIBUTED
        container.save(update_fields=["status"])
    return container


def adjust(
    *, user: User, clinic: Clinic, container: Container, mg: Any, reason: str, witness: Signature | None
) -> Container:
    """Change a container's balance by a signed ``mg`` (a count found more or less), with a reason,
    by a clinic admin and a witness. The old entries stay; this one says what changed and why."""
    require(user, clinic, "ledger.adjust")
    same_clinic(container.clinic_id, clinic, "container")
    delta = amount(mg, "mg", signed=True)
    reason = text(reason, "reason", min_length=10)
    with transaction.atomic():
        container = locked_container(container)
        signer = witness_user(clinic, user, witness)
        apply_adjustment(clinic, user, container, delta, witness=signer, reason=reason)
    return container


def apply_adjustment(
    clinic: Clinic,
    user: User,
    container: Container,
    delta: Decimal,
    *,
    witness: User,
    reason: str,
    detail: dict[str, Any] | None = None,
) -> LedgerEntry:
    """The adjustment entry itself, on a container the caller locked, inside its transaction."""
    ml = None if container.product.mg_per_ml is None else rules.q(delta / container.product.mg_per_ml)
    if container.status == ContainerStatus.EMPTY and delta > 0:
        container.status = ContainerStatus.OPEN
    return append(
        clinic,
        EntryKind.ADJUSTMENT,
        user,
        delta,
        ml=ml,
        container=container,
        witness=witness,
        reason=reason,
        detail=detail,
    )


def report_loss(
    *,
    user: User,
    clinic: Clinic,
    kind: str,
    discovered_at: Any,
    quantity_mg: Any,
    description: str,
    container: Container | None = None,
    police_report: str = "",
) -> LossReport:
    """The data of a theft or significant-loss report. With a container, the lost drug leaves its
    balance in the same transaction; without one (drug lost after it was drawn), the report
    records the quantity. The deadlines follow from the discovery (clinical.md §5 [S95][S96])."""
    require(user, clinic, "ledger.investigate")
    if kind not in LossKind.values:
        raise ValidationError({"kind": f"Choose one of {', '.join(LossKind.values)}."})
    if container is not None:
        same_clinic(container.clinic_id, clinic, "container")
    quantity = amount(quantity_mg, "quantity_mg")
    description = text(description, "description", min_length=10)
    # Empty: discovered now; a time typed without a zone is the clinic's.
    if discovered_at in (None, ""):
        discovered_at = timezone.now()
    discovered_at = clinic_datetime(discovered_at, "discovered_at", clinic)
    if discovered_at > timezone.now():
        raise ValidationError({"discovered_at": "The discovery cannot be in the future."})
    local = timezone.localtime(discovered_at, clinic.tz)
    with transaction.atomic():
        ml = None
        if container is not None:
            container = locked_container(container)
            if quantity > container.balance_mg:
                raise ValidationError(
                    {
                        "quantity_mg": f"{container.label} holds {container.balance_mg} mg; "
                        "report what is missing from it."
                    }
                )
            if container.product.mg_per_ml is not None:
                ml = rules.q(quantity / container.product.mg_per_ml)
        report = LossReport.objects.create(
            clinic=clinic,
            kind=kind,
            discovered_at=discovered_at,
            container=container,
            quantity_mg=quantity,
            quantity_ml=ml,
            description=description,
            police_report=text(police_report, "police_report", required=False, max_length=100),
            reported_by=user,
            notice_due_at=rules.next_business_day_end(local),
            form_106_due_on=rules.form_106_due(local.date()),
        )
        if container is not None:
            append(
                clinic,
                EntryKind.LOSS,
                user,
                quantity,
                ml=ml,
                container=container,
                reason=description,
                detail={"loss_report_id": report.pk, "kind": kind},
            )
            if container.balance_mg == 0:
                container.status = ContainerStatus.LOST
                container.save(update_fields=["status"])
        record(
            "ledger.loss_report",
            user=user,
            clinic=clinic,
            obj=report,
            detail={"mg": str(quantity), "kind": kind},
        )
    return report


def record_loss_filing(
    *,
    user: User,
    clinic: Clinic,
    report: LossReport,
    step: str,
    reference: str = "",
    at: datetime | None = None,
) -> LossReport:
    """Record that the written notice was sent (``step="notice"``) or Form 106 filed (``"form_106"``)."""
    require(user, clinic, "ledger.investigate")
    same_clinic(report.clinic_id, clinic, "report")
    at = at or timezone.now()
    with transaction.atomic():
        report = LossReport.objects.select_for_update().get(pk=report.pk)
        if step == "notice":
            if report.notified_at:
                raise ValidationError({"step": "The notice is recorded already."})
            report.notified_at = at
            fields = ["notified_at"]
        elif step == "form_106":
            if report.form_106_filed_at:
                raise ValidationError({"step": "Form 106 is recorded already."})
            report.form_106_filed_at = at
            report.form_106_reference = text(reference, "reference", max_length=60)
            fields = ["form_106_filed_at", "form_106_reference"]
        else:
            raise ValidationError({"step": "Choose notice or form_106."})
        report.save(update_fields=fields)
        record(f"ledger.loss_{step}", user=user, clinic=clinic, obj=report, detail={"reference": reference})
    return report


def expiring(clinic: Clinic, on: date | None = None) -> list[Container]:
    on = on or clinic_today(clinic)
    return list(
        Container.in_clinic(clinic)
        .filter(expires_on__lt=on, balance_mg__gt=0)
        .exclude(status__in=CLOSED_STATUSES)
    )
