from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from ketaclinic.accounts.access import PERMISSIONS, has_permission


def clinic(request: HttpRequest) -> dict[str, Any]:
    membership = getattr(request, "membership", None)
    can = {perm.replace(".", "_"): has_permission(membership, perm) for perm in PERMISSIONS}
    # Templates read dotted names as lookups, so `patients.view` is offered as `can.patients_view`.
    return {
        "membership": membership,
        "clinic": getattr(request, "clinic", None),
        "can": can,
        # static/ketaclinic/session.js warns two minutes before the idle sign-out.
        "idle_minutes": settings.IDLE_TIMEOUT_MINUTES,
    }
