"""Who may do what, and in which clinic: enforced here and nowhere else.

Every view is wrapped by exactly one of three decorators:

- ``clinic_view(permission, load={...})``: signed in, holding an active role in the active clinic
  that grants ``permission``. Objects named in ``load`` are fetched *through the active clinic*
  (``Model.in_clinic(clinic)``), so a URL carrying another clinic's id is a 404, never a leak.
- ``user_view``: signed in, no clinic needed (choosing a clinic, changing one's password).
- ``public_view``: anyone (the sign-in page, the health check).

Each decorator stamps ``view.access``; a test walks every URL pattern and API operation and fails
on any that lacks it, then checks the whole role x clinic matrix against ``PERMISSIONS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, Protocol

from django.contrib.auth.views import redirect_to_login
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
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


def load_scoped(model: type[ClinicScoped], clinic: Clinic, pk: Any) -> Any:
    """Fetch one object through the clinic, or raise Http404 (also for another clinic's id)."""
    try:
        return model.in_clinic(clinic).get(pk=pk)
    except (model.DoesNotExist, ValueError, TypeError) as exc:  # type: ignore[attr-defined]
        raise Http404("No such record in this clinic.") from exc


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
                return redirect_to_login(request.get_full_path())
            membership: Membership | None = getattr(request, "membership", None)
            if membership is None:
                return redirect("accounts-choose-clinic")
            if not has_permission(membership, permission):
                return forbidden(
                    request,
                    f"Your role ({membership.get_role_display()}) at {membership.clinic} "
                    f"does not allow this ({permission}).",
                )
            for name, model in loaders.items():
                kwargs[name] = load_scoped(model, membership.clinic, kwargs.pop(f"{name}_id"))
            return view(request, **kwargs)

        wrapper.access = permission  # type: ignore[attr-defined]
        # The access-matrix test reads this to build URLs with real ids of each loaded model.
        wrapper.loads = loaders  # type: ignore[attr-defined]
        return wrapper

    return decorator


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
