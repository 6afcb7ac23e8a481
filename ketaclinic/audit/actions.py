"""Appending to the audit trail. Called by every action, inside the action's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from ketaclinic.audit import chain
from ketaclinic.audit.models import AuditEntry, AuditHead

# The address of the client whose request is being handled, set by ``ClientAddressMiddleware`` for
# the length of one request, so the actions (which know nothing of HTTP) need not pass it along.
_current_client: ContextVar[str] = ContextVar("audit_client_addr", default="")


def client_addr(request: HttpRequest | None) -> str:
    """The client address an entry records: the request's if given, else the one being handled
    (empty outside a request: the CLI, the worker, the demo)."""
    if request is None:
        return _current_client.get()
    return str(request.META.get("REMOTE_ADDR", ""))[:64]


def _object_ref(obj: models.Model | None) -> tuple[str, str]:
    if obj is None:
        return "", ""
    return obj._meta.label_lower, str(obj.pk)


def record(
    action: str,
    *,
    user: Any = None,
    clinic: Any = None,
    obj: models.Model | None = None,
    patient_id: int | None = None,
    detail: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Append one entry. Must run inside the caller's transaction so both commit or neither does."""
    if request is not None and user is None and request.user.is_authenticated:
        user = request.user
    object_type, object_id = _object_ref(obj)
    # A transaction of its own when called outside one; inside the caller's, no savepoint (two
    # statements less per action): an error here fails the caller's transaction anyway.
    with transaction.atomic(savepoint=False):
        # The previous hash: one primary-key read of the head row, locked until the commit.
        head, _ = AuditHead.objects.select_for_update().get_or_create(id=1, defaults={"hash": chain.GENESIS})
        entry = AuditEntry(
            seq=head.seq + 1,
            at=timezone.now(),
            user=user if user is not None and user.pk else None,
            username=getattr(user, "username", "") or "",
            clinic=clinic,
            action=action,
            object_type=object_type,
            object_id=object_id,
            patient_id=patient_id,
            # Dates and decimals become strings now, so the hash covers exactly what is stored.
            detail=json.loads(json.dumps(detail or {}, cls=DjangoJSONEncoder)),
            client_addr=client_addr(request),
            prev_hash=head.hash,
        )
        # Hash what the database will hand back: JSON round-trips detail, `at` keeps microseconds.
        entry.hash = chain.entry_hash(entry.chain_fields(), head.hash)
        entry.save(force_insert=True)
        head.seq, head.hash = entry.seq, entry.hash
        head.save(update_fields=["seq", "hash"])
    return entry


def iter_chain(batch: int = 2000) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        rows = list(AuditEntry.objects.filter(seq__gt=last).order_by("seq")[:batch])
        if not rows:
            return
        for row in rows:
            yield row.chain_fields()
        last = rows[-1].seq


def verify_chain() -> chain.Problem | None:
    head = AuditHead.objects.filter(id=1).first()
    return chain.verify(iter_chain(), head=(head.seq, head.hash) if head else (0, chain.GENESIS))
