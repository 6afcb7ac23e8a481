"""The ledger over the JSON API: stock, a session's drug, drawing and closing out, discrepancies.

For a tablet at the chair or an automated dispensing cabinet's gateway. Each write calls the action
the pages call, under the same permissions (``ledger.view/draw/waste``); a 201 means committed. A
draw carries an ``idempotency_key``: a retry with the same key is answered 200 with the stored
entry. A witness signs by sending their own username and password with the close-out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Query, Router, Status
from pydantic import ConfigDict

from ketaclinic.accounts.api_access import api_access, current_membership
from ketaclinic.audit.actions import record
from ketaclinic.infusions.actions.queries import progress_for
from ketaclinic.infusions.models import Session
from ketaclinic.ledger import actions
from ketaclinic.ledger.actions.sessions import drawn_entries, session_balance
from ketaclinic.ledger.models import (
    CLOSED_STATUSES,
    Container,
    Discrepancy,
    DiscrepancyStatus,
    LedgerEntry,
    SessionReconciliation,
)
from ketaclinic.web import StrictSchema

router = Router(tags=["ledger"])


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _container(c: Container) -> dict[str, Any]:
    return {
        "id": c.pk,
        "label": c.label,
        "product": c.product.label,
        "ndc": c.product.ndc,
        "lot_number": c.lot_number,
        "expires_on": c.expires_on.isoformat(),
        "location": c.location.name,
        "status": c.status,
        "balance_mg": str(c.balance_mg),
        "balance_ml": _s(c.balance_ml),
    }


def _entry(e: LedgerEntry) -> dict[str, Any]:
    return {
        "id": e.pk,
        "seq": e.seq,
        "at": e.at.isoformat(),
        "kind": e.kind,
        "container_id": e.container_id,
        "session_id": e.session_id,
        "mg": str(e.mg),
        "ml": _s(e.ml),
        "balance_mg": _s(e.balance_mg),
        "actor": e.actor_id,
        "witness": e.witness_id,
        "hash": e.hash,
    }


def _reconciliation(r: SessionReconciliation | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "status": r.status,
        "drawn_mg": str(r.drawn_mg),
        "administered_mg": str(r.administered_mg),
        "wasted_mg": str(r.wasted_mg),
        "returned_mg": str(r.returned_mg),
        "unaccounted_mg": str(r.unaccounted_mg),
        "tolerance_mg": str(r.tolerance_mg),
        "reconciled_at": r.reconciled_at.isoformat(),
        "witness": r.witness_id,
    }


class ContainersQuery(StrictSchema):
    all: bool = Field(False, description="include closed containers (empty, destroyed, sent back, lost)")


class DrawIn(StrictSchema):
    model_config = ConfigDict(extra="forbid")

    container_id: int
    ml: Decimal | None = Field(None, description="mL drawn from a vial; leave out for a nasal device")
    idempotency_key: str


class CloseOutIn(StrictSchema):
    model_config = ConfigDict(extra="forbid")

    wasted: Decimal = Field(..., description="mL wasted (vials) or whole devices wasted (nasal)")
    witness_username: str = ""
    witness_password: str = ""
    returned: list[int] = Field(
        default_factory=list, description="ids of unused sealed devices back to stock"
    )
    note: str = ""


@router.get("/ledger/containers", response=list[dict[str, Any]], summary="Containers and their balances")
@api_access("ledger.view")
def list_containers(request: HttpRequest, params: Query[ContainersQuery]) -> Any:
    containers = Container.in_clinic(current_membership(request).clinic)
    if not params.all:
        containers = containers.exclude(status__in=CLOSED_STATUSES)
    return [_container(c) for c in containers.order_by("number")[:2000]]


@router.get("/ledger/sessions/{session_id}", response=dict[str, Any], summary="A session's drug (audited)")
@api_access("ledger.view", load={"session": Session})
def session_drug(request: HttpRequest, session: Session) -> Any:
    m = current_membership(request)
    record("ledger.session_view", user=m.user, clinic=m.clinic, obj=session, patient_id=session.patient_id)
    return _session_answer(session)


def _session_answer(session: Session) -> dict[str, Any]:
    progress = progress_for(session)
    balance = session_balance(session)
    return {
        "session_id": session.pk,
        "state": session.state,
        "drawn_mg": str(balance["drawn_mg"]),
        "in_hand_mg": str(balance["in_hand_mg"]),
        "given_so_far_mg": _s(progress.given_mg if progress else None),
        "draws": [_entry(e) for e in drawn_entries(session)],
        "reconciliation": _reconciliation(SessionReconciliation.objects.filter(session=session).first()),
    }


@router.post(
    "/ledger/sessions/{session_id}/draws",
    response={200: dict[str, Any], 201: dict[str, Any]},
    summary="Draw for the session (idempotent)",
)
@api_access("ledger.draw", load={"session": Session})
def draw(request: HttpRequest, session: Session, payload: DrawIn) -> Any:
    m = current_membership(request)
    container = Container.in_clinic(m.clinic).filter(pk=payload.container_id).first()
    if container is None:
        raise ValidationError({"container_id": "No such container in this clinic."})
    key = payload.idempotency_key.strip()
    if not key:
        raise ValidationError({"idempotency_key": "Every draw needs an idempotency key."})
    known = LedgerEntry.in_clinic(m.clinic).filter(idempotency_key=key).exists()
    entry = actions.draw(
        user=m.user,
        clinic=m.clinic,
        session=session,
        container=container,
        ml=None if payload.ml is None else str(payload.ml),
        idempotency_key=key,
    )
    return Status(200 if known else 201, _entry(entry))


@router.post("/ledger/sessions/{session_id}/close-out", response={201: dict[str, Any]}, summary="Close out")
@api_access("ledger.waste", load={"session": Session})
def close_out(request: HttpRequest, session: Session, payload: CloseOutIn) -> Any:
    m = current_membership(request)
    returned = list(Container.in_clinic(m.clinic).filter(pk__in=payload.returned))
    if len(returned) != len(set(payload.returned)):
        raise ValidationError({"returned": "No such container in this clinic."})
    witness = (
        actions.Signature(payload.witness_username, payload.witness_password)
        if payload.witness_username.strip()
        else None
    )
    actions.close_out(
        user=m.user,
        clinic=m.clinic,
        session=session,
        wasted=str(payload.wasted),
        witness=witness,
        returned=returned,
        note=payload.note,
    )
    return Status(201, _session_answer(session))


@router.get("/ledger/discrepancies", response=list[dict[str, Any]], summary="Open discrepancies")
@api_access("ledger.view")
def discrepancies(request: HttpRequest) -> Any:
    qs = Discrepancy.in_clinic(current_membership(request).clinic).filter(status=DiscrepancyStatus.OPEN)
    return [
        {
            "id": d.pk,
            "kind": d.kind,
            "opened_at": d.opened_at.isoformat(),
            "session_id": d.session_id,
            "container_id": d.container_id,
            "expected_mg": str(d.expected_mg),
            "found_mg": str(d.found_mg),
            "description": d.description,
        }
        for d in qs.order_by("opened_at")[:500]
    ]
