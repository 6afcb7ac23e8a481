"""Per-request context: the idle timeout, the active clinic and its time zone; no caching of answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.access import signed_out
from ketaclinic.accounts.models import Membership
from ketaclinic.web import Middleware

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
        if (forced := _password_first(request)) is not None:
            return forced
        membership = active_membership(request)
        request.membership = membership  # type: ignore[attr-defined]
        request.clinic = membership.clinic if membership else None  # type: ignore[attr-defined]
        if membership is not None:
            timezone.activate(membership.clinic.tz)
        else:
            timezone.deactivate()
        return self.get_response(request)


# What a user whose password an admin reset may still open: the page to choose their own, and the
# way out. The JSON API is not a page: its signatures check the flag (actions.reauthenticate).
PASSWORD_FIRST_OPEN = (
    "accounts-password",
    "accounts-logout",
    "accounts-login",
    "accounts-keepalive",
    "healthz",
)


def _password_first(request: HttpRequest) -> HttpResponse | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not getattr(user, "must_change_password", False):
        return None
    if request.path.startswith("/api/") or request.path in {reverse(n) for n in PASSWORD_FIRST_OPEN}:
        return None
    if request.headers.get("HX-Request"):
        return signed_out()
    messages.warning(request, "An admin reset your password: choose your own before you go on.")
    return redirect("accounts-password")


class NoStoreMiddleware(Middleware):
    """Every page and API answer is kept out of browser and proxy caches (``Cache-Control:
    no-store``): a chart left in a shared tablet's cache, or the back button after sign-out, must
    not show a patient's record. Static files (WhiteNoise, earlier in the chain) keep their long
    cache; an answer that sets its own Cache-Control keeps it."""

    def finish(self, response: Any) -> Any:
        return _no_store(response)


def _no_store(response: HttpResponseBase) -> HttpResponseBase:
    if "Cache-Control" not in response:
        response["Cache-Control"] = "no-store"
    return response
