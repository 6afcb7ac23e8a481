"""Request and error helpers shared by every app's pages and API: infrastructure, no domain.

An action refuses bad input with ``django.core.exceptions.ValidationError`` whose keys name the
fields (``"__all__"`` or no key for the whole submission). ``error_messages`` turns it into one
plain ``{field: [message, ...]}`` dict; the page helpers and the API's error shape are built on it,
so a field's message reads the same on a page, in a fragment and in a JSON answer.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone

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
