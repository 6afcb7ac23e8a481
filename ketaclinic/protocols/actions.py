"""Every write of the protocols app: check role, clinic and invariants, write once, audit.

Actions take plain values (user, clinic, ids or model instances, strings or Decimals) so the HTML
views and the JSON API call the same code. Bad input raises ``django.core.exceptions.ValidationError``
with a dict keyed by the field it concerns, and changes nothing. The one deliberate exception: a
hard-limit refusal is itself recorded (``LimitEvent`` + audit entry) before ``OrderRefused`` is raised,
because the limits report must show every refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.clinic_time import clinic_datetime
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.patients.models import Indication, Patient, WeightMeasurement
from ketaclinic.protocols import catalog, dose_calc, limits
from ketaclinic.protocols.models import (
    DoseOrder,
    DoubleCheck,
    DrugLibrary,
    LibraryEntry,
    LimitEvent,
    LimitEventKind,
    OrderStatus,
    PlanStatus,
    Product,
    Protocol,
    ResponseRule,
    TreatmentPlan,
)
from ketaclinic.protocols.units import as_decimal, weight_to_kg


class OrderRefused(ValidationError):
    """A hard limit was crossed. ``breaches`` holds the ``limits.Breach`` objects; nothing was ordered."""

    def __init__(self, breaches: tuple[limits.Breach, ...]) -> None:
        self.breaches = breaches
        super().__init__({b.kind: [b.message] for b in breaches})


def _dec(data: Mapping[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    value = data.get(name)
    if value in (None, ""):
        if required:
            raise ValidationError({name: ["Enter a number."]})
        return None
    try:
        return as_decimal(value, name)
    except ValueError as exc:
        raise ValidationError({name: [str(exc).split(": ", 1)[-1]]}) from None


# ---------------------------------------------------------------------------------------------
# Drug library


def ensure_products() -> dict[str, Product]:
    """The shared catalogue (seeded by migration 0002; re-created if a test flush removed it)."""
    products = {p.code: p for p in Product.objects.all()}
    for spec in catalog.PRODUCTS:
        if spec["code"] not in products:
            fields = {k: v for k, v in spec.items() if k != "code"}
            products[spec["code"]], _ = Product.objects.get_or_create(code=spec["code"], defaults=fields)
    return products


def create_default_library(user: User, clinic: Clinic, request: HttpRequest | None = None) -> DrugLibrary:
    """Version 1 of a clinic's library from ``catalog.DEFAULT_LIBRARY`` (cited defaults)."""
    require(user, clinic, "protocols.manage_library")
    if DrugLibrary.objects.filter(clinic=clinic).exists():
        raise ValidationError({"library": ["This clinic already has a drug library; edit it instead."]})
    products = ensure_products()
    with transaction.atomic():
        lib = DrugLibrary.objects.create(
            clinic=clinic, version=1, created_by=user, reason="Initial library from the cited defaults"
        )
        for key, spec in catalog.DEFAULT_LIBRARY.items():
            LibraryEntry.objects.create(
                library=lib,
                key=key,
                name=spec["name"],
                route=spec["route"],
                product=products.get(spec["product_code"]),
                limits={k: lim.to_dict() for k, lim in spec["limits"].items()},
            )
        record("library.create", user=user, clinic=clinic, obj=lib, detail={"version": 1}, request=request)
    return lib


def parse_entry_limits(data: Mapping[str, Any]) -> dict[str, limits.LimitDict]:
    """Read form-style limit fields ``<kind>__<bound>`` and ``<kind>__open``; ValidationError per field."""
    out: dict[str, limits.LimitDict] = {}
    errors: dict[str, list[str]] = {}
    for key, kind in limits.KINDS.items():
        is_open = str(data.get(f"{key}__open", "")).lower() in ("1", "true", "on", "yes")
        bounds: dict[str, Decimal | None] = {}
        for bound in limits.BOUND_FIELDS:
            fname = f"{key}__{bound}"
            try:
                bounds[bound] = _dec(data, fname, required=False)
            except ValidationError as exc:
                errors.setdefault(fname, []).extend(exc.message_dict[fname])
        lim = limits.Limit(
            **bounds, is_open=is_open, source=str(data.get(f"{key}__source", "")).strip()[:300]
        )
        for msg in limits.validate_limit(key, lim):
            field_name = msg.split(":", 1)[0]
            fname = field_name.replace(".", "__") if "." in field_name else f"{key}__open"
            errors.setdefault(fname, []).append(f"{kind.label}: {msg.split(': ', 1)[1]}")
        out[key] = lim.to_dict()
    if errors:
        raise ValidationError(errors)
    return out


def save_library_entry(
    user: User,
    clinic: Clinic,
    key: str,
    *,
    name: str,
    route: str,
    product_code: str | None,
    limit_data: Mapping[str, Any],
    reason: str,
    request: HttpRequest | None = None,
) -> DrugLibrary:
    """Add or change one entry by writing the next library version (all other entries copied)."""
    require(user, clinic, "protocols.manage_library")
    errors: dict[str, list[str]] = {}
    key = slugify(key or "")
    if not key:
        errors["key"] = ["Give the entry a key (letters, digits, hyphens), e.g. iv-depression."]
    if not (name or "").strip():
        errors["name"] = ["Name the entry."]
    if route not in dose_calc.ROUTES:
        errors["route"] = [f"Choose one of {', '.join(dose_calc.ROUTES)}."]
    if not (reason or "").strip():
        errors["reason"] = ["Say why the library changes; the reason is kept with the new version."]
    product = None
    if product_code:
        product = Product.objects.filter(code=product_code, is_active=True).first()
        if product is None:
            errors["product"] = [f"No product {product_code!r}."]
    try:
        parsed = parse_entry_limits(limit_data)
    except ValidationError as exc:
        for k, v in exc.message_dict.items():
            errors.setdefault(k, []).extend(v)
        parsed = {}
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        current = DrugLibrary.objects.select_for_update().filter(clinic=clinic).order_by("-version").first()
        version = (current.version + 1) if current else 1
        lib = DrugLibrary.objects.create(
            clinic=clinic, version=version, created_by=user, reason=reason.strip(), based_on=current
        )
        before: dict[str, Any] | None = None
        if current is not None:
            for entry in current.entries.all():
                if entry.key == key:
                    before = entry.limits
                    continue
                LibraryEntry.objects.create(
                    library=lib,
                    key=entry.key,
                    name=entry.name,
                    route=entry.route,
                    product=entry.product,
                    limits=entry.limits,
                )
        LibraryEntry.objects.create(
            library=lib, key=key, name=name.strip(), route=route, product=product, limits=parsed
        )
        changed = {
            k: {"from": (before or {}).get(k), "to": v}
            for k, v in parsed.items()
            if (before or {}).get(k) != v
        }
        record(
            "library.edit",
            user=user,
            clinic=clinic,
            obj=lib,
            detail={"version": version, "entry": key, "reason": reason.strip(), "changed": changed},
            request=request,
        )
    return lib


# ---------------------------------------------------------------------------------------------
# Protocols

# Fields a clinic may adjust when it copies a template or protocol: name -> (config path, kind).
ADJUSTABLE = {
    "dose_mg_per_kg": (("dose", "dose_mg_per_kg"), "decimal"),
    "dose_mg": (("dose", "dose_mg"), "decimal"),
    "duration_min": (("dose", "duration_min"), "decimal"),
    "titration_start": (("titration", "start_mg_per_kg_per_h"), "decimal"),
    "titration_step": (("titration", "step_mg_per_kg_per_h"), "decimal"),
    "titration_interval": (("titration", "interval_min"), "decimal"),
    "titration_ceiling": (("titration", "ceiling_mg_per_kg_per_h"), "decimal"),
    "weight_window_days": (("weight_window_days",), "int"),
    "observation_min": (("observation_min",), "int"),
    "induction_sessions": (("induction_sessions",), "int"),
    "caution_systolic": (("gates", 0, "systolic_above"), "int"),
    "caution_diastolic": (("gates", 0, "diastolic_above"), "int"),
    "hold_systolic": (("gates", 1, "systolic_above"), "int"),
    "hold_diastolic": (("gates", 1, "diastolic_above"), "int"),
    "discharge_criteria": (("discharge_criteria",), "choice"),
}


def _get_path(config: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if config is None:
            return None
        try:
            config = config[part]
        except (KeyError, IndexError, TypeError):
            return None
    return config


def _set_path(config: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        config = config[part]
    config[path[-1]] = value


def copy_protocol(  # noqa: PLR0912, PLR0915 - every field is checked and all errors reported together
    user: User,
    clinic: Clinic,
    *,
    source_template: str | None = None,
    source_protocol: Protocol | None = None,
    name: str,
    adjustments: Mapping[str, Any] | None = None,
    reason: str = "",
    product_code: str | None = None,
    request: HttpRequest | None = None,
) -> Protocol:
    """A new clinic protocol copied from a template or a protocol, with adjustments and a reason."""
    require(user, clinic, "protocols.manage")
    if source_protocol is not None:
        same_clinic(source_protocol.clinic_id, clinic, "source")
        config = _deepcopy(source_protocol.config)
        base = {
            "template_code": source_protocol.template_code,
            "route": source_protocol.route,
            "drug": source_protocol.drug,
            "product": source_protocol.product,
            "library_key": source_protocol.library_key,
        }
    elif source_template in catalog.TEMPLATES:
        tpl = catalog.TEMPLATES[source_template]
        config = tpl.to_config()
        base = {
            "template_code": tpl.code,
            "route": tpl.route,
            "drug": tpl.drug,
            "product": ensure_products()[tpl.product_code],
            "library_key": tpl.library_key,
        }
    else:
        raise ValidationError({"source": ["Choose a template or a protocol to copy."]})
    errors: dict[str, list[str]] = {}
    if not (name or "").strip():
        errors["name"] = ["Name the protocol."]
    if product_code:
        product = Product.objects.filter(code=product_code, is_active=True, drug=base["drug"]).first()
        if product is None:
            errors["product"] = [f"Choose a {base['drug']} product."]
        else:
            base["product"] = product
    changes = []
    for fname, raw in (adjustments or {}).items():
        if fname not in ADJUSTABLE or raw in (None, ""):
            continue
        path, kind = ADJUSTABLE[fname]
        current = _get_path(config, path)
        if current is None and path[0] in ("titration", "dose", "gates"):
            errors[fname] = ["This protocol has no such setting."]
            continue
        try:
            value: Any
            if kind == "decimal":
                value = as_decimal(raw, fname)
                if value <= 0:
                    raise ValueError(f"{fname}: must be greater than 0.")
                value = str(value)
            elif kind == "int":
                value = int(str(raw))
                if value <= 0:
                    raise ValueError(f"{fname}: must be greater than 0.")
            else:
                value = str(raw)
                if fname == "discharge_criteria" and value not in catalog.DISCHARGE_CRITERIA:
                    raise ValueError(f"{fname}: choose one of {', '.join(catalog.DISCHARGE_CRITERIA)}.")
        except ValueError as exc:
            errors[fname] = [str(exc).split(": ", 1)[-1]]
            continue
        if str(current) != str(value):
            _set_path(config, path, value)
            changes.append({"field": fname, "from": current, "to": value})
    if changes and not (reason or "").strip():
        errors["reason"] = ["Say why the defaults were adjusted; the reason is shown with the protocol."]
    if errors:
        raise ValidationError(errors)
    if changes:
        config.setdefault("flags", []).append(
            "Adjusted by the clinic: " + ", ".join(c["field"] for c in changes) + f" ({reason.strip()})."
        )
    code = _unique_code(clinic, slugify(name)[:70] or str(base["template_code"]))
    with transaction.atomic():
        proto = Protocol.objects.create(
            clinic=clinic,
            code=code,
            name=name.strip(),
            copied_from=source_protocol,
            config=config,
            adjustments=changes,
            adjustment_reason=(reason or "").strip(),
            created_by=user,
            **base,
        )
        record(
            "protocol.copy",
            user=user,
            clinic=clinic,
            obj=proto,
            detail={"from": source_protocol.pk if source_protocol else source_template, "changes": changes},
            request=request,
        )
    return proto


def _deepcopy(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


def _unique_code(clinic: Clinic, base: str) -> str:
    code, n = base, 2
    while Protocol.objects.filter(clinic=clinic, code=code).exists():
        code = f"{base}-{n}"
        n += 1
    return code


def retire_protocol(
    user: User, clinic: Clinic, protocol: Protocol, request: HttpRequest | None = None
) -> Protocol:
    require(user, clinic, "protocols.manage")
    same_clinic(protocol.clinic_id, clinic, "protocol")
    if protocol.retired_at is not None:
        raise ValidationError({"protocol": ["This protocol is already retired."]})
    with transaction.atomic():
        protocol.retired_at = timezone.now()
        protocol.save(update_fields=["retired_at"])
        record("protocol.retire", user=user, clinic=clinic, obj=protocol, request=request)
    return protocol


# ---------------------------------------------------------------------------------------------
# Treatment plans


def create_plan(  # noqa: PLR0912 - every field is checked and all errors reported together
    user: User,
    clinic: Clinic,
    patient: Patient,
    *,
    protocol: Protocol,
    indication: str,
    goal_scale: str,
    response_rule: str,
    response_value: Any,
    sessions_planned: Any,
    baseline_score: Any = None,
    notes: str = "",
    sign: bool = False,
    request: HttpRequest | None = None,
) -> TreatmentPlan:
    """A draft plan (or a signed one when ``sign``): the patient, protocol, indication and goals."""
    require(user, clinic, "plans.create")
    same_clinic(patient.clinic_id, clinic, "patient")
    same_clinic(protocol.clinic_id, clinic, "protocol")
    errors: dict[str, list[str]] = {}
    if not protocol.is_active:
        errors["protocol"] = ["This protocol is retired; choose an active one."]
    if indication not in Indication.values:
        errors["indication"] = ["Choose an indication."]
    elif indication not in protocol.config.get("indications", []):
        allowed = ", ".join(dict(Indication.choices)[i] for i in protocol.config.get("indications", []))
        errors["indication"] = [f"This protocol is for: {allowed or 'no indication set'}."]
    if goal_scale not in catalog.SCALES:
        errors["goal_scale"] = [f"Choose one of {', '.join(catalog.SCALES)}."]
    if response_rule not in ResponseRule.values:
        errors["response_rule"] = ["Choose how response is defined."]
    value = baseline = None
    try:
        value = _dec({"response_value": response_value}, "response_value")
        assert value is not None  # noqa: S101
        if value <= 0 or (response_rule == ResponseRule.PCT_REDUCTION and value > 100):
            errors["response_value"] = ["Give a reduction above 0 (and at most 100 for a percentage)."]
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        baseline = _dec({"baseline_score": baseline_score}, "baseline_score", required=False)
        if baseline is not None and baseline < 0:
            errors["baseline_score"] = ["A score is not negative."]
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        sessions = int(str(sessions_planned))
        if not 1 <= sessions <= 100:
            raise ValueError
    except (TypeError, ValueError):
        errors["sessions_planned"] = ["Give a whole number of sessions from 1 to 100."]
        sessions = 0
    if errors or value is None:
        raise ValidationError(errors)
    with transaction.atomic():
        plan = TreatmentPlan.objects.create(
            patient=patient,
            protocol=protocol,
            indication=indication,
            goal_scale=goal_scale,
            response_rule=response_rule,
            response_value=value,
            baseline_score=baseline,
            sessions_planned=sessions,
            notes=notes or "",
            created_by=user,
        )
        record(
            "plan.create",
            user=user,
            clinic=clinic,
            obj=plan,
            patient_id=patient.pk,
            detail=plan.to_dict(),
            request=request,
        )
        if sign:
            plan = sign_plan(user, clinic, plan, request=request)
    return plan


def sign_plan(
    user: User, clinic: Clinic, plan: TreatmentPlan, request: HttpRequest | None = None
) -> TreatmentPlan:
    """Sign a draft plan. Only a prescriber, and only with a current eligibility screening."""
    require(user, clinic, "plans.sign")
    same_clinic(plan.patient.clinic_id, clinic, "plan")
    with transaction.atomic():
        plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
        if plan.status != PlanStatus.DRAFT:
            raise ValidationError({"status": ["This plan is already signed; a signed plan cannot change."]})
        screening = plan.patient.latest_screening()
        if screening is None:
            raise ValidationError(
                {"screening": ["The patient has no signed eligibility screening; screen them first."]}
            )
        if not screening.is_current():
            code, text = screening.status()
            why = "the decision was 'not eligible'" if code == "current" else text
            raise ValidationError({"screening": [f"The eligibility screening is not current: {why}"]})
        plan.status = PlanStatus.SIGNED
        plan.screening = screening
        plan.signed_by = user
        plan.signed_at = timezone.now()
        plan.save(update_fields=["status", "screening", "signed_by", "signed_at"])
        record(
            "plan.sign",
            user=user,
            clinic=clinic,
            obj=plan,
            patient_id=plan.patient_id,
            detail={"screening_id": screening.pk},
            request=request,
        )
    return plan


# ---------------------------------------------------------------------------------------------
# Dose orders


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
            dose_kwargs["dose_mg"] = _dec(data, "dose_mg")
        elif basis == "titrated":
            dose_kwargs["duration_min"] = _dec(data, "duration_min")
            dose_kwargs["titration"] = dose_calc.Titration(
                start_mg_per_kg_per_h=_dec(data, "titration_start"),  # type: ignore[arg-type]
                step_mg_per_kg_per_h=_dec(data, "titration_step"),  # type: ignore[arg-type]
                interval_min=_dec(data, "titration_interval"),  # type: ignore[arg-type]
                ceiling_mg_per_kg_per_h=_dec(data, "titration_ceiling"),  # type: ignore[arg-type]
            )
        else:
            dose_kwargs["dose_mg_per_kg"] = _dec(data, "dose_mg_per_kg")
            if proto.route == "iv":
                dose_kwargs["duration_min"] = _dec(data, "duration_min")
        if proto.route == "iv":
            dose_kwargs["bolus_mg_per_kg"] = _dec(data, "bolus_mg_per_kg", required=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    request = dose_calc.DoseRequest(
        route=proto.route,  # type: ignore[arg-type]
        weight_kg=weight.weight_kg,
        conc_base_mg_per_ml=product.base_mg_per_ml(),
        drug=proto.drug,  # type: ignore[arg-type]
        **dose_kwargs,
    )
    try:
        comp = dose_calc.compute(request)
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
    for b in breaches:
        LimitEvent.objects.create(
            clinic=clinic,
            user=user,
            event=event,
            patient=draft.plan.patient,
            protocol=draft.plan.protocol,
            library=draft.library,
            order=order,
            kind=b.kind,
            severity=b.severity,
            limit_value=b.limit,
            value=b.value,
            unit=b.unit,
            message=b.message[:300],
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
    request: HttpRequest | None = None,
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
    draft = draft_order(clinic, plan, data, supersedes=supersedes)
    if draft.check.refused:
        with transaction.atomic():
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
                request=request,
            )
        raise OrderRefused(draft.check.hard)
    reason = (override_reason or "").strip()
    if draft.check.needs_override and not reason:
        raise ValidationError(
            {
                "override_reason": [
                    "Outside a soft limit: "
                    + " ".join(b.message for b in draft.check.soft)
                    + " Give the clinical reason to override."
                ]
            }
        )
    from ketaclinic.protocols.prediction import predict_draft

    patient = plan.patient
    pred = predict_draft(draft)
    comp = draft.computation
    with transaction.atomic():
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
            request=request,
        )
    return order


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
    request: HttpRequest | None = None,
) -> DoubleCheck:
    """The nurse's independent double check. A mismatch blocks the order until a check matches."""
    require(user, clinic, "orders.verify")
    same_clinic(order.patient.clinic_id, clinic, "order")
    if order.signed_by_id == user.pk:
        raise PermissionDenied("The double check must be done by someone other than the person who signed.")
    errors: dict[str, list[str]] = {}
    weight_kg = entered_weight = entered_dose = entered_rate = None
    try:
        entered_weight = _dec({"weight": weight_value}, "weight")
        assert entered_weight is not None  # noqa: S101
        weight_kg = weight_to_kg(entered_weight, weight_unit)
        if weight_kg <= 0:
            errors["weight"] = ["Weight must be greater than 0."]
    except ValidationError as exc:
        errors.update(exc.message_dict)
    except ValueError:
        errors["weight_unit"] = ["Choose kg or lb."]
    try:
        entered_dose = _dec({"dose_mg": dose_mg}, "dose_mg")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if order.rate_ml_per_h is not None:
        try:
            entered_rate = _dec({"rate_ml_per_h": rate_ml_per_h}, "rate_ml_per_h")
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
            request=request,
        )
    order.refresh_from_db()
    return check


def audit_read(
    action: str,
    user: User,
    clinic: Clinic,
    obj: Any,
    patient_id: int | None,
    *,
    request: HttpRequest | None = None,
) -> None:
    """Every read of a patient's plan or order is audited, like a chart read."""
    with transaction.atomic():
        record(action, user=user, clinic=clinic, obj=obj, patient_id=patient_id, request=request)
