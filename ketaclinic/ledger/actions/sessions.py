"""A session's drug: drawn from a container for the session's order, then closed out once dosing has
ended: administered (computed from the session's dosing events, never typed), wasted (witnessed)
and returned, reconciled against what was drawn. A difference beyond the tolerance opens a
discrepancy by itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.infusions.actions.queries import progress_for
from ketaclinic.infusions.models import Session, SessionState
from ketaclinic.ledger import rules
from ketaclinic.ledger.actions.common import (
    Signature,
    amount,
    append,
    locked_container,
    must_hold_key,
    refused_attempt,
    registration_in_force,
    stored_retry,
    text,
    tolerance_ml,
    usable,
    witness_user,
)
from ketaclinic.ledger.models import (
    Container,
    ContainerStatus,
    Discrepancy,
    DiscrepancyKind,
    EntryKind,
    LedgerEntry,
    ReconciliationStatus,
    SessionReconciliation,
    StockProduct,
)

# A session draws while it is being prepared or runs; it closes out once the drug has stopped.
DRAWABLE = (
    SessionState.SCHEDULED,
    SessionState.CHECKED_IN,
    SessionState.PREDOSE_DONE,
    SessionState.DOSING,
    SessionState.PAUSED,
)
CLOSABLE = (SessionState.RECOVERY, SessionState.DISCHARGED, SessionState.ABORTED)


def _locked_session(session: Session) -> Session:
    return Session.objects.select_for_update(of=("self",)).select_related("dose_order").get(pk=session.pk)


def draw(
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    container: Container,
    ml: Any = None,
    idempotency_key: str = "",
) -> LedgerEntry:
    """Draw ``ml`` from a vial (or take a whole nasal device) for ``session``'s order."""
    require(user, clinic, "ledger.draw")
    same_clinic(session.clinic_id, clinic, "session")
    same_clinic(container.clinic_id, clinic, "container")
    key = str(idempotency_key or "").strip()[:100]
    with transaction.atomic():
        retry = stored_retry(clinic, EntryKind.DRAW, key)
        if retry is not None:
            if retry.session_id != session.pk or retry.container_id != container.pk:
                raise ValidationError({"idempotency_key": "This key was used for another draw."})
            return retry
        registration_in_force(clinic)
        container = locked_container(container)
        session = _locked_session(session)
        if session.state not in DRAWABLE:
            raise ValidationError(
                {
                    "session": f"This session is {session.get_state_display().lower()}: "
                    "drug is drawn before or during dosing."
                }
            )
        order = session.dose_order
        if order is None:
            raise ValidationError({"session": "Link the session's signed dose order before drawing for it."})
        if container.product.product_id != order.product_id:
            raise ValidationError(
                {
                    "container": f"The order is for {order.product}; "
                    f"{container.label} holds {container.product.product}."
                }
            )
        usable(container, clinic)
        must_hold_key(user, container.location, "container")
        if container.product.is_device:
            if ml not in (None, ""):
                raise ValidationError({"ml": "A nasal device is drawn whole: leave the volume empty."})
            mg, volume = container.balance_mg, None
        else:
            volume = amount(ml, "ml")
            mg = rules.q(volume * container.product.mg_per_ml)  # type: ignore[operator]
            if container.balance_ml is not None and volume > container.balance_ml:
                raise ValidationError({"ml": f"{container.label} holds only {container.balance_ml} mL."})
        return append(
            clinic,
            EntryKind.DRAW,
            user,
            mg,
            ml=volume,
            container=container,
            session=session,
            idempotency_key=key,
            detail={"order_id": order.pk, "lot": container.lot_number},
        )


def drawn_entries(session: Session) -> list[LedgerEntry]:
    return list(
        LedgerEntry.objects.filter(session=session, kind=EntryKind.DRAW, reversed_by__isnull=True)
        .select_related("container__product__product")
        .order_by("seq")
    )


def close_out(
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    wasted: Any,
    witness: Signature | None,
    returned: list[Container] | tuple[Container, ...] = (),
    note: str = "",
) -> SessionReconciliation:
    """Account for everything drawn for ``session``: what the pump and devices gave (from the
    dosing events), ``wasted`` (mL for vials, whole devices for nasal), and the sealed devices
    ``returned`` to stock. A waste needs a second person's signature; a refused unwitnessed waste
    is audited as an attempt. Opens a discrepancy when the numbers do not add up."""
    require(user, clinic, "ledger.waste")
    same_clinic(session.clinic_id, clinic, "session")
    for c in returned:
        same_clinic(c.clinic_id, clinic, "returned")
    note = text(note, "note", required=False)
    try:
        return _close_out(
            user=user,
            clinic=clinic,
            session=session,
            wasted=wasted,
            signature=witness,
            returned=list(returned),
            note=note,
        )
    except ValidationError as exc:
        if "witness" in getattr(exc, "error_dict", {}):
            refused_attempt(
                user, clinic, "ledger.waste_refused", session, "; ".join(exc.message_dict["witness"])
            )
        raise


def _wasted_amount(product: StockProduct, wasted: Any) -> tuple[Decimal, Decimal | None]:
    """The waste in mg (and mL for a vial): mL typed for a vial, whole devices for nasal."""
    if product.is_device:
        devices = amount(wasted if wasted not in (None, "") else "0", "wasted", allow_zero=True)
        if devices != devices.to_integral_value():
            raise ValidationError({"wasted": "Count wasted devices as whole devices."})
        return devices * product.container_mg, None
    ml = amount(wasted, "wasted", allow_zero=True)
    return rules.q(ml * product.mg_per_ml), ml  # type: ignore[operator]


def _check_returns(returned: list[Container], draws: list[LedgerEntry]) -> None:
    drawn_containers = {e.container_id for e in draws}
    for c in returned:
        if c.pk not in drawn_containers:
            raise ValidationError({"returned": f"{c.label} was not drawn for this session."})
        if c.status != ContainerStatus.EMPTY or not c.product.is_device:
            raise ValidationError(
                {"returned": f"{c.label} cannot go back: only a sealed, unused device returns to stock."}
            )


def _close_out(
    *,
    user: User,
    clinic: Clinic,
    session: Session,
    wasted: Any,
    signature: Signature | None,
    returned: list[Container],
    note: str,
) -> SessionReconciliation:
    with transaction.atomic():
        returned = [locked_container(c) for c in sorted(returned, key=lambda c: c.pk)]
        session = _locked_session(session)
        if SessionReconciliation.objects.filter(session=session).exists():
            raise ValidationError({"session": "This session's drug is already closed out."})
        if session.state not in CLOSABLE:
            raise ValidationError(
                {
                    "session": f"The session is {session.get_state_display().lower()}: "
                    "close out its drug after dosing has ended."
                }
            )
        draws = drawn_entries(session)
        if not draws:
            raise ValidationError({"session": "Nothing was drawn for this session in the ledger."})
        product = draws[0].container.product  # type: ignore[union-attr]
        wasted_mg, wasted_ml = _wasted_amount(product, wasted)
        _check_returns(returned, draws)
        signed = signature is not None and bool(str(signature.username or "").strip())
        witness = witness_user(clinic, user, signature) if (wasted_mg > 0 or returned or signed) else None
        progress = progress_for(session)
        administered = rules.q(progress.given_mg) if progress is not None else rules.ZERO
        returned_mg = rules.ZERO
        for c in returned:
            drawn_mg = sum((e.mg for e in draws if e.container_id == c.pk), rules.ZERO)
            c.status = ContainerStatus.SEALED
            append(clinic, EntryKind.RETURN, user, drawn_mg, container=c, session=session, witness=witness)
            returned_mg += drawn_mg
        append(
            clinic,
            EntryKind.ADMINISTERED,
            user,
            administered,
            session=session,
            detail={"from": "dosing events", "order_id": session.dose_order_id},
        )
        if wasted_mg > 0:
            append(
                clinic,
                EntryKind.WASTE,
                user,
                wasted_mg,
                ml=wasted_ml,
                session=session,
                witness=witness,
                reason=note,
            )
        drawn = sum((e.mg for e in draws), rules.ZERO)
        balance = rules.SessionBalance(
            drawn_mg=drawn,
            administered_mg=administered,
            wasted_mg=wasted_mg,
            returned_mg=returned_mg,
            tolerance_mg=rules.tolerance_mg(product.mg_per_ml, tolerance_ml()),
        )
        reconciliation = SessionReconciliation.objects.create(
            session=session,
            drawn_mg=balance.drawn_mg,
            administered_mg=balance.administered_mg,
            wasted_mg=balance.wasted_mg,
            returned_mg=balance.returned_mg,
            tolerance_mg=balance.tolerance_mg,
            unaccounted_mg=balance.unaccounted_mg,
            status=ReconciliationStatus.BALANCED if balance.balanced else ReconciliationStatus.DISCREPANCY,
            reconciled_by=user,
            witness=witness,
        )
        if not balance.balanced:
            _open_session_discrepancy(clinic, session, draws[0].actor, balance)
        return reconciliation


def _open_session_discrepancy(
    clinic: Clinic, session: Session, staff: User, balance: rules.SessionBalance
) -> Discrepancy:
    from ketaclinic.audit.actions import record

    accounted = balance.administered_mg + balance.wasted_mg + balance.returned_mg
    if balance.unaccounted_mg > 0:
        what = f"{balance.unaccounted_mg} mg drawn is not accounted for"
    else:
        what = f"{-balance.unaccounted_mg} mg more was given, wasted or returned than was drawn"
    discrepancy = Discrepancy.objects.create(
        clinic=clinic,
        kind=DiscrepancyKind.SESSION,
        session=session,
        staff=staff,
        expected_mg=balance.drawn_mg,
        found_mg=accounted,
        opened_at=timezone.now(),
        description=(
            f"Session {session.pk}: drawn {balance.drawn_mg} mg; administered {balance.administered_mg} mg, "
            f"wasted {balance.wasted_mg} mg, returned {balance.returned_mg} mg: {what} "
            f"(tolerance {balance.tolerance_mg} mg)."
        ),
    )
    record(
        "ledger.discrepancy_opened",
        clinic=clinic,
        obj=discrepancy,
        patient_id=session.patient_id,
        detail=balance.to_dict(),
    )
    return discrepancy


def correct_draw(
    *, user: User, clinic: Clinic, entry: LedgerEntry, reason: str, witness: Signature | None
) -> LedgerEntry:
    """Reverse a draw entered wrongly (the wrong vial, the wrong volume) before the session closes
    out: the drug goes back to the container's balance on a reversing entry, witnessed."""
    require(user, clinic, "ledger.draw")
    same_clinic(entry.clinic_id, clinic, "entry")
    reason = text(reason, "reason", min_length=10)
    with transaction.atomic():
        container = locked_container(entry.container)  # type: ignore[arg-type]
        entry = LedgerEntry.objects.select_for_update().get(pk=entry.pk)
        if entry.kind != EntryKind.DRAW:
            raise ValidationError({"entry": "Only a draw is corrected here."})
        if LedgerEntry.objects.filter(reverses=entry).exists():
            raise ValidationError({"entry": "This draw is already reversed."})
        if SessionReconciliation.objects.filter(session=entry.session).exists():
            raise ValidationError(
                {"entry": "The session's drug is closed out; a clinic admin resolves it as a discrepancy."}
            )
        signer = witness_user(clinic, user, witness)
        if container.status == ContainerStatus.EMPTY:
            container.status = ContainerStatus.OPEN
        return append(
            clinic,
            EntryKind.REVERSAL,
            user,
            entry.mg,
            ml=entry.ml,
            container=container,
            session=entry.session,
            witness=signer,
            reason=reason,
            reverses=entry,
            detail={"reverses_seq": entry.seq},
        )


def session_balance(session: Session) -> dict[str, Decimal]:
    """Drawn and still in hand for a session (for its drug panel)."""
    entries = LedgerEntry.objects.filter(session=session)
    totals: dict[str, Decimal] = {}
    for kind, mg in entries.values_list("kind", "mg"):
        totals[kind] = totals.get(kind, rules.ZERO) + mg
    reversed_draws = sum(
        (e.mg for e in entries.filter(kind=EntryKind.REVERSAL, reverses__kind=EntryKind.DRAW)), rules.ZERO
    )
    drawn = totals.get(EntryKind.DRAW, rules.ZERO) - reversed_draws
    out = drawn - sum(
        (totals.get(k, rules.ZERO) for k in (EntryKind.ADMINISTERED, EntryKind.WASTE, EntryKind.RETURN)),
        rules.ZERO,
    )
    return {"drawn_mg": drawn, "in_hand_mg": out}
