"""``ketaclinic ledger verify``: each clinic's chain, and each container's balance against its entries.

The chain (``audit.chain``, with the ledger's own fields) catches a modified, deleted, inserted or
reordered entry and a truncated tail (the head row). The balances catch an edited container row:
a container's balance must be the sum of its entries' movements, and each entry's recorded
``balance_mg`` must be the running sum at that entry. And each session's close-out record must
say what its entries say (drawn, administered, wasted, returned): an edited reconciliation shows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ketaclinic.accounts.models import Clinic
from ketaclinic.audit import chain
from ketaclinic.ledger import rules
from ketaclinic.ledger.models import (
    CONTAINER_SIGN,
    HASHED_FIELDS,
    Container,
    EntryKind,
    LedgerEntry,
    LedgerHead,
    SessionReconciliation,
)


@dataclass(frozen=True)
class Finding:
    clinic: str
    message: str


def _chain(clinic: Clinic, batch: int = 2000) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        rows = list(LedgerEntry.objects.filter(clinic=clinic, seq__gt=last).order_by("seq")[:batch])
        if not rows:
            return
        for row in rows:
            yield row.chain_fields()
        last = rows[-1].seq


def verify_clinic(clinic: Clinic) -> tuple[int, list[Finding]]:
    """(entries checked, what is wrong); an empty list when the clinic's ledger is intact."""
    findings: list[Finding] = []
    head = LedgerHead.objects.filter(clinic=clinic).first()
    entries = list(_chain(clinic))
    problem = chain.verify(
        entries, head=(head.seq, head.hash) if head else (0, chain.GENESIS), fields=HASHED_FIELDS
    )
    if problem is not None:
        findings.append(
            Finding(clinic.slug, f"chain broken at entry {problem.seq} ({problem.kind}): {problem.message}")
        )
    running: dict[int, Decimal] = defaultdict(Decimal)
    for e in entries:
        cid = e["container_id"]
        if cid is None:
            continue
        sign = CONTAINER_SIGN.get(EntryKind(e["kind"]), 1)
        running[cid] += sign * Decimal(e["mg"])
        if e["balance_mg"] is not None and rules.q(running[cid]) != Decimal(e["balance_mg"]):
            findings.append(
                Finding(
                    clinic.slug,
                    f"entry {e['seq']} records a balance of {e['balance_mg']} mg; "
                    f"its entries add up to {running[cid]} mg",
                )
            )
    for container in Container.objects.filter(clinic=clinic).order_by("number"):
        expected = rules.q(running.get(container.pk, rules.ZERO))
        if container.balance_mg != expected:
            findings.append(
                Finding(
                    clinic.slug,
                    f"{container.label} shows {container.balance_mg} mg; "
                    f"its ledger entries add up to {expected} mg",
                )
            )
    findings += _sessions(clinic, entries)
    return len(entries), findings


SESSION_KINDS = {
    EntryKind.DRAW: "drawn_mg",
    EntryKind.ADMINISTERED: "administered_mg",
    EntryKind.WASTE: "wasted_mg",
    EntryKind.RETURN: "returned_mg",
}


def _sessions(clinic: Clinic, entries: list[dict[str, Any]]) -> list[Finding]:
    """Each closed-out session's record against its entries: drawn (less reversed draws),
    administered, wasted and returned must be what the chain says."""
    kind_of = {e["seq"]: e["kind"] for e in entries}
    seq_of = {row[0]: row[1] for row in LedgerEntry.objects.filter(clinic=clinic).values_list("pk", "seq")}
    sums: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for e in entries:
        sid = e["session_id"]
        if sid is None:
            continue
        if e["kind"] in SESSION_KINDS:
            sums[sid][SESSION_KINDS[EntryKind(e["kind"])]] += Decimal(e["mg"])
        elif (
            e["kind"] == EntryKind.REVERSAL
            and kind_of.get(seq_of.get(e["reverses_id"], -1)) == EntryKind.DRAW
        ):
            sums[sid]["drawn_mg"] -= Decimal(e["mg"])
    findings = []
    for rec in SessionReconciliation.objects.filter(session__clinic=clinic).order_by("session_id"):
        mine = sums.get(rec.session_id, {})
        for field in SESSION_KINDS.values():
            recorded, chained = getattr(rec, field), rules.q(mine.get(field, rules.ZERO))
            if recorded != chained:
                findings.append(
                    Finding(
                        clinic.slug,
                        f"session {rec.session_id}'s close-out records {field.removesuffix('_mg')} "
                        f"{recorded} mg; its ledger entries say {chained} mg",
                    )
                )
    return findings


def verify_all() -> tuple[int, list[Finding]]:
    total, findings = 0, []
    for clinic in Clinic.objects.order_by("pk"):
        n, found = verify_clinic(clinic)
        total += n
        findings += found
    return total, findings
