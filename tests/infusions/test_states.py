"""The session state machine, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ketaclinic.infusions.states import (
    FINAL,
    GUARDS,
    TRANSITIONS,
    Facts,
    IllegalTransition,
    PredoseGates,
    State,
    Vitals,
    allowed_targets,
    check,
)

NOW = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
GOOD_VITALS = Vitals(NOW - timedelta(minutes=10), 128, 82, 72, 98, 14)


def ready_to_dose(**changes):
    base = dict(
        now=NOW,
        order_signed=True,
        order_double_checked=True,
        eligibility_current=True,
        consent_recorded=True,
        escort_confirmed=True,
        predose_vitals=GOOD_VITALS,
    )
    return Facts(**(base | changes))


def test_every_legal_transition_has_a_guard_and_final_states_lead_nowhere():
    legal = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert legal == set(GUARDS)
    assert all(not TRANSITIONS[s] for s in FINAL)
    # Every state except the final ones can be aborted.
    assert {a for a, b in legal if b == State.ABORTED} == set(State) - FINAL


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("scheduled", "dosing"),
        ("checked_in", "dosing"),
        ("dosing", "discharged"),
        ("recovery", "dosing"),
        ("discharged", "aborted"),
        ("aborted", "checked_in"),
    ],
)
def test_illegal_transition_names_the_current_state(current, target):
    with pytest.raises(IllegalTransition) as exc:
        check(current, target, Facts(now=NOW, reason="x"))
    assert f"The session is {State(current).label}" in str(exc.value)
    assert exc.value.current == State(current)


def test_illegal_message_lists_where_it_can_go():
    with pytest.raises(IllegalTransition, match="from dosing it can go to: paused, recovery, aborted"):
        check("dosing", "discharged", Facts(now=NOW))
    with pytest.raises(IllegalTransition, match="discharged is final"):
        check("discharged", "recovery", Facts(now=NOW))


def test_start_dosing_passes_when_everything_is_in_place():
    assert check("predose_done", "dosing", ready_to_dose()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"order_signed": False}, "no signed dose order"),
        ({"order_double_checked": False}, "the dose order has not passed the independent double check"),
        ({"eligibility_current": False}, "eligibility screening is not current"),
        ({"consent_recorded": False}, "no consent recorded"),
        ({"escort_confirmed": False}, "escort home not confirmed"),
        ({"predose_vitals": None}, "no pre-dose vital signs recorded"),
    ],
)
def test_start_dosing_names_each_failed_condition(change, message):
    assert check("predose_done", "dosing", ready_to_dose(**change)) == [message]


def test_start_dosing_lists_all_failures_at_once():
    failures = check("predose_done", "dosing", Facts(now=NOW))
    assert len(failures) == 6


def test_predose_vitals_window_boundary():
    gates = PredoseGates(window=timedelta(minutes=30))
    at_limit = Vitals(NOW - timedelta(minutes=30), 120, 80, 70, 98)
    too_old = Vitals(NOW - timedelta(minutes=31), 120, 80, 70, 98)
    assert check("predose_done", "dosing", ready_to_dose(predose_vitals=at_limit, gates=gates)) == []
    assert check("predose_done", "dosing", ready_to_dose(predose_vitals=too_old, gates=gates)) == [
        "pre-dose vital signs are 31 min old; they must be taken within 30 min before dosing"
    ]


@pytest.mark.parametrize(
    ("vitals", "message"),
    [
        (
            Vitals(NOW, 141, 80, 70, 98),
            "pre-dose systolic blood pressure 141 mmHg is above the gate of 140 mmHg",
        ),
        (
            Vitals(NOW, 130, 91, 70, 98),
            "pre-dose diastolic blood pressure 91 mmHg is above the gate of 90 mmHg",
        ),
        (Vitals(NOW, 130, 80, 111, 98), "pre-dose heart rate 111 /min is above the gate of 110 /min"),
        (Vitals(NOW, 130, 80, 70, 92), "pre-dose SpO2 92 % is below the gate of 93 %"),
        (Vitals(NOW, None, None, 70, 98), "pre-dose systolic blood pressure not recorded"),
    ],
)
def test_predose_gates(vitals, message):
    assert message in check("checked_in", "predose_done", Facts(now=NOW, predose_vitals=vitals))


def test_gates_at_their_limits_pass_and_a_protocol_may_open_a_gate():
    assert (
        check("checked_in", "predose_done", Facts(now=NOW, predose_vitals=Vitals(NOW, 140, 90, 110, 93)))
        == []
    )
    open_hr = PredoseGates(max_heart_rate_bpm=None)
    facts = Facts(now=NOW, predose_vitals=Vitals(NOW, 130, 80, 140, 98), gates=open_hr)
    assert check("checked_in", "predose_done", facts) == []


def test_vitals_from_the_future_are_refused():
    facts = Facts(now=NOW, predose_vitals=Vitals(NOW + timedelta(minutes=20), 120, 80, 70, 98))
    assert check("checked_in", "predose_done", facts) == ["pre-dose vital signs are timed in the future"]


def test_discharge_waits_for_minimum_observation_and_criteria():
    start = NOW - timedelta(minutes=119)
    early = Facts(now=NOW, observation_from=start, discharge_failures=())
    assert check("recovery", "discharged", early) == [
        "minimum observation time of 120 min not reached (119 min so far, 1 to go)"
    ]
    on_time = Facts(now=NOW, observation_from=NOW - timedelta(minutes=120), discharge_failures=())
    assert check("recovery", "discharged", on_time) == []
    unassessed = Facts(now=NOW, observation_from=NOW - timedelta(hours=3))
    assert check("recovery", "discharged", unassessed) == ["discharge criteria have not been assessed"]
    failing = Facts(
        now=NOW, observation_from=NOW - timedelta(hours=3), discharge_failures=("Steady gait: no",)
    )
    assert check("recovery", "discharged", failing) == ["Steady gait: no"]


def test_abort_and_pause_need_a_reason():
    assert check("dosing", "aborted", Facts(now=NOW)) == ["a reason for aborting is required"]
    assert check("dosing", "aborted", Facts(now=NOW, reason="  ")) == ["a reason for aborting is required"]
    assert check("dosing", "aborted", Facts(now=NOW, reason="transferred to ED")) == []
    assert check("dosing", "paused", Facts(now=NOW)) == ["a reason for the pause is required"]
    assert check("paused", "dosing", Facts(now=NOW)) == []


def test_check_in_refused_while_another_session_is_active():
    assert check("scheduled", "checked_in", Facts(now=NOW, other_active_session=True)) == [
        "the patient already has another active session; finish or abort it first"
    ]


def test_allowed_targets_in_state_order():
    assert allowed_targets("paused") == [State.DOSING, State.RECOVERY, State.ABORTED]


def test_unknown_state_is_a_value_error():
    with pytest.raises(ValueError):
        check("sleeping", "dosing", Facts(now=NOW))
