"""The JSON API (django-ninja), mounted at /api/: OpenAPI document at /api/openapi.json, docs at
/api/docs. Operations call the same actions as the pages, under the same role and clinic rules
(see ``ketaclinic.api.auth``). Errors:

- 401 no or bad credentials; 403 role lacks the permission (or CSRF failed on a session call);
- 404 no such record in the caller's clinic (another clinic's ids included);
- 422 malformed body or a domain rule broken: ``{"detail": [{"loc": [..., field], "msg": ...}]}``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from ketaclinic.accounts.access import PERMISSIONS, has_permission, public_view
from ketaclinic.api import intake, patients
from ketaclinic.api.auth import SessionAuth, TokenAuth, api_access, current_membership
from ketaclinic.api.docs import LocalSwagger
from ketaclinic.api.schemas import Me
from ketaclinic.infusions.api import router as infusions_router
from ketaclinic.protocols.api import router as protocols_router

api = NinjaAPI(
    title="ketaclinic API",
    version="1",
    description=(
        "Patients, intake and eligibility screening, protocols and dose orders, and infusion sessions of one "
        "clinic. Authenticate with "
        "`Authorization: Bearer <token>` (create a token on your account page) or the browser session. "
        "Clinical decision support: a clinician decides."
    ),
    auth=[TokenAuth(), SessionAuth()],
    docs=LocalSwagger(),
    docs_url="/docs",
    openapi_url="/openapi.json",
    # The schema and docs describe the API, no data: open to read, like the sign-in page.
    docs_decorator=public_view,
    urls_namespace="api",
)


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """An action's ValidationError in the shape ninja uses for schema errors."""
    if not hasattr(exc, "error_dict"):
        return [{"loc": ["body"], "msg": m, "type": "value_error"} for m in exc.messages]
    out = []
    for field, messages in exc.message_dict.items():
        loc = ["body"] if field == "__all__" else ["body", field]
        out += [{"loc": loc, "msg": m, "type": "value_error"} for m in messages]
    return out


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": field_errors(exc)}, status=422)


@api.exception_handler(PermissionDenied)
def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Not allowed."}, status=403)


@api.get("/me", response=Me, summary="Who am I: user, clinic, role and permissions", tags=["account"])
@api_access("clinic.home")
def me(request: HttpRequest) -> Any:
    m = current_membership(request)
    return {
        "username": m.user.username,
        "display_name": m.user.display_name,
        "clinic": m.clinic.name,
        "clinic_slug": m.clinic.slug,
        "time_zone": m.clinic.time_zone,
        "role": m.role,
        "permissions": sorted(p for p in PERMISSIONS if has_permission(m, p)),
    }


api.add_router("/", patients.router)
api.add_router("/", intake.router)
api.add_router("/", protocols_router)
api.add_router("/", infusions_router)
