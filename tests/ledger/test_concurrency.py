"""Fifty nurses drawing from one vial at the same moment, each on their own database connection:
the balance never goes below zero, every acknowledged draw is an entry, every refusal says why,
and the chain stays intact. On PostgreSQL the container's row lock serialises them; on SQLite the
IMMEDIATE transactions do (a writer that cannot get the lock in time is refused, never half-done).
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, connections

from ketaclinic.ledger import actions
from ketaclinic.ledger.models import Container, EntryKind, LedgerEntry
from ketaclinic.ledger.verify import verify_clinic
from tests.infusions.conftest import make_order, ready_for_dosing, scheduled

DRAWS = 50


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_draws_never_overdraw_a_vial(
    clinic_a, clinic_admin, nurse, prescriber, frontdesk, patient
):
    from tests.ledger.conftest import keep_ledger, receive

    # The order first: its drug library puts the product catalogue back after another transactional
    # test emptied the tables.
    order = make_order(clinic_a, prescriber, nurse, patient, clinic_admin)
    safe, vials, _ = keep_ledger(clinic_a, clinic_admin, [clinic_admin, nurse, prescriber])
    vial = receive(clinic_a, clinic_admin, nurse, vials, safe, n=1).containers.get()
    session = ready_for_dosing(nurse, clinic_a, scheduled(frontdesk, nurse, clinic_a, order))
    # 50 draws of 0.5 mL = 25 mL from a 20 mL vial: exactly 40 can succeed.
    barrier = threading.Barrier(DRAWS)
    results: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        try:
            barrier.wait()
            for _attempt in range(400):
                try:
                    actions.draw(
                        user=nurse,
                        clinic=clinic_a,
                        session=session,
                        container=vial,
                        ml="0.5",
                        idempotency_key=f"k{i}",
                    )
                    outcome = "drawn"
                    break
                except OperationalError:
                    # SQLite's in-memory test database (shared cache) has no busy wait: a writer
                    # finding the lock taken is refused at once, before it wrote anything. Production
                    # SQLite waits up to 20 s (settings). Retry, as a client would.
                    time.sleep(0.01)
                    continue
                except ValidationError as exc:
                    outcome = "refused: " + "; ".join(m for ms in exc.message_dict.values() for m in ms)
                    break
            else:
                outcome = "gave up"
            with lock:
                results.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(DRAWS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(results) == DRAWS
    drawn = [r for r in results if r == "drawn"]
    refused = [r for r in results if r.startswith("refused")]
    assert len(drawn) == 40, results
    assert len(refused) == 10 and all("empty" in r or "holds only" in r for r in refused), refused
    vial.refresh_from_db()
    assert vial.balance_mg == Decimal("0.00") and vial.balance_ml == Decimal("0.00")
    entries = LedgerEntry.objects.filter(container=vial, kind=EntryKind.DRAW)
    assert entries.count() == 40 and len({e.idempotency_key for e in entries}) == 40
    assert verify_clinic(clinic_a)[1] == []
    assert Container.objects.get(pk=vial.pk).status == "empty"
    assert connection.vendor in ("sqlite", "postgresql")
