"""Background checks: overdue observations and escalation of unacknowledged alerts, with no page open."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.events.models import Event
from ketaclinic.infusions import actions, tasks
from ketaclinic.infusions.models import Alert
from tests.infusions.conftest import VITALS


def test_unacknowledged_alert_escalates_once_after_the_configured_time(iv_session, nurse, clinic_a, settings):
    settings.INFUSIONS_ESCALATE_AFTER_MINUTES = 3
    actions.record_dosing_event(
        user=nurse, clinic=clinic_a, session=iv_session, kind="start", idempotency_key="s"
    )
    actions.record_observation(
        user=nurse,
        clinic=clinic_a,
        session=iv_session,
        kind="vitals",
        data=VITALS | {"systolic_mmhg": 190, "diastolic_mmhg": 100},
        idempotency_key="hi",
    )
    alert = Alert.objects.get(code="bp_severe")
    assert actions.escalate_alerts(now=alert.raised_at + timedelta(minutes=2)) == []
    at = alert.raised_at + timedelta(minutes=3, seconds=1)
    done = actions.escalate_alerts(now=at)
    assert {a.code for a in done} == {"bp_severe", "bp_rise"}  # the rise from baseline is open too
    alert.refresh_from_db()
    assert alert.escalated_at == at
    assert actions.escalate_alerts(now=alert.raised_at + timedelta(minutes=10)) == []
    assert AuditEntry.objects.filter(action="infusions.alert.escalate").count() == 2
    assert Event.objects.filter(type="alert_escalated", channel=f"floor:{clinic_a.pk}").count() == 2


def test_acknowledged_alert_is_not_escalated(iv_session, nurse, clinic_a):
    actions.record_dosing_event(
        user=nurse, clinic=clinic_a, session=iv_session, kind="start", idempotency_key="s"
    )
    actions.record_observation(
        user=nurse,
        clinic=clinic_a,
        session=iv_session,
        kind="vitals",
        data=VITALS | {"spo2_pct": 88},
        idempotency_key="lo",
    )
    alert = Alert.objects.get(code="spo2_critical")
    actions.acknowledge_alert(user=nurse, clinic=clinic_a, alert=alert, action_taken="Oxygen on")
    assert actions.escalate_alerts(now=timezone.now() + timedelta(hours=1)) == []


def test_periodic_task_raises_overdue_vitals_from_the_protocol_schedule(iv_session, nurse, clinic_a):
    actions.record_dosing_event(
        user=nurse, clinic=clinic_a, session=iv_session, kind="start", idempotency_key="s"
    )
    # IV protocol: vitals every 10 min while dosing (clinical.md §1.4 [S6]); 5 min grace.
    result = actions.run_checks(now=timezone.now() + timedelta(minutes=16))
    assert result["overdue"] == 1
    assert Alert.objects.filter(session=iv_session, code="overdue_vitals").count() == 1
    assert tasks.periodic_checks()["overdue"] == 0  # now: nothing due yet
