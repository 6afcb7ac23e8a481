"""Who may do what, and in which clinic: enforced here and nowhere else.

Every view is wrapped by exactly one of four decorators (the JSON API's ``api_access`` is in
``accounts.api_access``):

- ``clinic_view(permission, load={...})``: signed in, holding an active role in the active clinic
  that grants ``permission``. Objects named in ``load`` are fetched *through the active clinic*
  (``Model.in_clinic(clinic)``), so a URL carrying another clinic's id is a 404, never a leak.
- ``async_clinic_view``: the same rules for async views (the live streams).
- ``user_view``: signed in, no clinic needed (choosing a clinic, changing one's password).
- ``public_view``: anyone (the sign-in page, the health check).

Each decorator stamps ``view.access``; a test walks every URL pattern and API operation and fails
on any that lacks it, then checks the whole role x clinic matrix against ``PERMISSIONS``.

Actions check again with ``require`` (the same rule, for callers that are not views: the API, the
CLI, the demo, the worker) and refuse a record of another clinic with ``same_clinic``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseForbidden
from django.shortcuts import redirect
from django.template.loader import render_to_string

from ketaclinic.accounts.models import Clinic, Membership, Role, User

PUBLIC = "public"
AUTHENTICATED = "authenticated"

CLINICAL = frozenset({Role.PRESCRIBER, Role.NURSE})
EVERYONE = frozenset(Role)
WRITERS = frozenset({Role.PRESCRIBER, Role.NURSE, Role.FRONTDESK, Role.ADMIN})

# permission -> roles that hold it. Auditors hold only read permissions.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "clinic.home": EVERYONE,
    "patients.list": EVERYONE,
    "patients.view": EVERYONE,
    # The clinical part of the chart (history, medications, screening) is not the front desk's business.
    "patients.view_clinical": CLINICAL | {Role.AUDITOR},
    "patients.register": WRITERS,
    "patients.edit_demographics": WRITERS,
    "patients.record_weight": CLINICAL,
    "patients.intake": CLINICAL,
    "patients.sign_screening": frozenset({Role.PRESCRIBER}),
    "patients.consent": CLINICAL,
    "consent.manage_texts": frozenset({Role.ADMIN}),
    "audit.view": frozenset({Role.ADMIN, Role.AUDITOR}),
    # Drug library, protocols, plans and dose orders (protocols app).
    "protocols.view": CLINICAL | {Role.ADMIN, Role.AUDITOR},
    "protocols.manage": frozenset({Role.ADMIN}),
    "protocols.manage_library": frozenset({Role.ADMIN}),
    # The second person of a library change (never its proposer): a medical director or an admin.
    "protocols.approve_library": frozenset({Role.PRESCRIBER, Role.ADMIN}),
    "plans.view": CLINICAL | {Role.AUDITOR},
    "plans.create": frozenset({Role.PRESCRIBER}),
    "plans.sign": frozenset({Role.PRESCRIBER}),
    "orders.view": CLINICAL | {Role.AUDITOR},
    "orders.create": frozenset({Role.PRESCRIBER}),
    "orders.sign": frozenset({Role.PRESCRIBER}),
    "orders.verify": frozenset({Role.NURSE}),
    "orders.handout": CLINICAL,
    "reports.limits": frozenset({Role.ADMIN, Role.AUDITOR}),
    "users.manage": frozenset({Role.ADMIN}),
    # Infusion sessions (infusions app). The front desk schedules chairs; clinicians run sessions.
    "infusions.view": CLINICAL | {Role.AUDITOR},
    # The schedule (chairs, times, names; no clinical values): front desk books and checks in from it.
    "infusions.list": CLINICAL | {Role.FRONTDESK, Role.AUDITOR},
    "infusions.board": CLINICAL | {Role.AUDITOR},
    "infusions.schedule": frozenset({Role.PRESCRIBER, Role.NURSE, Role.FRONTDESK}),
    "infusions.run": CLINICAL,
    "infusions.record": CLINICAL,
    "infusions.acknowledge": CLINICAL,
    # The controlled-substance ledger (ledger app). Inspectors read it with the auditor role; the
    # diversion signals are the clinic admin's alone. A witness is always a second, different person
    # who signs with their own password (ledger.actions.common.witness_user).
    "ledger.view": CLINICAL | {Role.ADMIN, Role.AUDITOR},
    "ledger.manage": frozenset({Role.ADMIN}),
    "ledger.receive": frozenset({Role.ADMIN, Role.PRESCRIBER}),
    "ledger.draw": CLINICAL,
    "ledger.waste": CLINICAL,
    "ledger.witness": CLINICAL | {Role.ADMIN},
    "ledger.count": CLINICAL | {Role.ADMIN},
    "ledger.destroy": frozenset({Role.ADMIN, Role.PRESCRIBER}),
    "ledger.adjust": frozenset({Role.ADMIN}),
    "ledger.investigate": frozenset({Role.ADMIN}),
    "ledger.report": frozenset({Role.ADMIN, Role.AUDITOR}),
    "ledger.signals": frozenset({Role.ADMIN}),
}


class ClinicScoped(Protocol):
    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Any]: ...


def roles_for(permission: str) -> frozenset[Role]:
    try:
        return PERMISSIONS[permission]
    except KeyError:
        raise KeyError(f"unknown permission {permission!r}; add it to PERMISSIONS") from None


def has_permission(membership: Membership | None, permission: str) -> bool:
    return membership is not None and membership.is_active and membership.role in roles_for(permission)


def refusal(membership: Membership, permission: str) -> str:
    """The one sentence every refusal of a role says, on a page, in the API and from an action."""
    role = membership.get_role_display()
    return f"Your role ({role}) at {membership.clinic} does not allow this ({permission})."


def require(user: User, clinic: Clinic, permission: str, membership: Membership | None = None) -> Membership:
    """The user's active membership of ``clinic`` if it grants ``permission``; else ``PermissionDenied``.

    A caller that already holds that membership (the API, from the token it checked in this
    request) passes it, and it is not read again.
    """
    user_pk = user.pk
    if membership is None or membership.user_id != user_pk or membership.clinic_id != clinic.pk:
        membership = None
        if user_pk is not None:
            # One membership per user and clinic (a constraint); whether it is active is checked below.
            membership = Membership.objects.filter(user=user, clinic=clinic).first()
        if membership is not None:
            membership.clinic = clinic  # the same row: the refusal names it without reading it again
    if membership is None or not membership.is_active:
        name = user.username or "anonymous"
        raise PermissionDenied(f"{name} holds no active role at {clinic} ({permission}).")
    if not has_permission(membership, permission):
        raise PermissionDenied(refusal(membership, permission))
    return membership


class OtherClinic(ValidationError, PermissionDenied):
    """A record handed to an action belongs to another clinic (or is missing).

    A ``ValidationError`` naming the field, so a form or the API (422) shows it next to the field
    that referred to it, and a ``PermissionDenied``, since it is a refusal to touch what the caller
    may not see. The message never says whether the record exists elsewhere.
    """

    def __init__(self, field: str) -> None:
        super().__init__({field: "No such record in this clinic."})


def same_clinic(clinic_id: int | None, clinic: Clinic, field: str) -> None:
    """Refuse with ``OtherClinic`` unless ``clinic_id`` is the acting clinic's."""
    if clinic_id is None or clinic_id != clinic.pk:
        raise OtherClinic(field)


def load_scoped(model: type[ClinicScoped], clinic: Clinic, pk: Any) -> Any:
    """Fetch one object through the clinic, or raise Http404 (also for another clinic's id)."""
    try:
        return model.in_clinic(clinic).get(pk=pk)
    # OverflowError: an id too large for the database's integer (SQLite raises it) is no record either.
    except (model.DoesNotExist, ValueError, TypeError, OverflowError) as exc:  # type: ignore[attr-defined]
        raise Http404("No such record in this clinic.") from exc


def signed_out() -> HttpResponse:
    """The answer to a page's background request (htmx) once its session is gone: a 401 that the
    page turns into a signed-out notice, keeping the entry (static/ketaclinic/session.js), never
    the sign-in page drawn inside a panel."""
    response = HttpResponse("Signed out: sign in again to send this.", status=401, content_type="text/plain")
    response["HX-Reswap"] = "none"
    return response


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    body = render_to_string("403.html", {"message": message}, request=request)
    return HttpResponseForbidden(body)


ViewFunc = Callable[..., HttpResponse]


class ClinicRequest(HttpRequest):
    """What ``clinic_view`` guarantees to the view: a signed-in user working in an active clinic."""

    user: User
    clinic: Clinic
    membership: Membership


def clinic_view(
    permission: str, *, load: Mapping[str, type[Any]] | None = None
) -> Callable[[ViewFunc], ViewFunc]:
    """Require an active role granting ``permission``; load ``<name>_id`` URL kwargs as ``<name>``."""
    roles_for(permission)  # fail at import time on a typo
    loaders = dict(load or {})

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                if request.headers.get("HX-Request"):
                    return signed_out()
                return redirect_to_login(request.get_full_path())
            membership: Membership | None = getattr(request, "membership", None)
            if membership is None:
                return redirect("accounts-choose-clinic")
            if not has_permission(membership, permission):
                return forbidden(request, refusal(membership, permission))
            for name, model in loaders.items():
                kwargs[name] = load_scoped(model, membership.clinic, kwargs.pop(f"{name}_id"))
            return view(request, **kwargs)

        wrapper.access = permission  # type: ignore[attr-defined]
        # The access-matrix test reads this to build URLs with real ids of each loaded model.
        wrapper.loads = loaders  # type: ignore[attr-defined]
        return wrapper

    return decorator


AsyncView = Callable[..., Awaitable[HttpResponseBase]]


def async_clinic_view(
    permission: str, *, load: Mapping[str, type[Any]] | None = None
) -> Callable[[AsyncView], Any]:
    """``clinic_view`` for async views: same rules, same ``.access`` / ``.loads`` stamps.

    @async_clinic_view("infusions.view", load={"session": Session})
    async def session_stream(request, session):
        return sse_response(request, channel_for_session(session.pk))
    """
    roles_for(permission)  # fail at import time on a typo
    loaders = dict(load or {})

    def decorator(view: AsyncView) -> AsyncView:
        @wraps(view)
        async def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
            user = await request.auser()
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = getattr(request, "membership", None)
            if membership is None:
                return redirect("accounts-choose-clinic")
            if not has_permission(membership, permission):
                return await sync_to_async(forbidden)(request, refusal(membership, permission))
            for name, model in loaders.items():
                kwargs[name] = await sync_to_async(load_scoped)(
                    model, membership.clinic, kwargs.pop(f"{name}_id")
                )
            request.stream_allowed = stream_guard(request, permission)  # type: ignore[attr-defined]
            return await view(request, **kwargs)

        wrapper.access = permission  # type: ignore[attr-defined]
        wrapper.loads = loaders  # type: ignore[attr-defined]
        return wrapper

    return decorator


def stream_guard(request: HttpRequest, permission: str) -> Callable[[], Awaitable[bool]]:
    """Is the user who opened this stream still allowed to read it? Asked before every event of a
    live stream (``events.sse``), because the check at the door runs once: after sign-out (the
    session is gone from the store), deactivation, or the loss of the role in this clinic, the
    answer is no and the stream ends."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import SESSION_KEY

    session_key = request.session.session_key
    user_pk = request.user.pk
    clinic_pk = request.membership.clinic_id  # type: ignore[attr-defined]
    store = import_module(settings.SESSION_ENGINE).SessionStore

    def check() -> bool:
        if session_key is None or user_pk is None:
            return False
        if str(store(session_key).get(SESSION_KEY)) != str(user_pk):
            return False
        # One membership per user and clinic; has_permission checks that it is active.
        membership = Membership.objects.filter(
            user_id=user_pk, user__is_active=True, clinic_id=clinic_pk
        ).first()
        return has_permission(membership, permission)

    return sync_to_async(check)


def user_view(view: ViewFunc) -> ViewFunc:
    @wraps(view)
    def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, **kwargs)

    wrapper.access = AUTHENTICATED  # type: ignore[attr-defined]
    return wrapper


def public_view(view: ViewFunc) -> ViewFunc:
    view.access = PUBLIC  # type: ignore[attr-defined]
    return view
