"""The drug library: products, a clinic's first library, entries with their hard and soft limits."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from ketaclinic.accounts.access import require
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.protocols import catalog, dose_calc, limits
from ketaclinic.protocols.actions.common import decimal_field
from ketaclinic.protocols.models import (
    DrugLibrary,
    LibraryEntry,
    Product,
)


def ensure_products() -> dict[str, Product]:
    """The shared catalogue (seeded by migration 0002; re-created if a test flush removed it)."""
    products = {p.code: p for p in Product.objects.all()}
    for spec in catalog.PRODUCTS:
        if spec["code"] not in products:
            fields = {k: v for k, v in spec.items() if k != "code"}
            products[spec["code"]], _ = Product.objects.get_or_create(code=spec["code"], defaults=fields)
    return products


def create_default_library(user: User, clinic: Clinic) -> DrugLibrary:
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
        record("library.create", user=user, clinic=clinic, obj=lib, detail={"version": 1})
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
                bounds[bound] = decimal_field(data, fname, required=False)
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
        )
    return lib
