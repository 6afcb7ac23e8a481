"""The infusion session's actions: every write (and every audited read) of the live session.

HTML views and the JSON API call these functions and nothing else to change a session; each checks
the role (``accounts.access.require``) and the clinic, validates, writes in one transaction, appends
the audit entry and publishes the live event. Split by topic (Zulip's ``zerver/actions`` style):

- ``sessions``: scheduling, check-in to discharge along the state machine, the audited read;
- ``observations``: recording, correcting and withdrawing observations;
- ``alerts``: the alert rules applied to stored observations, overdue checks, acknowledgement;
- ``dosing``: linking the order, dosing events and their corrections;
- ``checks``: what the task worker runs with no page open;
- ``queries``: reads that write nothing (the order plan, progress, the discharge assessment).
"""

from __future__ import annotations

from ketaclinic.infusions.actions.alerts import acknowledge_alert, check_overdue
from ketaclinic.infusions.actions.checks import DEFAULT_ESCALATE_AFTER, escalate_alerts, run_checks
from ketaclinic.infusions.actions.common import (
    ALREADY_CORRECTED,
    CLOCK_SKEW,
    IS_WITHDRAWAL,
    MAX_BACKDATE,
    MAX_KEY,
    MAX_REASON,
)
from ketaclinic.infusions.actions.dosing import (
    AMOUNT_KINDS,
    DOSE_TRANSITIONS,
    MG_KINDS,
    RATE_KINDS,
    STORED_STEP,
    correct_dosing_event,
    link_order,
    record_dosing_event,
)
from ketaclinic.infusions.actions.observations import (
    Recorded,
    correct_observation,
    record_observation,
    withdraw_observation,
)
from ketaclinic.infusions.actions.queries import (
    discharge_assessment,
    dose_events,
    dosing_started_at,
    gather_facts,
    observation_from,
    order_plan,
    predose_vitals,
    progress_for,
    schedule,
    session_protocol,
)
from ketaclinic.infusions.actions.sessions import confirm_escort, schedule_session, transition, view_session

__all__ = [
    "ALREADY_CORRECTED",
    "AMOUNT_KINDS",
    "CLOCK_SKEW",
    "DEFAULT_ESCALATE_AFTER",
    "DOSE_TRANSITIONS",
    "IS_WITHDRAWAL",
    "MAX_BACKDATE",
    "MAX_KEY",
    "MAX_REASON",
    "MG_KINDS",
    "RATE_KINDS",
    "Recorded",
    "STORED_STEP",
    "acknowledge_alert",
    "check_overdue",
    "confirm_escort",
    "correct_dosing_event",
    "correct_observation",
    "discharge_assessment",
    "dose_events",
    "dosing_started_at",
    "escalate_alerts",
    "gather_facts",
    "link_order",
    "observation_from",
    "order_plan",
    "predose_vitals",
    "progress_for",
    "record_dosing_event",
    "record_observation",
    "run_checks",
    "schedule",
    "schedule_session",
    "session_protocol",
    "transition",
    "view_session",
    "withdraw_observation",
]
