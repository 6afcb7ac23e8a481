"""Who may call which API operation, in which clinic: the pages' rules (``accounts.access``), applied
to the JSON API. Each app's router decorates its operations with ``api_access``.

A caller authenticates either with ``Authorization: Bearer <token>`` (an ApiToken, bound to one
membership, hence one clinic and one role) or with the browser session (the active clinic, CSRF
enforced on unsafe methods). Each operation is wrapped in ``api_access(permission, load=...)``,
which, like ``accounts.access.clinic_view``:

- stamps ``.access`` on the operation function (the access-matrix test walks every operation);
- refuses a caller whose role lacks ``permission`` with 403, *before* the payload is validated, so
  a forbidden caller learns nothing from validation errors;
- loads each ``<name>_id`` path parameter through the caller's clinic (``load_scoped``), so another
  clinic's id is a 404.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf, contribute_operation_callback

from ketaclinic.accounts.access import has_permission, load_scoped, refusal, roles_for
from ketaclinic.accounts.models import ApiToken, Membership, TokenScope, hash_token

# "Last used" on the account page is shown to the minute; it is not an access log (the audit trail is).
LAST_USED_RESOLUTION = timedelta(minutes=1)

# A list's offset: far past any clinic's records, and within what a database slices (a larger
# offset overflowed SQLite's integer: a 500).
MAX_OFFSET = 10**9


@dataclass(frozen=True)
class Scope:
    """What a token of this scope may call, inside what its role may: every operation (None), only
    reads (``read_only``), or the named operations."""

    operations: frozenset[str] | None = None
    read_only: bool = False

    def allows(self, operation: str, method: str) -> bool:
        if self.read_only:
            return method in ("GET", "HEAD")
        return self.operations is None or operation in self.operations


SCOPES: dict[str, Scope] = {
    TokenScope.ROLE: Scope(),
    TokenScope.READ: Scope(read_only=True),
    # A monitor gateway: find the chairs, read a session, post its readings; nothing else.
    TokenScope.OBSERVATIONS: Scope(
        frozenset(
            f"ketaclinic.infusions.api.{name}"
            for name in ("floor", "get_session", "session_events", "record_observation")
        )
    ),
}


def token_for(raw: str) -> ApiToken | None:
    """The live token for a raw value, or None when unknown, revoked, expired or deactivated."""
    if not raw or len(raw) > 200:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("membership__clinic", "membership__user")
        .filter(
            token_hash=hash_token(raw),
            revoked_at__isnull=True,
            expires_at__gt=now,
            membership__is_active=True,
            membership__user__is_active=True,
        )
        .first()
    )
    if token is None:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # One conditional UPDATE, no read-modify-write: concurrent calls cannot conflict, and a
        # busy client (a monitor gateway posting every few seconds) writes it once a minute, not
        # once a request (on SQLite each write takes the database's one write lock).
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def membership_for_token(raw: str) -> Membership | None:
    """The membership a raw token acts as, or None when unknown, revoked, expired or deactivated."""
    token = token_for(raw)
    return token.membership if token else None


def _enter(request: HttpRequest, membership: Membership) -> None:
    """Make a token request look like a page request of that membership (user, clinic, zone)."""
    request.user = membership.user
    request.membership = membership  # type: ignore[attr-defined]
    request.clinic = membership.clinic  # type: ignore[attr-defined]
    timezone.activate(membership.clinic.tz)


def _require(membership: Membership, permission: str | None) -> None:
    """``access.require`` for the API: the same rule and sentence, as a 403 answer."""
    if permission is not None and not has_permission(membership, permission):
        raise HttpError(403, refusal(membership, permission))


class TokenAuth(HttpBearer):
    """``Authorization: Bearer kc_...``; create tokens on the account page (/accounts/tokens/)."""

    def __init__(self, permission: str | None = None, operation: str = "") -> None:
        self.permission = permission
        self.operation = operation
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Membership | None:
        found = token_for(token)
        if found is None:
            return None
        membership = found.membership
        _enter(request, membership)
        _require(membership, self.permission)
        if not SCOPES[found.scope].allows(self.operation, request.method or "GET"):
            raise HttpError(
                403,
                f"This token's scope ({found.get_scope_display()}) does not cover {request.method} "
                f"{request.path}; use a token with a wider scope.",
            )
        return membership


class SessionAuth(APIKeyCookie):
    """The signed-in browser session, working in its active clinic. CSRF is checked on unsafe
    methods (send the ``X-CSRFToken`` header, as the pages' htmx requests do)."""

    param_name: str = settings.SESSION_COOKIE_NAME

    def __init__(self, permission: str | None = None) -> None:
        self.permission = permission
        super().__init__(csrf=True)

    def _get_key(self, request: HttpRequest) -> str | None:
        # A request that brings a token is judged by the token alone: a bad token is a 401,
        # never a fall-back to whatever session cookie travels with it.
        if "authorization" in request.headers:
            return None
        key = request.COOKIES.get(self.param_name)
        if key and check_csrf(request) is not None:
            raise HttpError(403, "CSRF check failed: send the X-CSRFToken header with the session cookie.")
        return key

    def authenticate(self, request: HttpRequest, key: str | None) -> Membership | None:
        if key is None or not request.user.is_authenticated:
            return None
        membership: Membership | None = getattr(request, "membership", None)
        if membership is None:
            raise HttpError(403, "Choose a clinic first (/accounts/clinic/): the API acts in one clinic.")
        _require(membership, self.permission)
        return membership


def _with_ids(func: Callable[..., Any], loads: Mapping[str, type[Any]]) -> inspect.Signature:
    """The signature django-ninja should see: each loaded ``<name>`` becomes an ``<name>_id: int``
    path parameter; annotations resolved in the module that defines ``func``."""
    hints = typing.get_type_hints(func, include_extras=True)
    params = []
    for p in inspect.signature(func).parameters.values():
        if p.name in loads:
            params.append(inspect.Parameter(f"{p.name}_id", p.kind, annotation=int))
        else:
            params.append(p.replace(annotation=hints.get(p.name, p.annotation)))
    return inspect.Signature(params, return_annotation=hints.get("return", inspect.Signature.empty))


def api_access(
    permission: str, *, load: Mapping[str, type[Any]] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Require an active role granting ``permission``; load ``<name>_id`` path params as ``<name>``.

    Place it under the router decorator::

        @router.get("/patients/{patient_id}", response=PatientOut)
        @api_access("patients.view", load={"patient": Patient})
        def get_patient(request, patient: Patient): ...
    """
    roles_for(permission)  # fail at import time on a typo
    loaders = dict(load or {})

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def wrapper(request: HttpRequest, **kwargs: Any) -> Any:
            membership = getattr(request, "auth", None)
            if not isinstance(membership, Membership):
                raise AuthenticationError()
            # Checked again here, so the rule holds even if the operation's auth were replaced.
            _require(membership, permission)
            for name, model in loaders.items():
                kwargs[name] = load_scoped(model, membership.clinic, kwargs.pop(f"{name}_id"))
            return func(request, **kwargs)

        # inspect.signature stops at __signature__, so ninja sees the ids, not the loaded objects.
        wrapper.__signature__ = _with_ids(func, loaders)  # type: ignore[attr-defined]
        wrapper.access = permission  # type: ignore[attr-defined]
        wrapper.loads = loaders  # type: ignore[attr-defined]

        def install_auth(operation: Any) -> None:
            # Authenticate and check the role before ninja parses the payload.
            auth = [TokenAuth(permission, f"{func.__module__}.{func.__name__}"), SessionAuth(permission)]
            operation.auth_param = auth
            operation._set_auth(auth)

        # wraps() shared the inner function's callback list; give the wrapper its own.
        wrapper._ninja_contribute_to_operation = list(  # type: ignore[attr-defined]
            getattr(func, "_ninja_contribute_to_operation", [])
        )
        contribute_operation_callback(wrapper, install_auth)
        return wrapper

    return decorator


def current_membership(request: HttpRequest) -> Membership:
    return typing.cast(Membership, request.auth)  # type: ignore[attr-defined]


__all__ = [
    "SCOPES",
    "Scope",
    "SessionAuth",
    "TokenAuth",
    "api_access",
    "current_membership",
    "membership_for_token",
    "token_for",
]
