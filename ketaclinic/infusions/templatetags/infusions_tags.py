"""Small template helpers for the infusion pages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import template

register = template.Library()


@register.filter
def escalated_alerts(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The floor board's open alerts escalated to the prescriber, oldest first, with their row.

    ``{% with escalated=rows|escalated_alerts %}``: no query, the rows already hold their open alerts.
    """
    found = [
        {"row": row, "alert": alert}
        for row in rows
        for alert in row.get("alerts", ())
        if alert.escalated_at is not None and alert.acknowledged_at is None
    ]
    return sorted(found, key=lambda e: e["alert"].raised_at)


@register.filter
def any_escalated(alerts: Iterable[Any]) -> bool:
    """Whether any of these open alerts was escalated (marks the chair on the floor board)."""
    return any(a.escalated_at is not None and a.acknowledged_at is None for a in alerts)
