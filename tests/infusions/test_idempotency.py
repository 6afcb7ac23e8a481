"""Dosing events and their corrections: a retry with the same key and the same content is answered with
the stored event and writes nothing; the same key with different content is refused (issue 5).

"The same content" is compared after the normalisation the write applies: the order's defaults filled in
(an IV start's rate, a nasal device's mg), values the kind does not keep dropped (a pause's rate),
numbers by value ("4" is "4.0"), the reason and lot stripped. A time is compared when the retry gives one.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.events.models import Event
from ketaclinic.infusions import actions
from ketaclinic.infusions.models import DosingEvent
from tests.api.conftest import ApiClient, error_fields, token_for

DIFFERENT = "This key was already used for a different dosing event; use a new key."


def counts():
    return DosingEvent.objects.count(), AuditEntry.objects.count(), Event.objects.count()


def dose(nurse, clinic, session, kind, key, **kw):
    return actions.record_dosing_event(
        user=nurse, clinic=clinic, session=session, kind=kind, idempotency_key=key, **kw
    )


def refused(nurse, clinic, session, kind, key, **kw):
    before = counts()
    with pytest.raises(ValidationError) as exc:
        dose(nurse, clinic, session, kind, key, **kw)
    assert exc.value.message_dict == {"idempotency_key": [DIFFERENT]}, kw
    assert counts() == before


@pytest.fixture
def clock(iv_session):
    with time_machine.travel(iv_session.state_changed_at + timedelta(seconds=5), tick=False) as clock:
        yield clock


def test_a_start_retried_with_another_rate_is_refused(iv_session, nurse, clinic_a, clock):
    start, created = dose(nurse, clinic_a, iv_session, "start", "s")
    assert created and start.rate_ml_per_h == iv_session.dose_order.rate_ml_per_h  # the order's
    before = counts()
    # No rate, or the order's rate written out: what was stored.
    assert dose(nurse, clinic_a, iv_session, "start", "s") == (start, False)
    order_rate = str(iv_session.dose_order.rate_ml_per_h)
    assert dose(nurse, clinic_a, iv_session, "start", "s", rate_ml_per_h=order_rate) == (start, False)
    assert counts() == before
    refused(nurse, clinic_a, iv_session, "start", "s", rate_ml_per_h="9.9")
    refused(nurse, clinic_a, iv_session, "stop", "s")


def test_values_reason_and_time_are_compared_as_stored(iv_session, nurse, clinic_a, clock):
    dose(nurse, clinic_a, iv_session, "start", "s")
    clock.shift(timedelta(minutes=2))
    rate, _ = dose(nurse, clinic_a, iv_session, "rate", "r", rate_ml_per_h="4", reason="dizzy")
    assert dose(nurse, clinic_a, iv_session, "rate", "r", rate_ml_per_h="4.0", reason=" dizzy ") == (
        rate,
        False,
    )
    refused(nurse, clinic_a, iv_session, "rate", "r", rate_ml_per_h="3", reason="dizzy")
    refused(nurse, clinic_a, iv_session, "rate", "r", rate_ml_per_h="4", reason="nausea")

    clock.shift(timedelta(minutes=2))
    # A pause keeps no rate: one sent with it is dropped, on the first submission and on the retry.
    pause, _ = dose(nurse, clinic_a, iv_session, "pause", "p", rate_ml_per_h="2", reason="nausea")
    assert pause.rate_ml_per_h is None
    assert dose(nurse, clinic_a, iv_session, "pause", "p", rate_ml_per_h="2", reason="nausea") == (
        pause,
        False,
    )
    assert DosingEvent.objects.filter(session=iv_session).count() == 3


def test_a_bolus_is_compared_as_stored(bolus_session, nurse, clinic_a):
    with time_machine.travel(bolus_session.state_changed_at + timedelta(seconds=5), tick=False) as clock:
        dose(nurse, clinic_a, bolus_session, "start", "s")
        clock.shift(timedelta(minutes=2))
        at = timezone.now() - timedelta(minutes=1)
        bolus, _ = dose(nurse, clinic_a, bolus_session, "bolus", "b", mg="5", at=at)
        assert dose(nurse, clinic_a, bolus_session, "bolus", "b", mg="5.0", at=at) == (bolus, False)
        # A retry without a time: the stored one stands (the first was stored when it arrived, or as given).
        assert dose(nurse, clinic_a, bolus_session, "bolus", "b", mg="5") == (bolus, False)
        refused(nurse, clinic_a, bolus_session, "bolus", "b", mg="6", at=at)
        refused(nurse, clinic_a, bolus_session, "bolus", "b", mg="5", at=at + timedelta(seconds=30))
        refused(nurse, clinic_a, bolus_session, "bolus", "b", mg="5", at=at, lot_number="L7")


def test_a_nasal_device_compares_the_devices_mg(nasal_session, nurse, clinic_a):
    with time_machine.travel(nasal_session.state_changed_at + timedelta(seconds=5), tick=False):
        dose(nurse, clinic_a, nasal_session, "start", "n0")
        device, _ = dose(nurse, clinic_a, nasal_session, "device", "n1", lot_number="LOT1")
        assert device.mg == 28  # the protocol's mg per device
        assert dose(nurse, clinic_a, nasal_session, "device", "n1", mg="28", lot_number="LOT1") == (
            device,
            False,
        )
        refused(nurse, clinic_a, nasal_session, "device", "n1", mg="14", lot_number="LOT1")
        refused(nurse, clinic_a, nasal_session, "device", "n1", lot_number="LOT2")


def test_corrections_compare_what_they_store(iv_session, nurse, clinic_a, clock):
    dose(nurse, clinic_a, iv_session, "start", "s")
    clock.shift(timedelta(minutes=2))
    rate, _ = dose(
        nurse, clinic_a, iv_session, "rate", "r", rate_ml_per_h="6", reason="BP low",
        override_reason="BP low, prescriber at the chair",
    )  # fmt: skip

    def fix(**kw):
        values = {"reason": "typed 6 for 5", "rate_ml_per_h": "5"} | kw
        return actions.correct_dosing_event(
            user=nurse, clinic=clinic_a, original=rate, idempotency_key="r-fix", **values
        )

    fixed, created = fix()
    assert created and fixed.rate_ml_per_h == 5
    before = counts()
    assert fix(rate_ml_per_h="5.0") == (fixed, False)
    for changed in (
        {"rate_ml_per_h": "4"},
        {"reason": "another reason"},
        {"at": rate.at + timedelta(minutes=1)},
    ):
        with pytest.raises(ValidationError) as exc:
            fix(**changed)
        assert exc.value.message_dict == {"idempotency_key": [DIFFERENT]}, changed
    assert counts() == before
    # The key of a correction is not a new event's key.
    refused(nurse, clinic_a, iv_session, "rate", "r-fix", rate_ml_per_h="5", reason="typed 6 for 5")


def test_the_api_answers_a_retry_200_and_other_content_422(iv_session, nurse):
    api = ApiClient(token_for(nurse))
    path = f"/api/infusions/{iv_session.pk}/dosing-events"
    body = {"kind": "start", "idempotency_key": "start-1", "rate_ml_per_h": "5.3"}
    first = api.post(path, body)
    assert first.status_code == 201, first.content
    again = api.post(path, body)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["dose"] == first.json()["dose"]
    before = counts()
    other = api.post(path, body | {"rate_ml_per_h": "8"})
    assert other.status_code == 422
    assert error_fields(other) == {"idempotency_key": DIFFERENT}
    assert counts() == before
    assert str(DosingEvent.objects.get(idempotency_key="start-1").rate_ml_per_h) == "5.3"
