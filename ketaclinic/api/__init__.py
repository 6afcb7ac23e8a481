"""The JSON API (django-ninja), mounted at /api/: wiring only. Each app owns its router (its
``api.py``); this package creates the one ``NinjaAPI``, mounts them, and turns an action's
refusal into the API's error shape. OpenAPI document at /api/openapi.json, docs at /api/docs.

Operations call the same actions as the pages, under the same role and clinic rules
(``ketaclinic.accounts.api_access``). Errors:

- 401 no or bad credentials; 403 role lacks the permission (or CSRF failed on a session call);
- 404 no such record in the caller's clinic (another clinic's ids included);
- 422 malformed body or a domain rule broken: ``{"detail": [{"loc": [..., field], "msg": ...}]}``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from ketaclinic.accounts.access import public_view
from ketaclinic.accounts.api import router as accounts_router
from ketaclinic.accounts.api_access import SessionAuth, TokenAuth
from ketaclinic.api.docs import LocalSwagger
from ketaclinic.infusions.api import router as infusions_router
from ketaclinic.ledger.api import router as ledger_router
from ketaclinic.patients.api import router as patients_router
from ketaclinic.patients.intake_api import router as intake_router
from ketaclinic.protocols.api import router as protocols_router
from ketaclinic.web import api_errors

api = NinjaAPI(
    title="ketaclinic API",
    version="1",
    description=(
        "Patients, intake and eligibility screening, protocols and dose orders, infusion sessions and the "
        "controlled-substance ledger of one clinic. Authenticate with "
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


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": api_errors(exc)}, status=422)


@api.exception_handler(PermissionDenied)
def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Not allowed."}, status=403)


for router in (
    accounts_router,
    patients_router,
    intake_router,
    protocols_router,
    infusions_router,
    ledger_router,
):
    api.add_router("/", router)
