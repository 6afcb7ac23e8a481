"""``ketaclinic ledger verify``: each clinic's chain, and each container's balance against its entries.

The chain (``audit.chain``, with the ledger's own fields) catches a modified, deleted, inserted or
reordered entry and a truncated tail (the head row). The balances catch an edited container row:
a container's balance must be the sum of its entries' movements, and each entry's recorded
``balance_mg`` must be the running sum at that entry.
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
    return len(entries), findings


def verify_all() -> tuple[int, list[Finding]]:
    total, findings = 0, []
    for clinic in Clinic.objects.order_by("pk"):
        n, found = verify_clinic(clinic)
        total += n
        findings += found
    return total, findings
