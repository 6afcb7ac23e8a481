"""What the task worker runs with no page open: overdue observations and escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ketaclinic.audit.actions import record
from ketaclinic.infusions.actions.alerts import check_overdue
from ketaclinic.infusions.actions.common import announce
from ketaclinic.infusions.models import (
    Alert,
    Session,
    SessionState,
)

# No published value: a local default (unconfirmed), set per clinic with
# KETACLINIC_ESCALATE_AFTER_MINUTES (settings.INFUSIONS_ESCALATE_AFTER_MINUTES).
DEFAULT_ESCALATE_AFTER = timedelta(minutes=5)


def escalate_alerts(*, now: datetime | None = None, after: timedelta | None = None) -> list[Alert]:
    """Mark alerts still unacknowledged ``after`` their raising as escalated to the prescriber.

    Each escalation is audited and published (type ``alert_escalated``) on the session and floor
    channels, where the prescriber's pages show it. Idempotent: an escalated alert is not escalated again.
    """
    from django.conf import settings

    now = now or timezone.now()
    minutes = getattr(settings, "INFUSIONS_ESCALATE_AFTER_MINUTES", None)
    after = after or (timedelta(minutes=minutes) if minutes else DEFAULT_ESCALATE_AFTER)
    escalated: list[Alert] = []
    due = Alert.objects.filter(
        acknowledged_at__isnull=True, escalated_at__isnull=True, raised_at__lte=now - after
    )
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            alert = Alert.objects.select_for_update().select_related("session__clinic").get(pk=pk)
            if alert.acknowledged_at is not None or alert.escalated_at is not None:
                continue
            alert.escalated_at = now
            alert.save(update_fields=["escalated_at"])
            record(
                "infusions.alert.escalate",
                clinic=alert.session.clinic,
                obj=alert,
                patient_id=alert.session.patient_id,
                detail={"code": alert.code, "after_min": int(after.total_seconds() // 60)},
            )
            announce(alert.session, {"type": "alert_escalated", "alert": alert.to_dict()})
            escalated.append(alert)
    return escalated


def run_checks(now: datetime | None = None) -> dict[str, int]:
    """The periodic task: overdue observations on every dosing or recovering session, then escalation."""
    now = now or timezone.now()
    overdue = 0
    live = Session.objects.filter(state__in=[SessionState.DOSING, SessionState.PAUSED, SessionState.RECOVERY])
    for session in live.select_related("clinic", "dose_order"):
        overdue += len(check_overdue(session=session, now=now))
    return {"overdue": overdue, "escalated": len(escalate_alerts(now=now))}
