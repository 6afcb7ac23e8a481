"""Prescribers signing orders for one patient at the same moment, each on their own database
connection: the limits that depend on the patient's other orders (the minimum interval, the
sessions in a week, the session number) see every order signed before them, so a hard limit is
never bypassed by timing. (Issue 13: 5 of 5 such signatures succeeded on SQLite, 3 of 3 on
PostgreSQL, all as session 1.)"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connections
from django.utils import timezone

from ketaclinic.protocols import actions
from ketaclinic.protocols.models import DoseOrder, LimitEvent, LimitEventKind
from tests.protocols.conftest import IV_DOSE

SIGNERS = 5


def sign_at_once(prescriber, clinic, plan, times):
    barrier = threading.Barrier(len(times))
    results: list[str] = []
    lock = threading.Lock()

    def one(when):
        try:
            barrier.wait()
            for _attempt in range(400):
                try:
                    order = actions.sign_order(prescriber, clinic, plan, IV_DOSE | {"scheduled_for": when})
                    outcome = f"signed as session {order.session_number}"
                    break
                except OperationalError:
                    # SQLite's shared-cache test database has no busy wait: a writer finding the
                    # lock taken is refused before it wrote anything. Retry, as a client would.
                    time.sleep(0.01)
                except actions.OrderRefused as exc:
                    outcome = f"refused: {exc}"
                    break
            else:
                outcome = "gave up"
            with lock:
                results.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(when,)) for when in times]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_simultaneous_signatures_for_the_same_time_sign_one_order(clinic_a, prescriber, iv_plan):
    when = timezone.now() + timedelta(days=1)
    results = sign_at_once(prescriber, clinic_a, iv_plan, [when] * SIGNERS)

    assert sorted(results)[-1] == "signed as session 1"
    refused = [r for r in results if r.startswith("refused")]
    assert len(refused) == SIGNERS - 1, results
    assert all("Interval since last session" in r for r in refused), refused
    assert DoseOrder.objects.filter(plan=iv_plan).count() == 1
    # Each refusal is on the limits report, as a refusal at a desk would be.
    assert (
        LimitEvent.objects.filter(event=LimitEventKind.REFUSAL, kind="interval_since_last_h").count()
        == SIGNERS - 1
    )


@pytest.mark.django_db(transaction=True)
def test_simultaneous_signatures_far_enough_apart_get_their_own_session_numbers(
    clinic_a, prescriber, iv_plan
):
    start = timezone.now() + timedelta(days=1)
    # Two days apart: every one passes the interval, and the week limits are not reached.
    times = [start + timedelta(days=2 * i) for i in range(3)]
    results = sign_at_once(prescriber, clinic_a, iv_plan, times)

    assert sorted(results) == ["signed as session 1", "signed as session 2", "signed as session 3"]
    numbers = sorted(DoseOrder.objects.filter(plan=iv_plan).values_list("session_number", flat=True))
    assert numbers == [1, 2, 3]
