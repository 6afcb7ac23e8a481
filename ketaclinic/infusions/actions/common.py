"""What every action of the session shares: limits of the input, and small helpers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError

from ketaclinic.accounts.clinic_time import clinic_datetime
from ketaclinic.accounts.models import Clinic
from ketaclinic.events.bus import channel_for_floor, channel_for_session, publish_many
from ketaclinic.infusions.models import (
    Session,
)

# A device clock a little ahead of the server must not make "now" look like the future.
CLOCK_SKEW = timedelta(minutes=5)


# An observation may be entered late (charting after the fact), but not for another day.
MAX_BACKDATE = timedelta(hours=24)


MAX_KEY = 100


MAX_REASON = 200  # the length of the correction_reason columns


ALREADY_CORRECTED = "This record was already corrected; correct the correction instead."


IS_WITHDRAWAL = "This entry is a withdrawal; it cannot be corrected or withdrawn."


def required_text(value: Any, field: str, missing: str, limit: int = MAX_REASON) -> str:
    """A required line of text (a reason, a name), trimmed: ``missing`` when empty, refused when too long."""
    text = str(value or "").strip()
    if not text:
        raise ValidationError({field: missing})
    if len(text) > limit:
        raise ValidationError({field: f"At most {limit} characters."})
    return text


def observed_moment(value: Any, field: str, clinic: Clinic, now: datetime) -> datetime:
    """When something was observed: now if not given, never in the future."""
    if value in (None, ""):
        return now
    moment = clinic_datetime(value, field, clinic)
    if moment > now + CLOCK_SKEW:
        raise ValidationError({field: "This time is in the future."})
    return moment


def announce(session: Session, event: dict[str, Any], *, floor: dict[str, Any] | None = None) -> None:
    """The event on the session's channel, and with its session id on the clinic's floor channel (last)."""
    publish_many(
        [
            (channel_for_session(session.pk), event),
            (channel_for_floor(session.clinic_id), {**event, **(floor or {}), "session_id": session.pk}),
        ],
        clinic=session.clinic,
    )


def locked(session: Session) -> Session:
    return Session.objects.select_for_update().select_related("clinic", "patient").get(pk=session.pk)


def clean_key(idempotency_key: Any) -> str:
    key = str(idempotency_key or "").strip()
    if not key:
        raise ValidationError({"idempotency_key": "Every observation needs an idempotency key."})
    if len(key) > MAX_KEY:
        raise ValidationError({"idempotency_key": f"At most {MAX_KEY} characters."})
    return key
