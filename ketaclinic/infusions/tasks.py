"""Tasks for the worker (django-q2) and the schedule that runs them (docs/operations.md).

``periodic_checks`` runs every ``INFUSIONS_CHECK_EVERY_MINUTES`` (1 by default) from the django-q2
schedule named ``CHECKS_SCHEDULE``. ``ensure_schedule`` creates or updates that schedule from the
settings; it runs after every ``migrate`` and whenever ``ketaclinic worker`` starts, so a changed
interval takes effect at the next start, without a migration.
"""

from __future__ import annotations

from typing import Any

from ketaclinic.infusions import actions

CHECKS_SCHEDULE = "infusions.periodic_checks"
CHECKS_FUNC = "ketaclinic.infusions.tasks.periodic_checks"


def periodic_checks() -> dict[str, int]:
    """Raise overdue-observation alerts and escalate unacknowledged ones, with no page open."""
    return actions.run_checks()


def ensure_schedule(*, using: str = "default") -> tuple[Any, bool]:
    """Create or update the periodic-check schedule from the settings; returns (schedule, changed).

    Idempotent: a second call with the same settings writes nothing. A new schedule is due at once;
    a changed interval keeps the next run already planned unless it is further away than the new one.
    """
    from datetime import timedelta

    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone
    from django_q.models import Schedule

    minutes = int(settings.INFUSIONS_CHECK_EVERY_MINUTES)
    with transaction.atomic(using=using):
        schedule = Schedule.objects.using(using).select_for_update().filter(name=CHECKS_SCHEDULE).first()
        if schedule is None:
            schedule = Schedule(name=CHECKS_SCHEDULE, next_run=timezone.now())
        wanted = {"func": CHECKS_FUNC, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
        changed = schedule.pk is None or any(getattr(schedule, k) != v for k, v in wanted.items())
        if not changed:
            return schedule, False
        for key, value in wanted.items():
            setattr(schedule, key, value)
        soonest = timezone.now() + timedelta(minutes=minutes)
        if schedule.next_run is None or schedule.next_run > soonest:
            schedule.next_run = soonest
        schedule.save(using=using)
    return schedule, True


def ensure_schedule_after_migrate(using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver: the schedule exists once django_q's tables do (not on a partial migrate)."""
    from django.db import connections

    if "django_q_schedule" in connections[using].introspection.table_names():
        ensure_schedule(using=using)
