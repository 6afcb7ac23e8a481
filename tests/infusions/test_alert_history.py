"""The alert rules read one thing of a session's history, its baseline blood pressure; the action
fetches just that (one bounded query, ``actions._baseline``). These tests hold it to what the rules
give over the whole history (``alerts.evaluate(history=..., dosing_started_at=...)``, as the action
used to call them) on sessions built to tell the two apart: readings at the same moment, corrected
readings, readings entered late for before dosing started, a corrected start time, and a session
whose start is known only from its state history.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from ketaclinic.infusions import actions
from ketaclinic.infusions import alert_rules as rules
from ketaclinic.infusions.actions import alerts as alert_actions
from ketaclinic.infusions.models import Alert, Kind, Observation, Session, SessionState, Transition
from tests.infusions.conftest import VITALS


def whole_history_alerts(session, obs):
    """What the rules give with the session's whole vitals history (the action's former reading)."""
    history = [
        alert_actions._reading(o)
        for o in Observation.current().filter(session=session, kind=Kind.VITALS).exclude(pk=obs.pk)
    ]
    thresholds = actions.session_protocol(session).thresholds
    found = rules.evaluate(
        alert_actions._reading(obs),
        history=history,
        dosing_started_at=actions.dosing_started_at(session),
        thresholds=thresholds,
    )
    return [(a.code, a.message) for a in found]


def check(session, nurse, clinic, key, data, *, observed_at=None, corrects=None):
    """Record (or correct) an observation; its alerts must be those of the whole history."""
    if corrects is None:
        recorded = actions.record_observation(
            user=nurse,
            clinic=clinic,
            session=session,
            kind="vitals",
            data=data,
            idempotency_key=key,
            observed_at=observed_at,
        )
        (obs, created), raised = recorded, list(recorded.alerts)
    else:
        obs, created = actions.correct_observation(
            user=nurse, clinic=clinic, original=corrects, data=data, reason="re-measured", idempotency_key=key
        )
        raised = list(Alert.objects.filter(observation=obs).order_by("id"))
    assert created
    assert [(a.code, a.message) for a in raised] == whole_history_alerts(session, obs), key
    # Acknowledge them, so the next reading's alerts are not hidden as already open.
    for alert in Alert.objects.filter(session=session, acknowledged_at__isnull=True):
        actions.acknowledge_alert(user=nurse, clinic=clinic, alert=alert, action_taken="seen")
    return obs


def bp(systolic, diastolic):
    return VITALS | {"systolic_mmhg": systolic, "diastolic_mmhg": diastolic}


def test_ties_corrections_and_late_entries_pick_the_same_baseline(iv_session, nurse, clinic_a):
    ready = iv_session.state_changed_at
    with time_machine.travel(ready + timedelta(minutes=10), tick=False) as clock:
        # Two readings at the very same moment before dosing: the rules keep the first one stored.
        same = ready - timedelta(minutes=3)
        check(iv_session, nurse, clinic_a, "t1", bp(100, 60), observed_at=same)
        check(iv_session, nurse, clinic_a, "t2", bp(135, 90), observed_at=same)
        start, _ = actions.record_dosing_event(
            user=nurse, clinic=clinic_a, session=iv_session, kind="start", idempotency_key="s"
        )
        clock.shift(timedelta(minutes=5))
        # Baseline 100/60: +50 systolic is a rise (from 135/90 it would not be).
        check(iv_session, nurse, clinic_a, "d1", bp(150, 85))
        # Heart rate only: no blood pressure, no baseline needed.
        check(iv_session, nurse, clinic_a, "d2", {"heart_rate_bpm": 115})
        # Entered late, for a moment before dosing: it becomes the baseline of later readings...
        late = check(iv_session, nurse, clinic_a, "l1", bp(90, 55), observed_at=ready + timedelta(minutes=1))
        check(iv_session, nurse, clinic_a, "d3", bp(132, 70))
        # ...until it is corrected: the correction is the baseline, the corrected reading is not.
        check(iv_session, nurse, clinic_a, "l1-fix", bp(118, 76), corrects=late)
        check(iv_session, nurse, clinic_a, "d4", bp(160, 102))
        # A new reading entered for before dosing is not its own baseline.
        check(iv_session, nurse, clinic_a, "l2", bp(170, 100), observed_at=ready + timedelta(minutes=2))
        # Dosing started later than pressed: readings up to the corrected start count as baseline.
        actions.correct_dosing_event(
            user=nurse,
            clinic=clinic_a,
            original=start,
            reason="pressed early",
            idempotency_key="s-fix",
            at=start.at + timedelta(minutes=4),
        )
        check(iv_session, nurse, clinic_a, "d5", bp(150, 100))
        check(iv_session, nurse, clinic_a, "d6", bp(210, 125))


@pytest.mark.parametrize("seed", range(4))
def test_random_sessions_raise_the_alerts_of_the_whole_history(iv_session, nurse, clinic_a, seed):
    rng = random.Random(seed)
    ready = iv_session.state_changed_at
    with time_machine.travel(ready + timedelta(minutes=20), tick=False) as clock:
        current = []  # the observations not yet corrected
        for n in range(24):
            if n == 6:
                actions.record_dosing_event(
                    user=nurse, clinic=clinic_a, session=iv_session, kind="start", idempotency_key="s"
                )
            clock.shift(timedelta(seconds=rng.choice([0, 1, 30])))
            # Before the start, within the pre-dose gates (140/90), or dosing could not start.
            high = (140, 90) if n < 6 else (200, 125)
            systolic = rng.randrange(100, high[0])
            data = bp(systolic, rng.randrange(50, min(high[1], systolic - 10)))
            back = rng.choice([None, None, 0, 2, 15, 25, 60])
            if n < 6:  # the pre-dose reading the gates check: complete and recent
                back = rng.choice([None, 0, 2])
            elif rng.random() < 0.2:
                data = {"heart_rate_bpm": rng.randrange(40, 130)}
            observed_at = None if back is None else timezone.now() - timedelta(minutes=back)
            if current and rng.random() < 0.2:
                original = current.pop(rng.randrange(len(current)))
                current.append(check(iv_session, nurse, clinic_a, f"f{n}", data, corrects=original))
            else:
                current.append(check(iv_session, nurse, clinic_a, f"o{n}", data, observed_at=observed_at))


def test_a_start_known_only_from_the_state_history(iv_session, nurse, clinic_a):
    """Sessions moved to dosing before dosing events existed: the move's time is the start."""
    ready = iv_session.state_changed_at
    with time_machine.travel(ready + timedelta(minutes=10), tick=False):
        check(iv_session, nurse, clinic_a, "p1", bp(104, 64), observed_at=ready + timedelta(minutes=2))
        Transition.objects.create(
            session=iv_session,
            from_state=SessionState.PREDOSE_DONE,
            to_state=SessionState.DOSING,
            at=ready + timedelta(minutes=3),
            by=nurse,
        )
        Session.objects.filter(pk=iv_session.pk).update(state=SessionState.DOSING)
        check(iv_session, nurse, clinic_a, "p2", bp(110, 66), observed_at=ready + timedelta(minutes=4))
        check(iv_session, nurse, clinic_a, "d1", bp(150, 90))
