"""The drug library: products, a clinic's first library, entries with their hard and soft limits.

A change is a proposal (the next version, ``status=proposed``) that takes effect only when a second
person approves it: the pharmacy-style two-person rule. Orders are checked against the newest
approved version (``DrugLibrary.current_for``); one proposal at a time, based on the version in
force. Version 1, created from the cited defaults shipped with ketaclinic, is in force at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.text import slugify

from ketaclinic.accounts.access import require
from ketaclinic.accounts.actions import reauthenticate
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.protocols import catalog, dose_calc, library_rules, limits
from ketaclinic.protocols.actions.common import decimal_field
from ketaclinic.protocols.models import (
    DrugLibrary,
    LibraryEntry,
    LibraryStatus,
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
            clinic=clinic,
            version=1,
            created_by=user,
            reason="Initial library from the cited defaults",
            status=LibraryStatus.APPROVED,
            reviewed_at=timezone.now(),
            review_note="the cited defaults shipped with ketaclinic (catalog.DEFAULT_LIBRARY)",
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


def parse_entry_limits(data: Mapping[str, Any], route: str = "iv") -> dict[str, limits.LimitDict]:
    """Read form-style limit fields ``<kind>__<bound>``, ``<kind>__open`` and ``<kind>__source``.

    Each limit must be well formed (``limits.validate_limit``), cite a source, and stay under its
    kind's plausibility ceiling for the route; the entry must cap the dose. ValidationError per field."""
    out: dict[str, limits.LimitDict] = {}
    parsed: dict[str, limits.Limit] = {}
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
        if (problem := library_rules.source_problem(lim.source)) is not None:
            errors.setdefault(f"{key}__source", []).append(f"{kind.label}: {problem}")
        parsed[key] = lim
        out[key] = lim.to_dict()
    table = library_rules.ceilings(settings.LIBRARY_CEILINGS)
    for fname, message in library_rules.ceiling_problems(route, parsed, table).items():
        errors.setdefault(fname, []).append(message)
    if not errors:
        for message in library_rules.missing_caps(parsed):
            errors.setdefault("limits", []).append(message)
    if errors:
        raise ValidationError(errors)
    return out


def _checked_entry(
    key: str, *, name: str, route: str, product_code: str | None, limit_data: Mapping[str, Any], reason: str
) -> tuple[str, Product | None, dict[str, limits.LimitDict]]:
    """(key, product, limits) of a proposed entry, or ValidationError naming every problem at once."""
    errors: dict[str, list[str]] = {}
    key = slugify(key or "")
    if not key:
        errors["key"] = ["Give the entry a key (letters, digits, hyphens), e.g. iv-depression."]
    if not (name or "").strip():
        errors["name"] = ["Name the entry."]
    if route not in dose_calc.ROUTES:
        errors["route"] = [f"Choose one of {', '.join(dose_calc.ROUTES)}."]
    if (problem := library_rules.reason_problem(reason)) is not None:
        errors["reason"] = [problem]
    product = None
    if product_code:
        product = Product.objects.filter(code=product_code, is_active=True).first()
        if product is None:
            errors["product"] = [f"No product {product_code!r}."]
    try:
        parsed = parse_entry_limits(limit_data, route if route in dose_calc.ROUTES else "iv")
    except ValidationError as exc:
        for k, v in exc.message_dict.items():
            errors.setdefault(k, []).extend(v)
        parsed = {}
    if errors:
        raise ValidationError(errors)
    return key, product, parsed


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
    """Propose adding or changing one entry: the next version, every other entry copied from the
    version in force. It takes effect only when a second person approves it (``review_library``)."""
    require(user, clinic, "protocols.manage_library")
    key, product, parsed = _checked_entry(
        key, name=name, route=route, product_code=product_code, limit_data=limit_data, reason=reason
    )
    with transaction.atomic():
        newest = DrugLibrary.objects.select_for_update().filter(clinic=clinic).order_by("-version").first()
        pending = DrugLibrary.pending_for(clinic)
        if pending is not None:
            raise ValidationError(
                {
                    "library": [
                        f"Version {pending.version} awaits a second person's review; approve, reject "
                        "or withdraw it before proposing another change."
                    ]
                }
            )
        current = DrugLibrary.current_for(clinic)
        lib = DrugLibrary.objects.create(
            clinic=clinic,
            version=(newest.version + 1) if newest else 1,
            created_by=user,
            reason=reason.strip()[:300],
            based_on=current,
        )
        before: dict[str, Any] | None = None
        if current is not None:
            for entry in current.entries.select_related("product", "library"):
                if entry.key == key:
                    before = entry.to_dict()
                    continue
                LibraryEntry.objects.create(
                    library=lib,
                    key=entry.key,
                    name=entry.name,
                    route=entry.route,
                    product=entry.product,
                    limits=entry.limits,
                )
        new = LibraryEntry.objects.create(
            library=lib, key=key, name=name.strip(), route=route, product=product, limits=parsed
        )
        changes = library_rules.diff_entry(key, before, new.to_dict())
        if not changes:
            raise ValidationError({"library": ["Nothing changes: this entry is already in force as given."]})
        record(
            "library.propose",
            user=user,
            clinic=clinic,
            obj=lib,
            detail={
                "version": lib.version,
                "based_on": current.version if current else None,
                "entry": key,
                "reason": lib.reason,
                "changes": [c.to_dict() for c in changes],
            },
        )
    return lib


def library_changes(lib: DrugLibrary) -> list[library_rules.Change]:
    """What a version changes against the version it was based on, entry by entry (two queries,
    none when the versions' entries are prefetched already)."""
    versions = [lib, lib.based_on] if lib.based_on_id and lib.based_on else [lib]
    prefetch_related_objects(versions, "entries__product")
    after = lib.entries_by_key()
    before = versions[1].entries_by_key() if len(versions) == 2 else {}
    return [
        change
        for key in sorted(set(before) | set(after))
        for change in library_rules.diff_entry(key, before.get(key), after.get(key))
    ]


def review_library(
    user: User, clinic: Clinic, lib: DrugLibrary, *, approve: bool, note: str = "", password: str = ""
) -> DrugLibrary:
    """The second person's decision on a proposed version.

    Approving puts it in force: it needs the reviewer's own password, and the reviewer may not be
    the proposer. Rejecting needs a note saying why. A proposal overtaken by another approved
    version cannot be approved (its copies of the other entries would undo that version)."""
    require(user, clinic, "protocols.approve_library")
    note = (note or "").strip()
    errors: dict[str, list[str]] = {}
    if lib.clinic_id != clinic.pk:
        raise ValidationError({"library": ["No such library version in this clinic."]})
    if lib.created_by_id == user.pk:
        errors["library"] = [
            "You proposed this change: a second person must review it (the two-person rule)."
        ]
    if not approve and not library_rules.readable(note, words=2, chars=8):
        errors["note"] = ["Say why the change is rejected, so that its proposer can act on it."]
    if errors:
        raise ValidationError(errors)
    if approve:
        reauthenticate(user, password, what="approved")
    with transaction.atomic():
        lib = DrugLibrary.objects.select_for_update().get(pk=lib.pk)
        if lib.status != LibraryStatus.PROPOSED:
            raise ValidationError(
                {"library": [f"Version {lib.version} is {lib.get_status_display()}, not awaiting review."]}
            )
        current = DrugLibrary.current_for(clinic)
        if approve and current is not None and lib.based_on_id != current.pk:
            raise ValidationError(
                {
                    "library": [
                        f"Version {lib.version} was based on an older version than v{current.version}, "
                        "now in force; withdraw it and propose it again."
                    ]
                }
            )
        lib.status = LibraryStatus.APPROVED if approve else LibraryStatus.REJECTED
        lib.reviewed_by, lib.reviewed_at, lib.review_note = user, timezone.now(), note[:300]
        lib.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
        record(
            "library.approve" if approve else "library.reject",
            user=user,
            clinic=clinic,
            obj=lib,
            detail={
                "version": lib.version,
                "proposed_by": lib.created_by.username,
                "note": lib.review_note,
                "changes": [c.to_dict() for c in library_changes(lib)],
            },
        )
    return lib


def withdraw_library_proposal(user: User, clinic: Clinic, lib: DrugLibrary) -> DrugLibrary:
    """Take back a proposal that has not been reviewed yet (an admin: the proposer or another)."""
    require(user, clinic, "protocols.manage_library")
    with transaction.atomic():
        lib = DrugLibrary.objects.select_for_update().get(pk=lib.pk, clinic=clinic)
        if lib.status != LibraryStatus.PROPOSED:
            raise ValidationError(
                {"library": [f"Version {lib.version} is {lib.get_status_display()}, not awaiting review."]}
            )
        lib.status, lib.reviewed_by, lib.reviewed_at = LibraryStatus.WITHDRAWN, user, timezone.now()
        lib.save(update_fields=["status", "reviewed_by", "reviewed_at"])
        record("library.withdraw", user=user, clinic=clinic, obj=lib, detail={"version": lib.version})
    return lib
