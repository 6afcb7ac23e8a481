"""Per-request context: the idle timeout, the active clinic and its time zone."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.access import signed_out
from ketaclinic.accounts.models import Membership

SESSION_CLINIC = "clinic_id"
SESSION_LAST_SEEN = "last_seen"


class IdleTimeoutMiddleware:
    """Sign out a browser session that has been idle longer than IDLE_TIMEOUT_MINUTES."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            last_seen = request.session.get(SESSION_LAST_SEEN)
            limit = settings.IDLE_TIMEOUT_MINUTES * 60
            if last_seen is not None and now - float(last_seen) > limit:
                logout(request)
                if request.headers.get("HX-Request"):
                    return signed_out()
                messages.info(
                    request,
                    f"You were signed out after {settings.IDLE_TIMEOUT_MINUTES} minutes without activity.",
                )
                return redirect(f"{reverse('accounts-login')}?next={request.path}")
            request.session[SESSION_LAST_SEEN] = now
        return self.get_response(request)


def active_membership(request: HttpRequest) -> Membership | None:
    """The membership the user works under now: the one chosen, or the only one they have."""
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = list(
        Membership.objects.filter(user=user, is_active=True).select_related("clinic").order_by("clinic__name")
    )
    chosen = request.session.get(SESSION_CLINIC) if hasattr(request, "session") else None
    for m in memberships:
        if m.clinic_id == chosen:
            return m
    return memberships[0] if len(memberships) == 1 else None


class ClinicMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = active_membership(request)
        request.membership = membership  # type: ignore[attr-defined]
        request.clinic = membership.clinic if membership else None  # type: ignore[attr-defined]
        if membership is not None:
            timezone.activate(membership.clinic.tz)
        else:
            timezone.deactivate()
        return self.get_response(request)
