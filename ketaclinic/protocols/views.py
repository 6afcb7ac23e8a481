"""Pages of the protocols app: library, protocols, plans, orders, double check, handout, report.

Thin views: read the request, call an action (``actions.py``), render. A ValidationError's
``message_dict`` becomes ``errors`` (shown next to each field by ``_field.html``); the posted
values are re-shown so nothing typed is lost.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, clinic_view, has_permission, load_scoped
from ketaclinic.accounts.actions import reauthenticate
from ketaclinic.patients.models import Indication, Patient, WeightMeasurement
from ketaclinic.protocols import actions, catalog, limits
from ketaclinic.protocols.models import (
    DoseOrder,
    DrugLibrary,
    LibraryStatus,
    OrderStatus,
    Product,
    Protocol,
    ResponseRule,
    TreatmentPlan,
)
from ketaclinic.protocols.prediction import (
    ZONE_COLOURS,
    ZONE_LABELS,
    ZONE_SOURCES,
    predict_draft,
    predict_order,
)
from ketaclinic.web import error_messages, unplaced_to_top


def _order_fields(protocol: Protocol) -> set[str]:
    if protocol.route == "nasal":
        names = {"dose_mg"}
    elif protocol.dose.get("basis") == "titrated":
        names = {
            "duration_min",
            "titration_start",
            "titration_step",
            "titration_interval",
            "titration_ceiling",
        }
        names.add("bolus_mg_per_kg")
    else:
        names = {"dose_mg_per_kg"} | (
            {"duration_min", "bolus_mg_per_kg"} if protocol.route == "iv" else set()
        )
    return names | {"product", "scheduled_for", "override_reason", "correction_reason", "password"}


# ---------------------------------------------------------------------------------------------
# Protocols


@clinic_view("protocols.view")
def protocols_list(request: ClinicRequest) -> HttpResponse:
    protocols = Protocol.in_clinic(request.clinic).select_related("product").order_by("retired_at", "name")
    ctx = {"protocols": protocols, "templates": catalog.TEMPLATES.values()}
    return render(request, "protocols/list.html", ctx)


def _detail_ctx(config: dict[str, Any]) -> dict[str, Any]:
    labels = dict(Indication.choices)
    return {
        "config": config,
        "indications": [labels.get(i, i) for i in config.get("indications", [])],
        "discharge_text": catalog.DISCHARGE_CRITERIA.get(config.get("discharge_criteria", ""), ""),
        "scale_text": catalog.SCALES.get((config.get("response") or {}).get("scale", ""), ""),
    }


@clinic_view("protocols.view", load={"protocol": Protocol})
def protocols_detail(request: ClinicRequest, protocol: Protocol) -> HttpResponse:
    ctx = {"protocol": protocol, "name": protocol.name, **_detail_ctx(protocol.config)}
    return render(request, "protocols/detail.html", ctx)


@clinic_view("protocols.view")
def protocols_template(request: ClinicRequest, code: str) -> HttpResponse:
    tpl = catalog.TEMPLATES.get(code)
    if tpl is None:
        raise Http404("No such template.")
    product = Product.objects.filter(code=tpl.product_code).first()
    ctx = {"template": tpl, "name": tpl.name, "product": product, **_detail_ctx(tpl.to_config())}
    return render(request, "protocols/detail.html", ctx)


ADJUSTABLE_LABELS = {
    "dose_mg_per_kg": ("Dose", "mg/kg"),
    "dose_mg": ("Dose", "mg"),
    "duration_min": ("Infusion duration", "min"),
    "titration_start": ("Titration: starting rate", "mg/kg/h"),
    "titration_step": ("Titration: step", "mg/kg/h"),
    "titration_interval": ("Titration: minutes between steps", "min"),
    "titration_ceiling": ("Titration: ceiling", "mg/kg/h"),
    "weight_window_days": ("Weight must be measured within", "days"),
    "observation_min": ("Minimum observation from start of dosing", "min"),
    "induction_sessions": ("Induction sessions", "sessions"),
    "caution_systolic": ("Caution gate: systolic above", "mmHg"),
    "caution_diastolic": ("Caution gate: diastolic above", "mmHg"),
    "hold_systolic": ("Hold gate: systolic above", "mmHg"),
    "hold_diastolic": ("Hold gate: diastolic above", "mmHg"),
    "discharge_criteria": ("Discharge criteria", ""),
}


@clinic_view("protocols.manage")
def protocols_copy(request: ClinicRequest) -> HttpResponse:
    source_protocol = None
    source_template = request.GET.get("template") or request.POST.get("template") or None
    pid = request.GET.get("protocol") or request.POST.get("protocol")
    if pid:
        source_protocol = load_scoped(Protocol, request.clinic, pid)
        config, drug, name = source_protocol.config, source_protocol.drug, source_protocol.name
    elif source_template in catalog.TEMPLATES:
        tpl = catalog.TEMPLATES[source_template]
        config, drug, name = tpl.to_config(), tpl.drug, tpl.name
    else:
        raise Http404("Choose a template or protocol to copy.")
    current = {f: actions.get_path(config, path) for f, (path, _) in actions.ADJUSTABLE.items()}
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"name": f"{name} (clinic copy)", **current}
    if request.method == "POST":
        values = request.POST.dict()
        try:
            proto = actions.copy_protocol(
                request.user,
                request.clinic,
                source_template=None if source_protocol else source_template,
                source_protocol=source_protocol,
                name=request.POST.get("name", ""),
                adjustments={f: request.POST.get(f) for f in actions.ADJUSTABLE},
                reason=request.POST.get("reason", ""),
                product_code=request.POST.get("product") or None,
            )
        except ValidationError as exc:
            errors = error_messages(exc)
        else:
            messages.success(request, f"Protocol “{proto.name}” created.")
            return redirect("protocols-detail", protocol_id=proto.pk)
    adjustable = [
        {
            "name": f,
            "label": ADJUSTABLE_LABELS[f][0],
            "unit": ADJUSTABLE_LABELS[f][1],
            "help": f"Source value: {current[f]}",
        }
        for f in actions.ADJUSTABLE
        if current[f] is not None
    ]
    ctx = {
        "source_protocol": source_protocol,
        "source_template": source_template,
        "source_name": name,
        "adjustable": adjustable,
        "products": Product.objects.filter(drug=drug, is_active=True),
        "discharge_choices": catalog.DISCHARGE_CRITERIA.items(),
        "values": values,
        "errors": errors,
    }
    return render(request, "protocols/copy.html", ctx, status=400 if errors else 200)


@clinic_view("protocols.manage", load={"protocol": Protocol})
@require_POST
def protocols_retire(request: ClinicRequest, protocol: Protocol) -> HttpResponse:
    try:
        actions.retire_protocol(request.user, request.clinic, protocol)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"“{protocol.name}” retired; existing plans keep it.")
    return redirect("protocols-detail", protocol_id=protocol.pk)


# ---------------------------------------------------------------------------------------------
# Drug library


@clinic_view("protocols.view")
def library_view(request: ClinicRequest, library_id: int | None = None) -> HttpResponse:
    versions = list(
        DrugLibrary.in_clinic(request.clinic).select_related("created_by", "reviewed_by").order_by("-version")
    )
    in_force = next((v for v in versions if v.status == LibraryStatus.APPROVED), None)
    pending = next((v for v in versions if v.status == LibraryStatus.PROPOSED), None)
    if library_id is not None:
        library = next((v for v in versions if v.pk == library_id), None)
        if library is None:
            raise Http404("No such library version in this clinic.")
    else:
        library = in_force
    entries = list(library.entries.select_related("product")) if library else []
    ctx = {
        "library": library,
        "is_current": bool(library and in_force and library.pk == in_force.pk),
        "in_force": in_force,
        "pending": pending,
        "pending_changes": actions.library_changes(pending) if pending else [],
        "may_review": bool(
            pending
            and pending.created_by_id != request.user.pk
            and has_permission(request.membership, "protocols.approve_library")
        ),
        "versions": versions,
        "entries": entries,
        "changes": actions.library_changes(library) if library and library.based_on_id else [],
    }
    return render(request, "protocols/library.html", ctx)


@clinic_view("protocols.approve_library")
@require_POST
def library_review(request: ClinicRequest, library_id: int) -> HttpResponse:
    library = load_scoped(DrugLibrary, request.clinic, library_id)
    approve = request.POST.get("decision") == "approve"
    try:
        actions.review_library(
            request.user,
            request.clinic,
            library,
            approve=approve,
            note=request.POST.get("note", ""),
            password=request.POST.get("password", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if approve:
            messages.success(request, f"Drug library v{library.version} approved: it is in force from now.")
        else:
            messages.success(
                request, f"Drug library v{library.version} rejected; the version in force is unchanged."
            )
    return redirect("protocols-library")


@clinic_view("protocols.manage_library")
@require_POST
def library_withdraw(request: ClinicRequest, library_id: int) -> HttpResponse:
    library = load_scoped(DrugLibrary, request.clinic, library_id)
    try:
        actions.withdraw_library_proposal(request.user, request.clinic, library)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Proposed drug library v{library.version} withdrawn.")
    return redirect("protocols-library")


@clinic_view("protocols.manage_library")
@require_POST
def library_create(request: ClinicRequest) -> HttpResponse:
    try:
        actions.create_default_library(request.user, request.clinic)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Drug library v1 created from the cited defaults.")
    return redirect("protocols-library")


def _entry_values(entry: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"key": entry.key, "name": entry.name, "route": entry.route}
    values["product"] = entry.product.code if entry.product_id else ""
    for kind, lim in entry.limits.items():
        values[f"{kind}__open"] = lim.get("open")
        values[f"{kind}__source"] = lim.get("source", "")
        for bound in limits.BOUND_FIELDS:
            values[f"{kind}__{bound}"] = lim.get(bound) or ""
    return values


BOUND_LABELS = {
    "soft_min": "Soft minimum",
    "hard_min": "Hard minimum",
    "soft_max": "Soft maximum",
    "hard_max": "Hard maximum",
}


@clinic_view("protocols.manage_library")
def library_entry(request: ClinicRequest, key: str | None = None) -> HttpResponse:
    library = DrugLibrary.current_for(request.clinic)
    if library is None:
        return redirect("protocols-library")
    entry = library.entries.filter(key=key).first() if key else None
    if key and entry is None:
        raise Http404("No such entry in the current library.")
    values = _entry_values(entry) if entry else {"route": "iv"}
    errors: dict[str, list[str]] = {}
    pending = DrugLibrary.pending_for(request.clinic)
    if pending is not None:
        messages.error(
            request,
            f"Version {pending.version} awaits a second person's review: "
            "approve, reject or withdraw it first.",
        )
        return redirect("protocols-library")
    if request.method == "POST":
        values = request.POST.dict()
        try:
            lib = actions.save_library_entry(
                request.user,
                request.clinic,
                key or request.POST.get("key", ""),
                name=request.POST.get("name", ""),
                route=request.POST.get("route", ""),
                product_code=request.POST.get("product") or None,
                limit_data=request.POST,
                reason=request.POST.get("reason", ""),
            )
        except ValidationError as exc:
            errors = error_messages(exc)
        else:
            messages.success(
                request,
                f"Drug library v{lib.version} proposed. It takes effect when a second person "
                "(a prescriber or another admin) approves it on this page.",
            )
            return redirect("protocols-library")
    kinds = [
        {
            "key": k,
            "kind": kind,
            "bounds": [
                (BOUND_LABELS[b], f"{k}__{b}") for b in limits.BOUND_FIELDS if b.split("_")[1] in kind.sides
            ],
        }
        for k, kind in limits.KINDS.items()
    ]
    newest = (
        DrugLibrary.in_clinic(request.clinic).order_by("-version").values_list("version", flat=True).first()
    )
    ctx = {
        "library": library,
        "next_version": (newest or 0) + 1,
        "entry": entry,
        "kinds": kinds,
        "routes": Protocol._meta.get_field("route").choices,
        "products": Product.objects.filter(is_active=True),
        "values": values,
        "errors": errors,
    }
    return render(request, "protocols/library_entry.html", ctx, status=400 if errors else 200)


# ---------------------------------------------------------------------------------------------
# Plans


@clinic_view("plans.view", load={"patient": Patient})
def patient_plans(request: ClinicRequest, patient: Patient) -> HttpResponse:
    plans = list(TreatmentPlan.objects.filter(patient=patient).select_related("protocol", "signed_by"))
    orders = list(
        DoseOrder.objects.filter(patient=patient).select_related("product", "signed_by", "verified_by")[:50]
    )
    actions.audit_read("plans.view_patient", request.user, request.clinic, patient, patient.pk)
    screening = patient.latest_screening()
    ctx = {"patient": patient, "plans": plans, "orders": orders, "screening": screening}
    return render(request, "protocols/patient_plans.html", ctx)


@clinic_view("plans.create", load={"patient": Patient})
def plan_new(request: ClinicRequest, patient: Patient) -> HttpResponse:
    protocols = Protocol.in_clinic(request.clinic).filter(retired_at__isnull=True)
    first = protocols.first()
    values: dict[str, Any] = {
        "indication": (patient.indications or [""])[0],
        "goal_scale": "madrs",
        "response_rule": ResponseRule.PCT_REDUCTION,
        "response_value": "50",
        "sessions_planned": (first.config.get("induction_sessions") if first else "") or 6,
    }
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = request.POST.dict()
        proto = protocols.filter(pk=request.POST.get("protocol") or 0).first()
        if proto is None:
            errors = {"protocol": ["Choose a protocol."]}
        else:
            try:
                plan = actions.create_plan(
                    request.user,
                    request.clinic,
                    patient,
                    protocol=proto,
                    indication=request.POST.get("indication", ""),
                    goal_scale=request.POST.get("goal_scale", ""),
                    response_rule=request.POST.get("response_rule", ""),
                    response_value=request.POST.get("response_value"),
                    sessions_planned=request.POST.get("sessions_planned"),
                    baseline_score=request.POST.get("baseline_score") or None,
                    notes=request.POST.get("notes", ""),
                )
            except ValidationError as exc:
                errors = error_messages(exc)
            else:
                return redirect("protocols-plan-detail", plan_id=plan.pk)
    ctx = {
        "patient": patient,
        "protocols": protocols,
        "indications": Indication.choices,
        "scales": catalog.SCALES.items(),
        "rules": ResponseRule.choices,
        "values": values,
        "errors": errors,
        "screening": patient.latest_screening(),
    }
    return render(request, "protocols/plan_form.html", ctx, status=400 if errors else 200)


@clinic_view("plans.view", load={"plan": TreatmentPlan})
def plan_detail(request: ClinicRequest, plan: TreatmentPlan) -> HttpResponse:
    orders = plan.orders.select_related("signed_by", "verified_by").order_by("-scheduled_for")
    actions.audit_read("plan.view", request.user, request.clinic, plan, plan.patient_id)
    screening = plan.patient.latest_screening()
    ctx = {"plan": plan, "patient": plan.patient, "orders": orders, "screening": screening}
    return render(request, "protocols/plan_detail.html", ctx)


@clinic_view("plans.sign", load={"plan": TreatmentPlan})
@require_POST
def plan_sign(request: ClinicRequest, plan: TreatmentPlan) -> HttpResponse:
    try:
        reauthenticate(request.user, request.POST.get("password", ""), what="signed")
        actions.sign_plan(request.user, request.clinic, plan)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Treatment plan signed.")
    return redirect("protocols-plan-detail", plan_id=plan.pk)


# ---------------------------------------------------------------------------------------------
# Orders

ORDER_FIELDS = (
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


def _order_data(request: ClinicRequest) -> dict[str, Any]:
    data = {f: request.POST.get(f, "") for f in ORDER_FIELDS}
    if data["scheduled_for"]:
        data["scheduled_for"] = data["scheduled_for"].replace("T", " ")
    return data


def _preview_ctx(
    request: ClinicRequest, plan: TreatmentPlan, data: dict[str, Any], supersedes: Any
) -> dict[str, Any]:
    """Compute, check and predict without writing; errors are part of the context."""
    try:
        draft = actions.draft_order(request.clinic, plan, data, supersedes=supersedes)
    except ValidationError as exc:
        return {"preview_errors": error_messages(exc), "draft": None}
    pred = predict_draft(draft)
    return {"draft": draft, "pred": pred, "zone_key": _zone_key(pred), "preview_errors": {}}


def _zone_key(pred: Any) -> list[dict[str, str]]:
    used = set(pred.zones) if pred.ok else set()
    return [
        {"key": k, "label": ZONE_LABELS[k], "colour": ZONE_COLOURS[k], "source": ZONE_SOURCES[k]}
        for k in ZONE_LABELS
        if k in used
    ]


@clinic_view("orders.create", load={"plan": TreatmentPlan})
def order_new(request: ClinicRequest, plan: TreatmentPlan) -> HttpResponse:
    supersedes = None
    corrects = request.GET.get("corrects") or request.POST.get("corrects")
    if corrects:
        supersedes = load_scoped(DoseOrder, request.clinic, corrects)
    if request.method == "POST":
        data = _order_data(request)
    else:
        data = actions.order_defaults(plan)
        if supersedes is not None:
            data["scheduled_for"] = timezone.localtime(supersedes.scheduled_for).strftime("%Y-%m-%dT%H:%M")
        else:
            data["scheduled_for"] = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
        actions.audit_read("order.compose", request.user, request.clinic, plan, plan.patient_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and request.POST.get("action") == "sign":
        if not has_permission(request.membership, "orders.sign"):
            raise Http404
        try:
            reauthenticate(request.user, request.POST.get("password", ""), what="signed")
            order = actions.sign_order(
                request.user,
                request.clinic,
                plan,
                data,
                override_reason=request.POST.get("override_reason", ""),
                supersedes=supersedes,
                correction_reason=request.POST.get("correction_reason", ""),
            )
        except ValidationError as exc:
            errors = unplaced_to_top(error_messages(exc), _order_fields(plan.protocol))
        else:
            messages.success(request, f"Order signed: {order.dose_mg} mg. A nurse double-checks it next.")
            return redirect("protocols-order-detail", order_id=order.pk)
    values = dict(data)
    values["scheduled_for"] = str(values.get("scheduled_for") or "").replace(" ", "T")[:16]
    values["override_reason"] = request.POST.get("override_reason", "")
    values["correction_reason"] = request.POST.get("correction_reason", "")
    ctx = {
        "plan": plan,
        "patient": plan.patient,
        "protocol": plan.protocol,
        "supersedes": supersedes,
        "products": Product.objects.filter(drug=plan.protocol.drug, is_active=True),
        "weight": WeightMeasurement.current_for(plan.patient),
        "values": values,
        "errors": errors,
        **_preview_ctx(request, plan, data, supersedes),
    }
    return render(request, "protocols/order_form.html", ctx, status=400 if errors else 200)


@clinic_view("orders.create", load={"plan": TreatmentPlan})
@require_POST
def order_preview(request: ClinicRequest, plan: TreatmentPlan) -> HttpResponse:
    supersedes = None
    if request.POST.get("corrects"):
        supersedes = load_scoped(DoseOrder, request.clinic, request.POST["corrects"])
    ctx = {"plan": plan, **_preview_ctx(request, plan, _order_data(request), supersedes)}
    return render(request, "protocols/_order_preview.html", ctx)


@clinic_view("orders.view", load={"order": DoseOrder})
def order_detail(request: ClinicRequest, order: DoseOrder) -> HttpResponse:
    actions.audit_read("order.view", request.user, request.clinic, order, order.patient_id)
    can_verify = has_permission(request.membership, "orders.verify")
    # Independence: a nurse who may double-check does not see the numbers before checking.
    hide = can_verify and order.status in (OrderStatus.SIGNED, OrderStatus.BLOCKED)
    ctx = {
        "order": order,
        "patient": order.patient,
        "plan": order.plan,
        "hide_numbers": hide,
        "checks": order.double_checks.select_related("checked_by"),
        "events": order.limit_events.all(),
        "can_verify": can_verify and order.status in (OrderStatus.SIGNED, OrderStatus.BLOCKED),
        "successor": getattr(order, "superseded_by", None)
        if order.status == OrderStatus.SUPERSEDED
        else None,
    }
    return render(request, "protocols/order_detail.html", ctx)


@clinic_view("orders.verify", load={"order": DoseOrder})
def order_verify(request: ClinicRequest, order: DoseOrder) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"weight_unit": order.weight_entered_unit}
    result = None
    if request.method == "POST":
        values = request.POST.dict()
        try:
            result = actions.verify_order(
                request.user,
                request.clinic,
                order,
                weight_value=request.POST.get("weight"),
                weight_unit=request.POST.get("weight_unit", ""),
                dose_mg=request.POST.get("dose_mg"),
                rate_ml_per_h=request.POST.get("rate_ml_per_h"),
                note=request.POST.get("note", ""),
            )
        except ValidationError as exc:
            errors = error_messages(exc)
        else:
            if result.matched:
                messages.success(request, "Double check matches: the order is verified.")
                return redirect("protocols-order-detail", order_id=order.pk)
            order.refresh_from_db()
    else:
        actions.audit_read("order.view_for_check", request.user, request.clinic, order, order.patient_id)
    ctx = {
        "order": order,
        "patient": order.patient,
        "plan": order.plan,
        "values": values,
        "errors": errors,
        "result": result,
    }
    status = 400 if errors else (409 if result is not None and not result.matched else 200)
    return render(request, "protocols/order_verify.html", ctx, status=status)


@clinic_view("orders.handout", load={"order": DoseOrder})
def order_expect(request: ClinicRequest, order: DoseOrder) -> HttpResponse:
    actions.audit_read("order.handout", request.user, request.clinic, order, order.patient_id)
    patient = order.patient
    pred = predict_order(order)
    config = order.protocol_snapshot.get("config", {})
    ctx = {
        "order": order,
        "patient": patient,
        "pred": pred,
        "zone_key": _zone_key(pred),
        "config": config,
        "observation_min": config.get("observation_min", 120),
        "dosing_min": int(order.duration_min)
        if order.duration_min
        else (5 * ((order.devices or 1) - 1) or 1),
    }
    return render(request, "protocols/expect.html", ctx)


@clinic_view("orders.view")
def orders_list(request: ClinicRequest) -> HttpResponse:
    status = request.GET.get("status", "pending")
    qs = DoseOrder.in_clinic(request.clinic).select_related("patient", "product", "signed_by", "verified_by")
    if status == "pending":
        qs = qs.filter(status__in=[OrderStatus.SIGNED, OrderStatus.BLOCKED])
    ctx = {"orders": qs.order_by("scheduled_for")[:200], "status": status}
    return render(request, "protocols/orders_list.html", ctx)
