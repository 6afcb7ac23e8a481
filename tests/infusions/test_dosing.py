"""Dosing events: the pure running totals, and the action on real signed orders (IV and esketamine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from ketaclinic.audit.models import AuditEntry
from ketaclinic.events.models import Event
from ketaclinic.infusions import actions, pump
from ketaclinic.infusions.models import DosingEvent, Transition
from ketaclinic.infusions.session_rules import from_snapshot

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
IV = pump.OrderPlan("iv", D("35"), D("35"), D("10"), D("3.5"), D("5.25"), D("40"))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- pure ------------------------------------------------------------------------------------


def test_iv_progress_integrates_the_rate_with_pause_and_rate_change():
    events = [
        pump.Dose("start", at(0), rate_ml_per_h=D("5.25")),
        pump.Dose("pause", at(10)),
        pump.Dose("resume", at(15), rate_ml_per_h=D("5.25")),
        pump.Dose("rate", at(25), rate_ml_per_h=D("2.625")),
    ]
    p = pump.progress(IV, events, at(35))
    # 10 min + 10 min at 5.25 mL/h = 1.75 mL; 10 min at 2.625 = 0.4375 mL -> 2.19 mL, 21.9 mg
    assert (p.given_ml, p.given_mg) == (D("2.19"), D("21.9"))
    assert p.running and p.rate_ml_per_h == D("2.625")
    # 1.3125 mL left at 2.625 mL/h = 30 min
    assert p.time_remaining_min == pytest.approx(30.0, abs=0.01)
    paused = pump.progress(IV, events[:2], at(12))
    assert not paused.running and paused.time_remaining_min is None
    assert paused.given_mg == D("8.8")  # 10 min at 5.25 mL/h = 0.875 mL at 10 mg/mL


def test_iv_pump_stops_at_the_ordered_volume():
    p = pump.progress(IV, [pump.Dose("start", at(0), rate_ml_per_h=D("5.25"))], at(90))
    assert (p.given_ml, p.given_mg, p.remaining_mg, p.time_remaining_min) == (
        D("3.50"),
        D("35.0"),
        D("0"),
        0.0,
    )
    assert not p.running and p.percent == 100.0


def test_check_refuses_out_of_order_events_and_bolus_beyond_the_order():
    start = [pump.Dose("start", at(0), rate_ml_per_h=D("5.25"))]
    assert pump.check(IV, [], pump.Dose("pause", at(1))) == {"kind": "Start dosing first."}
    assert pump.check(IV, start, pump.Dose("resume", at(1))) == {"kind": "The infusion is not paused."}
    assert "rate_ml_per_h" in pump.check(IV, start, pump.Dose("rate", at(1)))
    msg = pump.check(IV, start, pump.Dose("bolus", at(20), mg=D("20")))["mg"]
    assert "above the 35 mg of the signed order" in msg
    assert pump.check(IV, start, pump.Dose("bolus", at(20), mg=D("10"))) == {}
    stopped = [*start, pump.Dose("stop", at(30))]
    assert "stopped" in pump.check(IV, stopped, pump.Dose("rate", at(31), rate_ml_per_h=D("1")))["kind"]


def test_nasal_devices_are_spaced_and_counted():
    plan = pump.OrderPlan("nasal", D("84"), D("84"), devices=3)
    ev = [pump.Dose("start", at(0)), pump.Dose("device", at(0), mg=D("28"))]
    p = pump.progress(plan, ev, at(2))
    assert (p.devices_given, p.given_mg, p.next_device_at) == (1, D("28"), at(5))
    assert p.time_remaining_min == pytest.approx(8.0)  # 3 min to the next, then 5 more
    assert "Wait 5 min" in pump.check(plan, ev, pump.Dose("device", at(4)))["at"]
    ev += [pump.Dose("device", at(5)), pump.Dose("device", at(10))]
    done = pump.progress(plan, ev, at(11))
    assert (done.devices_given, done.given_mg, done.time_remaining_min, done.running) == (
        3,
        D("84"),
        0.0,
        False,
    )
    assert pump.check(plan, ev, pump.Dose("device", at(20))) == {
        "kind": "All 3 devices of the order were given."
    }


# --- the protocol read from the order ------------------------------------------------------


def test_protocol_of_a_real_iv_order(iv_order):
    iv = from_snapshot(iv_order.protocol_snapshot, iv_order.route)
    assert (iv.gates.max_systolic_mmhg, iv.gates.max_diastolic_mmhg) == (140, 90)  # §2.2 [S30]
    assert [(e.phase, e.every) for e in iv.schedule.entries] == [
        ("dosing", timedelta(minutes=10)),
        ("recovery", timedelta(minutes=15)),
    ]
    assert iv.schedule_from_protocol and not iv.observe_from_first_device


def test_protocol_of_a_real_esketamine_order(nasal_order):
    nasal = from_snapshot(nasal_order.protocol_snapshot, nasal_order.route)
    assert nasal.observe_from_first_device and nasal.device_rest == timedelta(minutes=5)
    assert not nasal.schedule_from_protocol and nasal.notes  # the label gives no interval: default, flagged


def test_alert_threshold_override_from_the_protocol():
    p = from_snapshot({"config": {"alert_thresholds": {"severe_systolic_mmhg": 170}}})
    assert p.thresholds.severe_systolic_mmhg == 170
    with pytest.raises(ValueError, match="unknown alert threshold"):
        from_snapshot({"config": {"alert_thresholds": {"nope": 1}}})


# --- the action ------------------------------------------------------------------------------


def dose(nurse, clinic, session, kind, key, **kw):
    return actions.record_dosing_event(
        user=nurse, clinic=clinic, session=session, kind=kind, idempotency_key=key, **kw
    )


def test_start_rate_pause_resume_stop_move_the_state_and_total(iv_session, nurse, clinic_a, iv_order):
    with time_machine.travel(iv_session.state_changed_at + timedelta(seconds=5), tick=False) as clock:
        start, created = dose(nurse, clinic_a, iv_session, "start", "d1")
        assert created and start.rate_ml_per_h == iv_order.rate_ml_per_h
        iv_session.refresh_from_db()
        assert iv_session.state == "dosing"
        again, created = dose(nurse, clinic_a, iv_session, "start", "d1")
        assert not created and again.pk == start.pk and DosingEvent.objects.count() == 1
        clock.shift(timedelta(minutes=10))
        with pytest.raises(ValidationError) as exc:
            dose(nurse, clinic_a, iv_session, "rate", "d2", rate_ml_per_h="3")
        assert "reason" in exc.value.message_dict
        dose(nurse, clinic_a, iv_session, "rate", "d2", rate_ml_per_h="3", reason="Dissociation too strong")
        clock.shift(timedelta(minutes=10))
        with pytest.raises(ValidationError, match="Say why the infusion is paused"):
            dose(nurse, clinic_a, iv_session, "pause", "d3")
        dose(nurse, clinic_a, iv_session, "pause", "d3", reason="Nausea")
        iv_session.refresh_from_db()
        assert iv_session.state == "paused"
        clock.shift(timedelta(minutes=5))
        dose(nurse, clinic_a, iv_session, "resume", "d4", rate_ml_per_h="3")
        clock.shift(timedelta(minutes=10))
        p = actions.progress_for(iv_session)
        # 10 min at 5.3 + 10 min at 3 + 10 min at 3 mL/h = 0.883 + 1.0 mL = 1.88 mL (10 mg/mL)
        assert p.given_ml == D("1.88") and p.given_mg == D("18.8") and p.running
        dose(nurse, clinic_a, iv_session, "stop", "d5", reason="dissociation too strong")
    iv_session.refresh_from_db()
    assert iv_session.state == "recovery"
    assert list(Transition.objects.filter(session=iv_session).values_list("to_state", flat=True))[-4:] == [
        "dosing",
        "paused",
        "dosing",
        "recovery",
    ]
    entries = AuditEntry.objects.filter(action="infusions.dose.record")
    assert entries.count() == 5 and entries.last().detail["event"]["kind"] == "stop"
    dose_events = Event.objects.filter(type="dose", channel=f"session:{iv_session.pk}")
    assert dose_events.count() == 5 and dose_events.last().payload["progress"]["given_mg"] == "18.8"


def test_refused_start_names_the_failed_gate_and_writes_nothing(frontdesk, nurse, clinic_a, iv_order):
    from tests.infusions.conftest import scheduled

    session = scheduled(frontdesk, nurse, clinic_a, iv_order)
    actions.transition(user=nurse, clinic=clinic_a, session=session, to="checked_in")
    with pytest.raises(ValidationError) as exc:
        dose(nurse, clinic_a, session, "start", "x1")
    assert "The session is checked in; it cannot move to dosing" in exc.value.message_dict["state"][0]
    assert not DosingEvent.objects.exists()
    session.refresh_from_db()
    assert session.state == "checked_in"


def test_esketamine_devices_with_times_and_observation_from_first_device(nasal_session, nurse, clinic_a):
    with time_machine.travel(nasal_session.state_changed_at + timedelta(seconds=5), tick=False) as clock:
        dose(nurse, clinic_a, nasal_session, "start", "n0")
        first, _ = dose(nurse, clinic_a, nasal_session, "device", "n1", lot_number="LOT42")
        assert (first.mg, first.device_number, first.lot_number) == (D("28.0"), 1, "LOT42")
        clock.shift(timedelta(minutes=3))
        with pytest.raises(ValidationError) as exc:
            dose(nurse, clinic_a, nasal_session, "device", "n2")
        assert "Wait 5 min between devices" in exc.value.message_dict["at"][0]
        clock.shift(timedelta(minutes=2))
        dose(nurse, clinic_a, nasal_session, "device", "n2")
        with pytest.raises(ValidationError, match="All 2 devices"):
            clock.shift(timedelta(minutes=5))
            dose(nurse, clinic_a, nasal_session, "device", "n3")
        p = actions.progress_for(nasal_session)
        assert (p.devices_given, p.given_mg, p.time_remaining_min) == (2, D("56.0"), 0.0)
        proto = actions.session_protocol(nasal_session)
        assert actions.observation_from(nasal_session, proto) == first.at


def test_dosing_needs_the_run_role_and_the_clinic(iv_session, personas, clinic_a, clinic_b):
    with pytest.raises(PermissionDenied):
        dose(personas["frontdesk"], clinic_a, iv_session, "start", "k")
    with pytest.raises(PermissionDenied):
        dose(personas["outsider"], clinic_a, iv_session, "start", "k")
    with pytest.raises(ValidationError) as exc:
        dose(personas["outsider"], clinic_b, iv_session, "start", "k")
    assert "session" in exc.value.message_dict
    assert not DosingEvent.objects.exists()


def test_same_key_for_another_kind_is_refused(iv_session, nurse, clinic_a):
    dose(nurse, clinic_a, iv_session, "start", "same")
    with pytest.raises(ValidationError) as exc:
        dose(nurse, clinic_a, iv_session, "stop", "same")
    assert "idempotency_key" in exc.value.message_dict


def test_check_all_replays_a_corrected_sequence():
    start = pump.Dose("start", at(0), rate_ml_per_h=D("5.25"))
    pause, resume = pump.Dose("pause", at(10)), pump.Dose("resume", at(15))
    assert pump.check_all(IV, [start, pause, resume]) == (None, {})
    # A pause corrected to after the resume: the resume no longer fits.
    late_pause = pump.Dose("pause", at(20))
    bad, why = pump.check_all(IV, [start, late_pause, resume])
    assert bad is resume and why == {"kind": "The infusion is not paused."}
    # A bolus corrected upward past the signed total.
    bad, why = pump.check_all(IV, [start, pump.Dose("bolus", at(5), mg=D("36"))])
    assert bad.kind == "bolus" and "above the 35 mg" in why["mg"]
    im = pump.OrderPlan("im", D("35"), D("35"))
    assert pump.check(im, [], pump.Dose("start", at(0), mg=D("40"))) == {
        "mg": "40 mg is above the 35 mg of the signed order."
    }


def test_the_docstring_examples_of_dosing_run():
    import doctest

    result = doctest.testmod(pump)
    assert result.attempted >= 3 and result.failed == 0
