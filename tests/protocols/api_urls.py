"""A test URLconf: the site plus the protocols router on its own NinjaAPI at /papi/.

The lead mounts ``ketaclinic.protocols.api.router`` on the main API; until then (and independently
of it) these tests exercise the router with the main API's auth and error handling.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import path
from ninja import NinjaAPI

from ketaclinic.api import field_errors
from ketaclinic.api.auth import SessionAuth, TokenAuth
from ketaclinic.protocols.api import router
from ketaclinic.urls import urlpatterns as site_urlpatterns

api = NinjaAPI(
    title="protocols test", auth=[TokenAuth(), SessionAuth()], urls_namespace="papi", docs_url=None
)
api.add_router("/", router, url_name_prefix="papi")


@api.exception_handler(ValidationError)
def on_validation_error(request, exc):
    return api.create_response(request, {"detail": field_errors(exc)}, status=422)


@api.exception_handler(PermissionDenied)
def on_permission_denied(request, exc):
    return api.create_response(request, {"detail": str(exc)}, status=403)


urlpatterns = [*site_urlpatterns, path("papi/", api.urls)]
