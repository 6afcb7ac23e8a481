"""The session state machine: states, the legal transitions, and a guard per transition.

Pure: no database. The action layer gathers plain ``Facts`` about a session (is the order signed,
when were the pre-dose vitals taken, ...) and asks ``check(current, target, facts)``, which

- raises ``IllegalTransition`` (naming the current state) if the move is not in ``TRANSITIONS``;
- otherwise returns the guard's list of failed conditions, in plain words; empty means go.

    scheduled -> checked_in -> predose_done -> dosing <-> paused
                                                 |          |
                                                 +-> recovery <-+ -> discharged
    any state that is not final -> aborted (with a reason)

Defaults for the pre-dose gates cite reference/clinical.md; the protocol (issue 4) overrides them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    SCHEDULED = "scheduled"
    CHECKED_IN = "checked_in"
    PREDOSE_DONE = "predose_done"
    DOSING = "dosing"
    PAUSED = "paused"
    RECOVERY = "recovery"
    DISCHARGED = "discharged"
    ABORTED = "aborted"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS: dict[State, str] = {
    State.SCHEDULED: "scheduled",
    State.CHECKED_IN: "checked in",
    State.PREDOSE_DONE: "pre-dose assessment done",
    State.DOSING: "dosing",
    State.PAUSED: "paused",
    State.RECOVERY: "recovery",
    State.DISCHARGED: "discharged",
    State.ABORTED: "aborted",
}

FINAL = frozenset({State.DISCHARGED, State.ABORTED})
# States in which the patient is in a chair and shows on the floor board.
ACTIVE = frozenset({State.CHECKED_IN, State.PREDOSE_DONE, State.DOSING, State.PAUSED, State.RECOVERY})
# Drug has (or may have) been given: the patient must be observed before leaving.
DOSED = frozenset({State.DOSING, State.PAUSED, State.RECOVERY})

# Abort is possible from every state that is not final: before dosing (patient unwell, BP too high
# on the day), and after (transfer to an emergency department). After drug was given the reason
# says where the patient went; stopping the infusion and observing is `recovery`, not `aborted`.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.SCHEDULED: frozenset({State.CHECKED_IN, State.ABORTED}),
    State.CHECKED_IN: frozenset({State.PREDOSE_DONE, State.ABORTED}),
    State.PREDOSE_DONE: frozenset({State.DOSING, State.ABORTED}),
    State.DOSING: frozenset({State.PAUSED, State.RECOVERY, State.ABORTED}),
    State.PAUSED: frozenset({State.DOSING, State.RECOVERY, State.ABORTED}),
    State.RECOVERY: frozenset({State.DISCHARGED, State.ABORTED}),
    State.DISCHARGED: frozenset(),
    State.ABORTED: frozenset(),
}


class IllegalTransition(ValueError):
    """A move the state machine does not allow. The message names the current state."""

    def __init__(self, current: State, target: State) -> None:
        self.current, self.target = current, target
        allowed = ", ".join(s.label for s in sorted(TRANSITIONS[current], key=list(State).index))
        where = f"from {current.label} it can go to: {allowed}" if allowed else f"{current.label} is final"
        super().__init__(f"The session is {current.label}; it cannot move to {target.label} ({where}).")


@dataclass(frozen=True)
class Vitals:
    """One set of vital signs; any value may be missing (None)."""

    taken_at: datetime
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None
    heart_rate_bpm: int | None = None
    spo2_pct: int | None = None
    resp_rate_per_min: int | None = None


@dataclass(frozen=True)
class PredoseGates:
    """Limits the pre-dose vitals must meet before dosing may start. A value of None is no gate.

    Defaults, reference/clinical.md:
    - 140/90 mmHg: Spravato monograph, "consider delaying therapy if >140/90" (§2.2 [S30]); the
      same numbers are attributed to Sanacora 2017 as a pre-infusion caution (§1.1, unconfirmed).
      The exact current label text is unconfirmed: a configurable default, flagged.
    - heart rate 110/min: attributed to Sanacora 2017 as an in-infusion hold (§1.1 [S3]),
      unconfirmed; flagged.
    - SpO2 above 92 %: the modified Aldrete full-score level on room air (§3.1 [S40]).
    """

    max_systolic_mmhg: int | None = 140
    max_diastolic_mmhg: int | None = 90
    max_heart_rate_bpm: int | None = 110
    min_spo2_pct: int | None = 93
    # Minutes before the start of dosing within which the pre-dose vitals must have been taken.
    # No published value; a local default (unconfirmed), configurable per protocol.
    window: timedelta = timedelta(minutes=30)

    UNCONFIRMED = ("max_systolic_mmhg", "max_diastolic_mmhg", "max_heart_rate_bpm", "window")


def gate_failures(vitals: Vitals | None, gates: PredoseGates, now: datetime) -> list[str]:
    """Plain-word reasons the pre-dose vitals do not allow dosing; empty when they do."""
    if vitals is None:
        return ["no pre-dose vital signs recorded"]
    failures: list[str] = []
    age = now - vitals.taken_at
    minutes = int(gates.window.total_seconds() // 60)
    if age > gates.window:
        failures.append(
            f"pre-dose vital signs are {int(age.total_seconds() // 60)} min old; "
            f"they must be taken within {minutes} min before dosing"
        )
    if age < -timedelta(minutes=5):
        failures.append("pre-dose vital signs are timed in the future")
    checks: list[tuple[str, int | None, int | None, str]] = [
        ("systolic blood pressure", vitals.systolic_mmhg, gates.max_systolic_mmhg, "mmHg"),
        ("diastolic blood pressure", vitals.diastolic_mmhg, gates.max_diastolic_mmhg, "mmHg"),
        ("heart rate", vitals.heart_rate_bpm, gates.max_heart_rate_bpm, "/min"),
    ]
    for name, value, limit, unit in checks:
        if limit is None:
            continue
        if value is None:
            failures.append(f"pre-dose {name} not recorded")
        elif value > limit:
            failures.append(f"pre-dose {name} {value} {unit} is above the gate of {limit} {unit}")
    if gates.min_spo2_pct is not None:
        if vitals.spo2_pct is None:
            failures.append("pre-dose SpO2 not recorded")
        elif vitals.spo2_pct < gates.min_spo2_pct:
            failures.append(f"pre-dose SpO2 {vitals.spo2_pct} % is below the gate of {gates.min_spo2_pct} %")
    return failures


@dataclass(frozen=True)
class Facts:
    """What the guards need to know about one session, as plain values gathered by the caller."""

    now: datetime
    # check-in
    other_active_session: bool = False
    # dosing
    order_signed: bool = False
    order_double_checked: bool = False
    eligibility_current: bool = False
    consent_recorded: bool = False
    escort_confirmed: bool = False
    predose_vitals: Vitals | None = None
    gates: PredoseGates = field(default_factory=PredoseGates)
    # discharge: observation is counted from `observation_from` (the protocol decides: the first
    # esketamine device, or the end of an IV infusion) for at least `min_observation`.
    observation_from: datetime | None = None
    min_observation: timedelta = timedelta(hours=2)
    discharge_failures: tuple[str, ...] | None = None  # None: checklist not evaluated yet
    # pause / abort
    reason: str = ""


def guard_check_in(facts: Facts) -> list[str]:
    if facts.other_active_session:
        return ["the patient already has another active session; finish or abort it first"]
    return []


def guard_predose_done(facts: Facts) -> list[str]:
    return gate_failures(facts.predose_vitals, facts.gates, facts.now)


def guard_start_dosing(facts: Facts) -> list[str]:
    failures: list[str] = []
    if not facts.order_signed:
        failures.append("no signed dose order")
    if not facts.order_double_checked:
        failures.append("the dose order has not passed the independent double check")
    if not facts.eligibility_current:
        failures.append("eligibility screening is not current")
    if not facts.consent_recorded:
        failures.append("no consent recorded")
    if not facts.escort_confirmed:
        failures.append("escort home not confirmed")
    return failures + gate_failures(facts.predose_vitals, facts.gates, facts.now)


def guard_pause(facts: Facts) -> list[str]:
    return [] if facts.reason.strip() else ["a reason for the pause is required"]


def guard_resume(facts: Facts) -> list[str]:
    return []


def guard_stop(facts: Facts) -> list[str]:
    return []


def guard_discharge(facts: Facts) -> list[str]:
    failures: list[str] = []
    if facts.observation_from is None:
        failures.append("observation start time unknown (no dosing recorded)")
    else:
        elapsed = facts.now - facts.observation_from
        if elapsed < facts.min_observation:
            need = int(facts.min_observation.total_seconds() // 60)
            done = max(0, int(elapsed.total_seconds() // 60))
            failures.append(
                f"minimum observation time of {need} min not reached ({done} min so far, {need - done} to go)"
            )
    if facts.discharge_failures is None:
        failures.append("discharge criteria have not been assessed")
    else:
        failures.extend(facts.discharge_failures)
    return failures


def guard_abort(facts: Facts) -> list[str]:
    return [] if facts.reason.strip() else ["a reason for aborting is required"]


Guard = Callable[[Facts], list[str]]

# One guard per legal (from, to) pair; resuming (paused -> dosing) re-checks nothing: the order and
# vitals were checked at the start and observations continue during the pause.
GUARDS: dict[tuple[State, State], Guard] = {
    (State.SCHEDULED, State.CHECKED_IN): guard_check_in,
    (State.CHECKED_IN, State.PREDOSE_DONE): guard_predose_done,
    (State.PREDOSE_DONE, State.DOSING): guard_start_dosing,
    (State.DOSING, State.PAUSED): guard_pause,
    (State.PAUSED, State.DOSING): guard_resume,
    (State.DOSING, State.RECOVERY): guard_stop,
    (State.PAUSED, State.RECOVERY): guard_stop,
    (State.RECOVERY, State.DISCHARGED): guard_discharge,
    **{(s, State.ABORTED): guard_abort for s in State if s not in FINAL},
}


def check(current: State | str, target: State | str, facts: Facts) -> list[str]:
    """Failed conditions for moving ``current`` -> ``target``; raises ``IllegalTransition``.

    >>> from datetime import UTC
    >>> now = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    >>> check("scheduled", "checked_in", Facts(now=now))
    []
    >>> check("recovery", "discharged", Facts(now=now, observation_from=now - timedelta(minutes=90),
    ...                                         discharge_failures=()))
    ['minimum observation time of 120 min not reached (90 min so far, 30 to go)']
    """
    current, target = State(current), State(target)
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current, target)
    return GUARDS[(current, target)](facts)


def allowed_targets(current: State | str) -> list[State]:
    return sorted(TRANSITIONS[State(current)], key=list(State).index)
