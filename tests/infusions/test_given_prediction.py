"""The chair view's prediction follows what the pump gave, and "ready to leave" is honest (#10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from ketaclinic.infusions import actions, pages, pump
from ketaclinic.infusions.pump import Dose, OrderPlan
from ketaclinic.protocols.prediction import Prediction

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# 35 mg at 10 mg/mL = 3.5 mL over 40 min = 5.25 mL/h
PLAN = OrderPlan("iv", Decimal("35"), Decimal("35"), Decimal("10"), Decimal("3.5"), Decimal("5.25"))


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def test_the_given_regimen_integrates_rate_changes_pauses_and_boluses():
    events = [
        Dose("start", T0, rate_ml_per_h=Decimal("5.25")),
        Dose("rate", minutes(10), rate_ml_per_h=Decimal("2.625")),  # halved for strong dissociation
        Dose("pause", minutes(20)),
        Dose("resume", minutes(30), rate_ml_per_h=Decimal("2.625")),
        Dose("bolus", minutes(31), mg=Decimal("5")),
    ]
    given = pump.given_regimen(PLAN, events, minutes(40), "racemic")
    assert given is not None and given.given_until_min == 40.0
    as_given = [(e.start_min, round(e.dose, 3), e.duration_min) for e in given.events if e.start_min < 40]
    # each event splits the pump's segments (the bolus at 31 min too); nothing runs while paused
    assert as_given == [
        (0.0, 8.75, 10.0),
        (10.0, 4.375, 10.0),
        (30.0, 0.438, 1.0),
        (31.0, 3.938, 9.0),
        (31.0, 5.0, 0.0),
    ]
    # the forecast continues the running rate until the order's 3.5 mL: 17.5 mg given by pump so far
    forecast = [e for e in given.events if e.start_min >= 40]
    assert len(forecast) == 1 and forecast[0].dose == pytest.approx(35.0 - 17.5)
    assert forecast[0].duration_min == pytest.approx(17.5 / 10 / 2.625 * 60)
    # the mg agree with the pump's own running total
    assert sum(e.dose for e in given.events if e.start_min < 40) == pytest.approx(
        float(pump.progress(PLAN, events, minutes(40)).given_mg)
    )


def test_a_stop_ends_the_regimen_and_nothing_is_forecast():
    events = [Dose("start", T0, rate_ml_per_h=Decimal("5.25")), Dose("stop", minutes(12))]
    given = pump.given_regimen(PLAN, events, minutes(30), "racemic")
    assert given is not None and [(e.start_min, e.duration_min) for e in given.events] == [(0.0, 12.0)]
    assert pump.given_regimen(PLAN, [], minutes(30), "racemic") is None  # not started: the order's


def test_devices_are_given_at_their_recorded_times():
    nasal = OrderPlan("nasal", Decimal("84"), Decimal("84"), devices=3)
    events = [Dose("start", T0), Dose("device", T0), Dose("device", minutes(7))]
    given = pump.given_regimen(nasal, events, minutes(9), "esketamine")
    assert given is not None
    assert [(e.route, e.start_min, e.device_index) for e in given.events] == [
        ("nasal", 0.0, 0),
        ("nasal", 7.0, 1),
    ]


def prediction(p95: float | None, typical: float = 60.0) -> Prediction:
    return Prediction(ok=True, unnoticeable_min=typical, unnoticeable_p95_min=p95)


def test_ready_to_leave_is_the_upper_percentile_and_never_before_the_protocol_minimum():
    start = T0
    two_hours = timedelta(minutes=120)
    # fade of the 95th percentile at 150 min: later than the minimum, so it counts
    assert pages.ready_at(prediction(150.0), start, start, two_hours) == minutes(150)
    # a typical fade of 73 min never gives a time before the 120-min minimum
    assert pages.ready_at(prediction(90.0, typical=73.0), start, start, two_hours) == minutes(120)
    # esketamine: the minimum counts from the first device
    assert pages.ready_at(prediction(90.0), start, minutes(2), two_hours) == minutes(122)
    assert pages.ready_at(None, start, start, two_hours) is None


def test_the_chair_view_follows_a_lowered_rate(login, nurse, clinic_a, iv_session):
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)  # after the pre-dose vitals
    with time_machine.travel(t0, tick=False):
        actions.record_dosing_event(
            user=nurse,
            clinic=clinic_a,
            session=iv_session,
            kind="start",
            idempotency_key="g1",
            rate_ml_per_h="5.3",
        )
    client = login(nurse)
    with time_machine.travel(t0 + timedelta(minutes=20), tick=False):
        full = client.get(reverse("infusions-chart", args=[iv_session.pk])).json()["predicted"]
        actions.record_dosing_event(
            user=nurse,
            clinic=clinic_a,
            session=iv_session,
            kind="rate",
            idempotency_key="g2",
            rate_ml_per_h="1.0",
            reason="strong dissociation",
        )
        slowed = client.get(reverse("infusions-chart", args=[iv_session.pk])).json()["predicted"]
    assert full["ok"] and slowed["ok"]
    # the same recorded start, a lower running rate: a lower predicted peak, and the chart marks "now"
    assert max(slowed["effect_ng_per_ml"]) < max(full["effect_ng_per_ml"])
    assert slowed["given_until_t"] == pytest.approx((t0 + timedelta(minutes=20)).timestamp())
    # two axes: the level in ng/mL beside the recorded % scores, and the "not noticeable" level
    assert slowed["unnoticeable_ng_per_ml"] > 0 and len(slowed["band_high"]) == len(slowed["t"])


def test_the_esketamine_handout_speaks_from_the_prediction_and_the_label(login, prescriber, nasal_order):
    client = login(prescriber)
    eske = client.get(reverse("protocols-order-expect", args=[nasal_order.pk])).content.decode()
    assert "You stay awake" not in eske and "Most people stay awake" not in eske
    assert "about half of people were sedated" in eske
    assert "in 10 reach this detached state" in eske
    assert "generally gone by 1½ to 2 hours" in eske and "fades within about 1½ hours" not in eske
    assert "driving is known to be impaired passes after about" in eske


def test_the_iv_handout_calls_the_standard_dose_mild_to_moderate(login, prescriber, iv_order):
    client = login(prescriber)
    iv = client.get(reverse("protocols-order-expect", args=[iv_order.pk])).content.decode()
    assert "mild to moderate effect" in iv and "Most people stay awake" in iv
