"""What every ledger write shares: the witness's signature, the append to the chain, amounts.

Lock order, everywhere: the container row, then the clinic's ledger head, then the audit head. So
two writers never wait on each other in a circle, and a container's balance is read and written
by one transaction at a time (50 nurses drawing from one vial at once never overdraw it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import require
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit import chain
from ketaclinic.audit.actions import record
from ketaclinic.ledger import rules
from ketaclinic.ledger.models import (
    CLOSED_STATUSES,
    CONTAINER_SIGN,
    HASHED_FIELDS,
    Container,
    ContainerStatus,
    EntryKind,
    LedgerEntry,
    LedgerHead,
    Registration,
    StorageLocation,
)
from ketaclinic.patients.actions import clinic_today, parse_date_flexible

MAX_TEXT = 2000
MIN_REASON = 10  # a reason a reviewer can read: "." or "ok" is not one


@dataclass(frozen=True)
class Signature:
    """A second person's username and password, typed at the actor's side: a witness signs by
    proving who they are, not by being named."""

    username: str
    password: str


def witness_user(
    clinic: Clinic,
    actor: User,
    signature: Signature | None,
    *,
    field: str = "witness",
    permission: str = "ledger.witness",
    others: tuple[User, ...] = (),
) -> User:
    """The witness who signed, if they are a different active person holding ``permission`` in
    ``clinic`` and their password is right; else ``ValidationError`` on ``field``."""
    if signature is None or not str(signature.username or "").strip():
        raise ValidationError({field: "A witness must sign: their username and password."})
    username = str(signature.username).strip()
    user = User.objects.filter(username__iexact=username, is_active=True).first()
    if user is not None and user.is_locked():
        # Locked after repeated failed sign-ins: it signs nothing, as a witness neither.
        raise ValidationError({field: f"{user.username}'s account is locked; another witness signs."})
    if user is None or not user.check_password(str(signature.password or "")):
        raise ValidationError({field: "The witness's username or password is wrong."})
    if user.must_change_password:
        # A password an admin reset is the admin's: it witnesses nothing until the user chose their own.
        raise ValidationError(
            {field: f"{user.username} must choose their own password first; another witness signs."}
        )
    if user.pk == actor.pk:
        raise ValidationError({field: "The witness must be a second person, not you."})
    if any(user.pk == other.pk for other in others):
        raise ValidationError({field: "Each witness must be a different person."})
    try:
        require(user, clinic, permission)
    except PermissionDenied:
        raise ValidationError(
            {field: f"{user.username} may not witness this at {clinic} ({permission})."}
        ) from None
    return user


def text(
    value: Any, field: str, *, required: bool = True, min_length: int = 1, max_length: int = MAX_TEXT
) -> str:
    cleaned = str(value or "").replace("\x00", "").strip()
    if required and len(cleaned) < min_length:
        if min_length > 1:
            raise ValidationError(
                {field: f"Say why, in at least {min_length} characters a reviewer can read."}
            )
        raise ValidationError({field: "This is required."})
    if len(cleaned) > max_length:
        raise ValidationError({field: f"At most {max_length} characters."})
    return cleaned


def amount(value: Any, field: str, *, allow_zero: bool = False, signed: bool = False) -> Decimal:
    """A quantity in mg or mL: a plain decimal (a point, not a comma), at most two places."""
    raw = str(value if value is not None else "").strip()
    if not raw:
        raise ValidationError({field: "Enter an amount."})
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise ValidationError({field: f"{raw!r} is not a number."}) from None
    if not number.is_finite() or abs(number) >= 100000:
        raise ValidationError({field: "Enter an amount below 100,000."})
    if number != number.quantize(rules.CENT):
        raise ValidationError({field: f"Enter at most two decimal places (got {raw})."})
    if number < 0 and not signed:
        raise ValidationError({field: "Enter an amount of 0 or more."})
    if number == 0 and not allow_zero:
        raise ValidationError({field: "Enter an amount above 0."})
    return rules.q(number)


def a_date(value: Any, field: str) -> date:
    """A date as the rest of the project reads one (YYYY-MM-DD or MM/DD/YYYY)."""
    if isinstance(value, date):
        return value
    parsed = parse_date_flexible(str(value or "").strip())
    if parsed is None:
        raise ValidationError({field: f"{value!r} is not a date (YYYY-MM-DD or MM/DD/YYYY)."})
    return parsed


def tolerance_ml() -> Decimal:
    value = Decimal(str(getattr(settings, "KETACLINIC_LEDGER_TOLERANCE_ML", rules.DEFAULT_TOLERANCE_ML)))
    return value.quantize(rules.CENT)


def registration_in_force(clinic: Clinic, on: date | None = None) -> Registration:
    """The newest registration, if it is in force on ``on`` (the clinic's today) and covers Schedule III."""
    on = on or clinic_today(clinic)
    reg = Registration.in_clinic(clinic).first()
    if reg is None:
        raise ValidationError(
            {
                "registration": "This clinic has no DEA registration on file: "
                "a clinic admin adds it under Ledger setup."
            }
        )
    if reg.expires_on < on:
        raise ValidationError(
            {"registration": f"The DEA registration {reg.number} expired on {reg.expires_on}."}
        )
    if not reg.covers_schedule_3:
        raise ValidationError(
            {"registration": f"The DEA registration {reg.number} does not cover Schedule III."}
        )
    return reg


def must_hold_key(user: User, location: StorageLocation, field: str = "location") -> None:
    if not location.keyholders.filter(pk=user.pk).exists():
        raise ValidationError({field: f"You are not a keyholder of {location.name}."})


def locked_container(container: Container) -> Container:
    return (
        Container.objects.select_for_update()
        .select_related("product__product", "location")
        .get(pk=container.pk)
    )


def usable(container: Container, clinic: Clinic, field: str = "container") -> None:
    on = clinic_today(clinic)
    if container.status == ContainerStatus.HELD:
        raise ValidationError({field: f"{container.label} is held: its receipt is under review."})
    if container.status in CLOSED_STATUSES:
        raise ValidationError({field: f"{container.label} is {container.get_status_display().lower()}."})
    if container.expires_on < on:
        raise ValidationError({field: f"{container.label} expired on {container.expires_on}."})


def append(
    clinic: Clinic,
    kind: str,
    actor: User,
    mg: Decimal,
    *,
    ml: Decimal | None = None,
    container: Container | None = None,
    session: Any = None,
    witness: User | None = None,
    second_witness: User | None = None,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    reverses: LedgerEntry | None = None,
    idempotency_key: str = "",
    audit_action: str | None = None,
) -> LedgerEntry:
    """Append one entry to the clinic's chain, moving ``container``'s balance (locked by the
    caller) by the kind's sign, and audit it. Inside the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger.append runs inside the action's transaction")
    mg, ml = rules.q(mg), (None if ml is None else rules.q(ml))
    balance_mg = balance_ml = None
    if container is not None:
        sign = CONTAINER_SIGN.get(EntryKind(kind), 1)  # adjustment, reversal: the amount is signed
        new_mg = container.balance_mg + sign * mg
        if new_mg < 0:
            raise ValidationError(
                {"mg": f"{container.label} holds only {container.balance_mg} mg; this would take {mg} mg."}
            )
        container.balance_mg = new_mg
        if container.balance_ml is not None and ml is not None:
            container.balance_ml = max(rules.ZERO, container.balance_ml + sign * ml)
        if container.balance_mg == 0 and container.status in (ContainerStatus.SEALED, ContainerStatus.OPEN):
            container.status = ContainerStatus.EMPTY
        elif kind == EntryKind.DRAW and container.status == ContainerStatus.SEALED:
            container.status = ContainerStatus.OPEN
        container.save(update_fields=["balance_mg", "balance_ml", "status"])
        balance_mg, balance_ml = container.balance_mg, container.balance_ml
    head, _ = LedgerHead.objects.select_for_update().get_or_create(
        clinic=clinic, defaults={"hash": chain.GENESIS}
    )
    entry = LedgerEntry(
        clinic=clinic,
        seq=head.seq + 1,
        at=timezone.now(),
        kind=kind,
        container=container,
        session=session,
        patient_id=getattr(session, "patient_id", None),
        dose_order_id=getattr(session, "dose_order_id", None),
        actor=actor,
        witness=witness,
        second_witness=second_witness,
        mg=mg,
        ml=ml,
        balance_mg=balance_mg,
        balance_ml=balance_ml,
        reason=reason,
        # Dates and decimals become strings now, so the hash covers exactly what is stored.
        detail=json.loads(json.dumps(detail or {}, cls=DjangoJSONEncoder)),
        idempotency_key=idempotency_key,
        reverses=reverses,
        prev_hash=head.hash,
    )
    entry.hash = chain.entry_hash(entry.chain_fields(), head.hash, HASHED_FIELDS)
    entry.save(force_insert=True)
    head.seq, head.hash = entry.seq, entry.hash
    head.save(update_fields=["seq", "hash"])
    record(
        audit_action or f"ledger.{kind}",
        user=actor,
        clinic=clinic,
        obj=entry,
        patient_id=entry.patient_id,
        detail={
            "seq": entry.seq,
            "mg": str(mg),
            "container": container.label if container is not None else None,
            "witness": witness.username if witness else None,
        },
    )
    return entry


def stored_retry(clinic: Clinic, kind: str, key: str) -> LedgerEntry | None:
    """The entry already stored under ``key`` (a retried request), or None."""
    if not key:
        return None
    stored = LedgerEntry.in_clinic(clinic).filter(idempotency_key=key).first()
    if stored is not None and stored.kind != kind:
        raise ValidationError({"idempotency_key": "This key was used for another kind of entry."})
    return stored


def refused_attempt(actor: User, clinic: Clinic, action: str, obj: Any, reason: str) -> None:
    """Audit a refused attempt (an unwitnessed waste): the refusal changes nothing clinical, but the
    attempt is a diversion signal, so it is kept, in a transaction of its own."""
    with transaction.atomic():
        record(action, user=actor, clinic=clinic, obj=obj, detail={"refused": reason})
