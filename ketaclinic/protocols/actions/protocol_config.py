"""Protocols: a clinic's copy of a template with its adjustments, and retiring one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.protocols import catalog
from ketaclinic.protocols.actions.library import ensure_products
from ketaclinic.protocols.models import (
    Product,
    Protocol,
)
from ketaclinic.protocols.units import as_decimal

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


def get_path(config: Any, path: tuple[Any, ...]) -> Any:
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
        current = get_path(config, path)
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


def retire_protocol(user: User, clinic: Clinic, protocol: Protocol) -> Protocol:
    require(user, clinic, "protocols.manage")
    same_clinic(protocol.clinic_id, clinic, "protocol")
    if protocol.retired_at is not None:
        raise ValidationError({"protocol": ["This protocol is already retired."]})
    with transaction.atomic():
        protocol.retired_at = timezone.now()
        protocol.save(update_fields=["retired_at"])
        record("protocol.retire", user=user, clinic=clinic, obj=protocol)
    return protocol
