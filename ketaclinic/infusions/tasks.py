"""Tasks for the worker (django-q2): ``ketaclinic.infusions.tasks.periodic_checks`` runs every minute."""

from __future__ import annotations

from ketaclinic.infusions import actions


def periodic_checks() -> dict[str, int]:
    """Raise overdue-observation alerts and escalate unacknowledged ones, with no page open."""
    return actions.run_checks()
