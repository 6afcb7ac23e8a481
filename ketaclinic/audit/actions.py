"""Appending to the audit trail. Called by every action, inside the action's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from ketaclinic.audit import chain, rows, seal
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
        entry.seal = seal.entry_seal(settings.AUDIT_KEY, entry.hash)
        entry.save(force_insert=True)
        head.seq, head.hash = entry.seq, entry.hash
        head.save(update_fields=["seq", "hash"])
        _checkpoint_after_commit(entry)
    return entry


def _checkpoint_after_commit(entry: AuditEntry) -> None:
    """Advance the checkpoint file to ``entry`` once its transaction commits.

    One write per transaction: each entry notes itself on the connection, and only the newest
    one's callback writes (a rolled-back transaction's note is overwritten by the next entry).
    """
    conn = transaction.get_connection()
    conn.audit_newest = entry.seq
    seq, digest = entry.seq, entry.hash

    def write() -> None:
        if getattr(conn, "audit_newest", seq) != seq:
            return
        first = digest if seq == 1 else _first_hash()
        if first:
            at = timezone.now().isoformat()
            seal.advance_checkpoint(
                settings.AUDIT_CHECKPOINT, settings.AUDIT_KEY, seal.Checkpoint(seq, digest, first, at)
            )

    transaction.on_commit(write)


def _first_hash() -> str:
    return AuditEntry.objects.filter(seq=1).values_list("hash", flat=True).first() or ""


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


@dataclass(frozen=True)
class Finding:
    kind: str
    message: str


@dataclass
class TrailReport:
    """What ``verify_trail`` found: problems, and notes that are not problems (nothing to check yet)."""

    entries: int = 0
    unsealed: int = 0  # entries written before seals existed: the hash chain and checkpoint hold them
    rows: int = 0
    problems: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    more_rows: int = 0  # row findings beyond the ones named

    @property
    def intact(self) -> bool:
        return not self.problems


def _seal_problem(entries: Iterator[dict[str, Any]], key: bytes, report: TrailReport) -> Finding | None:
    """Count the entries; name the first one whose seal does not match, or an unsealed entry after a
    sealed one (seals cannot be stripped to pass a forged entry as one from before seals)."""
    sealed_seen = False
    for entry in entries:
        report.entries += 1
        if not entry["seal"]:
            if sealed_seen:
                return Finding(
                    "forged",
                    f"entry {entry['seq']} has no seal, after sealed entries: "
                    "it was written outside the application",
                )
            report.unsealed += 1
            continue
        sealed_seen = True
        if not seal.seal_matches(key, entry["hash"], entry["seal"]):
            return Finding(
                "forged",
                f"entry {entry['seq']} does not carry the audit key's seal: "
                "it was forged or rewritten outside the application",
            )
    return None


def _checkpoint_problem(report: TrailReport) -> Finding | None:
    path = settings.AUDIT_CHECKPOINT
    try:
        point = seal.read_checkpoint(path)
    except seal.CheckpointError as exc:
        return Finding("checkpoint", str(exc))
    if point is None:
        if report.entries:
            report.notes.append(f"no checkpoint at {path} yet: the next write starts one")
        return None
    if not point.is_sealed_by(settings.AUDIT_KEY):
        return Finding(
            "checkpoint", f"the checkpoint {path} does not carry the audit key's seal: it was altered"
        )
    first = _first_hash()
    if first and first != point.first_hash or not first and point.seq:
        return Finding(
            "replaced",
            f"the trail is not the one the checkpoint names (its first entry differs or is gone): "
            f"the trail was replaced or emptied; the checkpoint names {point.seq} entries",
        )
    stored = AuditEntry.objects.filter(seq=point.seq).values_list("hash", flat=True).first()
    if stored is None:
        return Finding(
            "deleted",
            f"entries up to {point.seq} were checkpointed, but the trail ends before {point.seq}: "
            "entries were deleted from the end",
        )
    if stored != point.hash:
        return Finding(
            "rewritten", f"entry {point.seq} is not the entry the checkpoint names: the trail was rewritten"
        )
    return None


def verify_trail(*, with_rows: bool = True, with_checkpoint: bool = True) -> TrailReport:
    """Verify the audit trail: the hash chain, every entry's seal and, with ``with_checkpoint``,
    the checkpoint outside the database and, with ``with_rows``, every clinical row against its
    row seal."""
    report = TrailReport()
    if broken := verify_chain():
        report.problems.append(Finding(broken.kind, broken.message))
    if forged := _seal_problem(iter_chain(), settings.AUDIT_KEY, report):
        report.problems.append(forged)
    if with_checkpoint and (behind := _checkpoint_problem(report)):
        report.problems.append(behind)
    if with_rows:
        report.rows, named, total = rows.verify_rows()
        report.problems += [Finding(f"row {f.kind}", f.message) for f in named]
        report.more_rows = total - len(named)
    return report


def reanchor_checkpoint() -> tuple[bool, Path | None]:
    """After a restore, start the checkpoint from the restored trail, if its chain and seals verify.

    Returns (re-anchored, where the old checkpoint was kept). A restored trail that does not verify
    leaves the old checkpoint in place, so ``audit verify`` keeps reporting both.
    """
    if not verify_trail(with_rows=False, with_checkpoint=False).intact:
        return False, None
    head = AuditHead.objects.filter(id=1).first()
    now = timezone.now()
    point = None
    if head is not None and head.seq:
        point = seal.Checkpoint(head.seq, head.hash, _first_hash(), now.isoformat())
    stamp = f"{now:%Y%m%dT%H%M%S}"
    return True, seal.replace_checkpoint(settings.AUDIT_CHECKPOINT, settings.AUDIT_KEY, point, stamp)
