"""Request and error helpers shared by every app's pages and API: infrastructure, no domain.

An action refuses bad input with ``django.core.exceptions.ValidationError`` whose keys name the
fields (``"__all__"`` or no key for the whole submission). ``error_messages`` turns it into one
plain ``{field: [message, ...]}`` dict; the page helpers and the API's error shape are built on it,
so a field's message reads the same on a page, in a fragment and in a JSON answer.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Collection
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils import timezone
from django.utils.html import escape
from ninja import Schema
from pydantic import ValidationInfo, field_validator

NON_FIELD = "__all__"


def is_htmx(request: HttpRequest) -> bool:
    """An htmx request wants the fragment, not the whole page."""
    return request.headers.get("HX-Request") == "true"


def error_messages(exc: ValidationError) -> dict[str, list[str]]:
    """An action's refusal as ``{field: [message, ...]}``; messages without a field under ``__all__``."""
    if hasattr(exc, "error_dict"):
        return {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    return {NON_FIELD: [str(m) for m in exc.messages]}


def unplaced_to_top(errors: dict[str, list[str]], fields: Collection[str]) -> dict[str, list[str]]:
    """Errors for names the form has no input for (a limit kind, the library) move to ``__all__``."""
    out: dict[str, list[str]] = {}
    for key, msgs in errors.items():
        out.setdefault(key if key in fields else NON_FIELD, []).extend(msgs)
    return out


def show_errors(form: forms.Form, exc: ValidationError) -> None:
    """Attach an action's errors to a Django form, each next to its field when the form has it."""
    for field, messages in error_messages(exc).items():
        form.add_error(field if field in form.fields else None, messages)


def api_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """An action's refusal in the shape django-ninja uses for schema errors (``loc``, ``msg``)."""
    out = []
    for field, messages in error_messages(exc).items():
        loc = ["body"] if field == NON_FIELD else ["body", field]
        out += [{"loc": loc, "msg": m, "type": "value_error"} for m in messages]
    return out


def renamed(exc: ValidationError, names: dict[str, str]) -> ValidationError:
    """The same refusal with its fields renamed (the action's ``correction_reason``, the API's ``reason``)."""
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({names.get(k, k): v for k, v in exc.error_dict.items()})


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ (or a tab or CR) is a
    formula there, so it is quoted as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def date_range(request: HttpRequest, default_days: int, today: date | None = None) -> tuple[date, date, str]:
    """The clinic days ``from`` .. ``to`` of a report's query string, and an error sentence (empty
    when both parse): a bad or impossible date falls back to the default range, never a 500."""
    today = today or timezone.localdate()
    first, last, problems = today - timedelta(days=default_days), today, []
    for name in ("from", "to"):
        raw = request.GET.get(name, "").strip()
        if not raw:
            continue
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            problems.append(f"{name}: {raw!r} is not a date (YYYY-MM-DD)")
            continue
        if not date(2000, 1, 1) <= value <= today + timedelta(days=366):
            problems.append(f"{name}: {raw} is out of range")
            continue
        if name == "from":
            first = value
        else:
            last = value
    if first > last:
        problems.append("from is after to")
        first, last = last, first
    return first, last, "; ".join(problems)


# --- NUL characters ------------------------------------------------------------------------------
# PostgreSQL cannot store U+0000 in text (SQLite can), so a NUL typed or sent anywhere would reach
# the database as a 500 on one backend and as an invisible character on the other. It is refused
# at the door, before any view runs: in the query string, a form's fields (Django cleans upload
# file names itself), or a JSON body's strings and keys. Nothing is written; the answer names the
# field.

NUL_MESSAGE = "must not contain the NUL character (U+0000)"


def _nul_path(value: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    if isinstance(value, str):
        return loc if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return (*loc, str(key))
            if (found := _nul_path(item, (*loc, str(key)))) is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _nul_path(item, (*loc, i))) is not None:
                return found
    return None


def nul_location(request: HttpRequest) -> tuple[str | int, ...] | None:
    """Where the first NUL of a request is, as an API error's ``loc`` (("query", "q"), ("body", "a", 0)),
    or None."""
    for key, values in request.GET.lists():
        if _nul_path([key, *values], ("query",)) is not None:
            return ("query", key.replace("\x00", "\\0"))
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    if request.content_type == "application/json":
        body = request.body
        # The fast path for every observation posted: no NUL escape, no NUL byte, nothing to parse.
        if b"\x00" not in body and b"\\u0000" not in body.lower():
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None  # not JSON: the API says so itself
        return _nul_path(data, ("body",))
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, values in request.POST.lists():
            if _nul_path([key, *values], ("form",)) is not None:
                return ("form", key.replace("\x00", "\\0"))
    return None


class Middleware:
    """A middleware that runs sync or async, as the chain around it does (the live streams are
    async): ``refuse`` may answer before the view, ``finish`` sees every answer."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return self.finish(self.refuse(request) or self.get_response(request))

    async def _acall(self, request: HttpRequest) -> Any:
        return self.finish(self.refuse(request) or await self.get_response(request))

    def refuse(self, request: HttpRequest) -> HttpResponse | None:
        return None

    def finish(self, response: Any) -> Any:
        return response


class RefuseNulMiddleware(Middleware):
    """Answer a request carrying a NUL character 422 (API, naming the field) or 400 (a page)."""

    def refuse(self, request: HttpRequest) -> HttpResponse | None:
        loc = nul_location(request)
        if loc is None:
            return None
        field = str(loc[-1]) if len(loc) > 1 else "request"
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": [{"loc": list(loc), "msg": f"{field} {NUL_MESSAGE}"}]}, status=422)
        return HttpResponseBadRequest(
            f"<!doctype html><title>Not accepted</title><p>The field “{escape(field)}” {NUL_MESSAGE}. "
            "Nothing was saved; go back, remove it and send again.</p>",
            content_type="text/html; charset=utf-8",
        )


# Scripts only from this server's own files: no inline script, no handler attribute, no eval, so
# text that got into a page can never run. Styles may be inline (style attributes and the pages'
# small <style> blocks; htmx adds its indicator style): a style cannot run code. Images may be
# data: URIs (the API docs' icons).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


class ContentSecurityPolicyMiddleware(Middleware):
    """Every answer carries ``CONTENT_SECURITY_POLICY`` unless it sets its own."""

    def finish(self, response: Any) -> Any:
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


# --- strict numbers at the API ------------------------------------------------------------------
# pydantic's lax mode turns JSON ``true`` into 1 for an integer (an id, a count, a grade) and reads
# a number written in other digits ("٣" is 3, "١٠" is 10) as if it were ASCII. A clinical record
# must hold what was meant, so an API input refuses both, naming the field; a number sent as a JSON
# number or as a string of ASCII digits ("0.5") is read as before.

_NUMBERS = (int, float, Decimal)


def _is_numeric(annotation: Any) -> bool:
    if annotation in _NUMBERS:
        return True
    return any(_is_numeric(arg) for arg in typing.get_args(annotation))


class StrictSchema(Schema):
    """The base of every API input schema: a numeric field takes a number, never a boolean, and
    digits only in ASCII."""

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None or not _is_numeric(field.annotation):
            return value
        if isinstance(value, bool):
            raise ValueError("expected a number, not true or false")
        if isinstance(value, str) and not value.isascii():
            raise ValueError("write the number with the digits 0-9")
        return value
