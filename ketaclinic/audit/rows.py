"""Row seals: each clinical row as the application last wrote it, sealed with the audit key.

Every save of a row in the clinical apps (patients, protocols, infusions, ledger) re-reads the row's
stored values in the same transaction and upserts its seal (``seal.row_seal``); a delete removes
it. ``verify_rows`` recomputes every row's seal: a row changed in the database directly, one
inserted there, or one deleted there is named. Reading the values back from the database, rather
than from the object in memory, makes the seal of what is stored (a decimal's scale, a date's
zone), which is what verification reads later.

Writes that bypass ``save`` (``QuerySet.update``, ``bulk_create``) call ``seal_rows`` themselves.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from ketaclinic.audit import seal
from ketaclinic.audit.models import RowSeal

CLINICAL_APPS = ("patients", "protocols", "infusions", "ledger")
# At most this many rows are named in a report; the count says how many more there were.
NAMED = 20


def sealed_models() -> list[type[models.Model]]:
    return [model for label in CLINICAL_APPS for model in apps.get_app_config(label).get_models()]


def _columns(model: type[models.Model]) -> list[str]:
    return sorted(f.attname for f in model._meta.concrete_fields)


def seal_rows(model: type[models.Model], pks: Iterable[Any]) -> None:
    """Seal the stored rows of ``model`` with these primary keys (one read, one upsert)."""
    pks = list(pks)
    if not pks:
        return
    fields = _columns(model)
    label, pk_name, now = model._meta.label_lower, model._meta.pk.attname, timezone.now()
    key = settings.AUDIT_KEY
    seals = [
        RowSeal(
            object_type=label,
            object_id=str(row[pk_name]),
            fields=",".join(fields),
            seal=seal.row_seal(key, label, str(row[pk_name]), fields, row),
            sealed_at=now,
        )
        for row in model._base_manager.filter(pk__in=pks).values(*fields)
    ]
    RowSeal.objects.bulk_create(
        seals,
        update_conflicts=True,
        unique_fields=["object_type", "object_id"],
        update_fields=["fields", "seal", "sealed_at"],
    )


def _saved(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **_: Any
) -> None:  # pragma: no mutate
    if not raw:  # fixtures loaded with loaddata are sealed by whoever loads them
        seal_rows(sender, [instance.pk])


def _deleted(sender: type[models.Model], instance: models.Model, **_: Any) -> None:
    RowSeal.objects.filter(object_type=sender._meta.label_lower, object_id=str(instance.pk)).delete()


def connect() -> None:
    # Runs once, when Django starts (AppConfig.ready), before a mutation test can switch a mutant
    # on; what it wires is tested by the seals every save leaves (tests/audit/test_seal.py).
    for model in sealed_models():
        uid = model._meta.label_lower
        post_save.connect(_saved, sender=model, dispatch_uid=f"row-seal-save-{uid}")  # pragma: no mutate
        post_delete.connect(
            _deleted, sender=model, dispatch_uid=f"row-seal-delete-{uid}"
        )  # pragma: no mutate


@dataclass(frozen=True)
class RowFinding:
    object_type: str
    object_id: str
    kind: str  # "changed", "inserted", "deleted" or "resealed"
    message: str


def _findings_for(model: type[models.Model], key: bytes) -> Iterator[RowFinding]:
    label, pk_name = model._meta.label_lower, model._meta.pk.attname
    columns = _columns(model)
    seals = {s.object_id: s for s in RowSeal.objects.filter(object_type=label)}
    rows = model._base_manager.order_by("pk").values(*columns)
    for row in rows.iterator(chunk_size=2000):  # pragma: no mutate (the batch size changes no answer)
        object_id = str(row[pk_name])
        stored = seals.pop(object_id, None)
        if stored is None:
            yield RowFinding(
                label,
                object_id,
                "inserted",
                f"{label} {object_id} has no seal: it was written outside the application",
            )
            continue
        fields = stored.fields.split(",")
        if not set(fields) <= set(columns):
            yield RowFinding(
                label,
                object_id,
                "resealed",
                f"{label} {object_id} was sealed with columns that no longer exist",
            )
            continue
        if not hmac.compare_digest(seal.row_seal(key, label, object_id, fields, row), stored.seal):
            yield RowFinding(
                label,
                object_id,
                "changed",
                f"{label} {object_id} was changed outside the application: it no longer matches its seal",
            )
    for object_id in seals:
        yield RowFinding(
            label, object_id, "deleted", f"{label} {object_id} was deleted outside the application"
        )


def verify_rows() -> tuple[int, list[RowFinding], int]:
    """(rows checked, the first ``NAMED`` findings, how many findings in all)."""
    key = settings.AUDIT_KEY
    checked, total = 0, 0
    named: list[RowFinding] = []
    for model in sealed_models():
        checked += model._base_manager.count()
        for finding in _findings_for(model, key):
            total += 1
            if len(named) < NAMED:
                named.append(finding)
    return checked, named, total
