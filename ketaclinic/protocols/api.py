"""Protocols, drug library, treatment plans and dose orders over the JSON API.

A ninja ``Router`` for the lead to mount on ``ketaclinic.api.api`` (``api.add_router("", router)``).
Every operation is wrapped in ``api_access`` (same permissions as the pages) and calls the same
actions as the pages, so limits, overrides, refusals, double checks and audit entries behave
identically. An action's ValidationError (including a hard-limit ``OrderRefused``) becomes a 422
whose ``detail`` names the field or limit kind.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify
from ninja import Field, Query, Router, Status

from ketaclinic.accounts.access import load_scoped
from ketaclinic.accounts.actions import reauthenticate
from ketaclinic.accounts.api_access import api_access, current_membership
from ketaclinic.audit.actions import record
from ketaclinic.patients.models import Patient
from ketaclinic.protocols import actions, catalog, limits
from ketaclinic.protocols.models import (
    DoseOrder,
    DrugLibrary,
    LimitEvent,
    Protocol,
    TreatmentPlan,
)
from ketaclinic.protocols.prediction import predict_draft
from ketaclinic.protocols.queries import order_as_seen
from ketaclinic.web import StrictSchema

router = Router(tags=["protocols"])


class CopyProtocolIn(StrictSchema):
    template: str | None = Field(None, description="Template code (see GET /protocol-templates)")
    protocol_id: int | None = Field(None, description="Or a protocol of this clinic to copy")
    name: str = Field(..., max_length=200)
    product: str | None = Field(None, description="Product code; default as in the source")
    adjustments: dict[str, str] = Field(default_factory=dict, description=", ".join(actions.ADJUSTABLE))
    reason: str = Field("", max_length=300)


class LimitIn(StrictSchema):
    open: bool = False
    soft_min: Decimal | None = None
    hard_min: Decimal | None = None
    soft_max: Decimal | None = None
    hard_max: Decimal | None = None
    source: str = Field("", max_length=300)


class LibraryEntryIn(StrictSchema):
    name: str = Field(..., max_length=200)
    route: str
    product: str | None = None
    limits: dict[str, LimitIn] = Field(..., description="One limit per kind: " + ", ".join(limits.KINDS))
    reason: str = Field(..., max_length=300)


class PlanIn(StrictSchema):
    protocol_id: int
    indication: str
    goal_scale: str = Field(..., description=", ".join(catalog.SCALES))
    response_rule: str = Field(..., description="pct_reduction or points_reduction")
    response_value: Decimal
    sessions_planned: int
    baseline_score: Decimal | None = None
    notes: str = ""
    sign: bool = Field(False, description="Sign at once (prescriber, current screening required)")
    password: str = Field("", description="with sign: the prescriber's own password (re-authentication)")


class SignIn(StrictSchema):
    password: str = Field("", description="the signing prescriber's own password (re-authentication)")


class OrderIn(StrictSchema):
    product: str | None = None
    dose_mg_per_kg: Decimal | None = None
    dose_mg: Decimal | None = Field(None, description="Nasal esketamine: 28, 56 or 84")
    duration_min: Decimal | None = None
    titration_start: Decimal | None = None
    titration_step: Decimal | None = None
    titration_interval: Decimal | None = None
    titration_ceiling: Decimal | None = None
    bolus_mg_per_kg: Decimal | None = None
    scheduled_for: datetime | None = None
    override_reason: str = ""
    supersedes_id: int | None = None
    correction_reason: str = ""
    password: str = Field("", description="the signing prescriber's own password (re-authentication)")

    def dose_data(self) -> dict[str, Any]:
        keys = (
            "product",
            "dose_mg_per_kg",
            "dose_mg",
            "duration_min",
            "titration_start",
            "titration_step",
            "titration_interval",
            "titration_ceiling",
            "bolus_mg_per_kg",
            "scheduled_for",
        )
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


class DoubleCheckIn(StrictSchema):
    weight: Decimal
    weight_unit: str = Field(..., description="kg or lb")
    dose_mg: Decimal
    rate_ml_per_h: Decimal | None = None
    note: str = Field("", max_length=300)


class LimitsQuery(StrictSchema):
    start: date | None = Field(None, alias="from")
    end: date | None = Field(None, alias="to")
    event: str | None = Field(None, description="override or refusal")


# --- protocols and library ---------------------------------------------------------------------


@router.get("/protocol-templates", response=list[dict[str, Any]], summary="Shipped protocol templates")
@api_access("protocols.view")
def list_templates(request: HttpRequest) -> Any:
    return [
        {
            "code": t.code,
            "name": t.name,
            "route": t.route,
            "drug": t.drug,
            "product": t.product_code,
            "library_key": t.library_key,
            "config": t.to_config(),
        }
        for t in catalog.TEMPLATES.values()
    ]


@router.get("/protocols", response=list[dict[str, Any]], summary="This clinic's protocols")
@api_access("protocols.view")
def list_protocols(request: HttpRequest) -> Any:
    m = current_membership(request)
    return [p.to_dict() for p in Protocol.in_clinic(m.clinic).select_related("product")]


@router.get("/protocols/{protocol_id}", response=dict[str, Any], summary="One protocol")
@api_access("protocols.view", load={"protocol": Protocol})
def get_protocol(request: HttpRequest, protocol: Protocol) -> Any:
    return protocol.to_dict()


@router.post("/protocols", response={201: dict[str, Any]}, summary="Copy a template or protocol, adjusted")
@api_access("protocols.manage")
def copy_protocol(request: HttpRequest, payload: CopyProtocolIn) -> Any:
    m = current_membership(request)
    source = None
    if payload.protocol_id is not None:
        source = load_scoped(Protocol, m.clinic, payload.protocol_id)
    proto = actions.copy_protocol(
        m.user,
        m.clinic,
        source_template=payload.template,
        source_protocol=source,
        name=payload.name,
        adjustments=payload.adjustments,
        reason=payload.reason,
        product_code=payload.product,
    )
    return Status(201, proto.to_dict())


def _library_dict(lib: DrugLibrary, *, entries: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": lib.pk,
        "version": lib.version,
        "status": lib.status,
        "based_on_version": lib.based_on.version if lib.based_on_id and lib.based_on else None,
        "created_by": lib.created_by.username,
        "created_at": lib.created_at.isoformat(),
        "reason": lib.reason,
        "reviewed_by": lib.reviewed_by.username if lib.reviewed_by_id and lib.reviewed_by else None,
        "reviewed_at": lib.reviewed_at.isoformat() if lib.reviewed_at else None,
        "review_note": lib.review_note,
        "changes": [c.to_dict() for c in actions.library_changes(lib)],
    }
    if entries:
        out["entries"] = [e.to_dict() for e in lib.entries.select_related("product", "library")]
    return out


@router.get(
    "/library", response=dict[str, Any], summary="The drug library version in force, and any pending change"
)
@api_access("protocols.view")
def get_library(request: HttpRequest) -> Any:
    m = current_membership(request)
    lib = DrugLibrary.current_for(m.clinic)
    pending = DrugLibrary.pending_for(m.clinic)
    out = _library_dict(lib, entries=True) if lib else {"version": None, "entries": []}
    out["pending"] = _library_dict(pending, entries=False) if pending else None
    return out


@router.get("/library/versions/{library_id}", response=dict[str, Any], summary="One library version")
@api_access("protocols.view")
def get_library_version(request: HttpRequest, library_id: int) -> Any:
    m = current_membership(request)
    return _library_dict(load_scoped(DrugLibrary, m.clinic, library_id), entries=True)


class LibraryReviewIn(StrictSchema):
    decision: Literal["approve", "reject"]
    note: str = Field("", max_length=300, description="why; required to reject")
    password: str = Field("", description="to approve: the reviewer's own password (re-authentication)")


@router.post(
    "/library/versions/{library_id}/review",
    response=dict[str, Any],
    summary="Approve (put in force) or reject a proposed version: a second person, never its proposer",
)
@api_access("protocols.approve_library")
def review_library_version(request: HttpRequest, library_id: int, payload: LibraryReviewIn) -> Any:
    m = current_membership(request)
    lib = load_scoped(DrugLibrary, m.clinic, library_id)
    lib = actions.review_library(
        m.user,
        m.clinic,
        lib,
        approve=payload.decision == "approve",
        note=payload.note,
        password=payload.password,
    )
    return _library_dict(lib, entries=False)


@router.post(
    "/library/versions/{library_id}/withdraw", response=dict[str, Any], summary="Withdraw a proposal"
)
@api_access("protocols.manage_library")
def withdraw_library_version(request: HttpRequest, library_id: int) -> Any:
    m = current_membership(request)
    lib = actions.withdraw_library_proposal(m.user, m.clinic, load_scoped(DrugLibrary, m.clinic, library_id))
    return _library_dict(lib, entries=False)


@router.put(
    "/library/entries/{key}",
    response=dict[str, Any],
    summary="Propose adding or changing an entry (the next version, in force once a second person approves)",
)
@api_access("protocols.manage_library")
def put_library_entry(request: HttpRequest, key: str, payload: LibraryEntryIn) -> Any:
    m = current_membership(request)
    data: dict[str, Any] = {}
    for kind, lim in payload.limits.items():
        data[f"{kind}__open"] = "on" if lim.open else ""
        data[f"{kind}__source"] = lim.source
        for bound in limits.BOUND_FIELDS:
            value = getattr(lim, bound)
            data[f"{kind}__{bound}"] = "" if value is None else str(value)
    lib = actions.save_library_entry(
        m.user,
        m.clinic,
        key,
        name=payload.name,
        route=payload.route,
        product_code=payload.product,
        limit_data=data,
        reason=payload.reason,
    )
    out = _library_dict(lib, entries=False)
    out["entry"] = lib.entries.select_related("product", "library").get(key=slugify(key)).to_dict()
    return out


# --- plans -------------------------------------------------------------------------------------


@router.get("/patients/{patient_id}/plans", response=list[dict[str, Any]], summary="A patient's plans")
@api_access("plans.view", load={"patient": Patient})
def list_plans(request: HttpRequest, patient: Patient) -> Any:
    m = current_membership(request)
    actions.audit_read("plans.view_patient", m.user, m.clinic, patient, patient.pk)
    return [p.to_dict() for p in TreatmentPlan.objects.filter(patient=patient).select_related("signed_by")]


@router.post(
    "/patients/{patient_id}/plans", response={201: dict[str, Any]}, summary="Create (and sign) a plan"
)
@api_access("plans.create", load={"patient": Patient})
def create_plan(request: HttpRequest, patient: Patient, payload: PlanIn) -> Any:
    m = current_membership(request)
    if payload.sign:
        reauthenticate(m.user, payload.password, what="signed")
    protocol = load_scoped(Protocol, m.clinic, payload.protocol_id)
    plan = actions.create_plan(
        m.user,
        m.clinic,
        patient,
        protocol=protocol,
        indication=payload.indication,
        goal_scale=payload.goal_scale,
        response_rule=payload.response_rule,
        response_value=payload.response_value,
        sessions_planned=payload.sessions_planned,
        baseline_score=payload.baseline_score,
        notes=payload.notes,
        sign=payload.sign,
    )
    return Status(201, plan.to_dict())


@router.get("/plans/{plan_id}", response=dict[str, Any], summary="One plan (audited)")
@api_access("plans.view", load={"plan": TreatmentPlan})
def get_plan(request: HttpRequest, plan: TreatmentPlan) -> Any:
    m = current_membership(request)
    actions.audit_read("plan.view", m.user, m.clinic, plan, plan.patient_id)
    return plan.to_dict()


@router.post("/plans/{plan_id}/sign", response=dict[str, Any], summary="Sign a draft plan")
@api_access("plans.sign", load={"plan": TreatmentPlan})
def sign_plan(request: HttpRequest, plan: TreatmentPlan, payload: SignIn) -> Any:
    m = current_membership(request)
    reauthenticate(m.user, payload.password, what="signed")
    return actions.sign_plan(m.user, m.clinic, plan).to_dict()


# --- orders ------------------------------------------------------------------------------------


@router.post("/plans/{plan_id}/orders/preview", response=dict[str, Any], summary="Compute, check, predict")
@api_access("orders.create", load={"plan": TreatmentPlan})
def preview_order(request: HttpRequest, plan: TreatmentPlan, payload: OrderIn) -> Any:
    """Nothing is written. Returns the computed order, the limit check and the prediction summary."""
    m = current_membership(request)
    supersedes = None
    if payload.supersedes_id is not None:
        supersedes = load_scoped(DoseOrder, m.clinic, payload.supersedes_id)
    draft = actions.draft_order(m.clinic, plan, payload.dose_data(), supersedes=supersedes)
    pred = predict_draft(draft)
    return {
        "library_version": draft.library.version,
        "session_number": draft.session_number,
        "computation": draft.computation.to_dict(),
        "limit_check": draft.limit_check_json(),
        "refused": draft.check.refused,
        "needs_override": draft.check.needs_override,
        "prediction": pred.summary() if pred.ok else {"error": pred.error},
        "warnings": draft.warnings,
    }


@router.post("/plans/{plan_id}/orders", response={201: dict[str, Any]}, summary="Sign a dose order")
@api_access("orders.sign", load={"plan": TreatmentPlan})
def sign_order(request: HttpRequest, plan: TreatmentPlan, payload: OrderIn) -> Any:
    """A soft-limit breach needs `override_reason`; a hard-limit breach is a 422 naming the limit."""
    m = current_membership(request)
    reauthenticate(m.user, payload.password, what="signed")
    supersedes = None
    if payload.supersedes_id is not None:
        supersedes = load_scoped(DoseOrder, m.clinic, payload.supersedes_id)
    order = actions.sign_order(
        m.user,
        m.clinic,
        plan,
        payload.dose_data(),
        override_reason=payload.override_reason,
        supersedes=supersedes,
        correction_reason=payload.correction_reason,
    )
    return Status(201, order.to_dict())


def _order_out(request: HttpRequest, order: DoseOrder) -> dict[str, Any]:
    return order_as_seen(current_membership(request), order, order.to_dict())


@router.get("/orders/{order_id}", response=dict[str, Any], summary="One dose order (audited)")
@api_access("orders.view", load={"order": DoseOrder})
def get_order(request: HttpRequest, order: DoseOrder) -> Any:
    """For a nurse, the computed numbers stay null until the order passes the double check."""
    m = current_membership(request)
    actions.audit_read("order.view", m.user, m.clinic, order, order.patient_id)
    return _order_out(request, order)


@router.post("/orders/{order_id}/double-check", response=dict[str, Any], summary="Nurse's independent check")
@api_access("orders.verify", load={"order": DoseOrder})
def double_check(request: HttpRequest, order: DoseOrder, payload: DoubleCheckIn) -> Any:
    m = current_membership(request)
    check = actions.verify_order(
        m.user,
        m.clinic,
        order,
        weight_value=payload.weight,
        weight_unit=payload.weight_unit,
        dose_mg=payload.dose_mg,
        rate_ml_per_h=payload.rate_ml_per_h,
        note=payload.note,
    )
    order.refresh_from_db()
    return {"matched": check.matched, "mismatches": check.mismatches, "order_status": order.status}


@router.get("/reports/limits", response=list[dict[str, Any]], summary="Overrides and refusals in a period")
@api_access("reports.limits")
def limits_report(request: HttpRequest, filters: Query[LimitsQuery]) -> Any:
    m = current_membership(request)
    today = timezone.localdate()
    start_d = filters.start or today - timedelta(days=30)
    end_d = filters.end or today
    start = timezone.make_aware(datetime.combine(start_d, time.min))
    end = timezone.make_aware(datetime.combine(end_d + timedelta(days=1), time.min))
    events = LimitEvent.in_clinic(m.clinic).filter(at__gte=start, at__lt=end)
    if filters.event in ("override", "refusal"):
        events = events.filter(event=filters.event)
    record(
        "report.limits_api",
        user=m.user,
        clinic=m.clinic,
        detail={"from": start_d.isoformat(), "to": end_d.isoformat(), "event": filters.event or ""},
    )
    return [
        {
            "at": e.at.isoformat(),
            "event": e.event,
            "user": e.user.username,
            "protocol": e.protocol.name if e.protocol else None,
            "patient_mrn": e.patient.mrn if e.patient else None,
            "order_id": e.order_id,
            "library_version": e.library.version if e.library else None,
            "limit": e.kind,
            "severity": e.severity,
            "value": str(e.value),
            "limit_value": str(e.limit_value),
            "unit": e.unit,
            "message": e.message,
            "reason": e.reason,
        }
        for e in events.select_related("user", "protocol", "patient", "library")
    ]
