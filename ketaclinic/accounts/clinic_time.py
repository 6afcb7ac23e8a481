"""Reading a time that a person typed, in the clinic's own time zone.

Actions take the clinic as an argument, so they read naive times in *that* clinic's zone rather than
in whatever zone the current request happened to activate (none at all from the CLI or a worker).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ketaclinic.accounts.models import Clinic


def clinic_datetime(value: Any, field: str, clinic: Clinic) -> datetime:
    """An aware datetime from a datetime or ISO text; a naive one is read in the clinic's zone.

    Raises ValidationError naming ``field`` when the value is empty or not a date and time.
    """
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value or "").strip()
        if not text:
            raise ValidationError({field: "This field is required."})
        try:
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError({field: f"{text!r} is not a date and time (YYYY-MM-DD HH:MM)."})
        moment = parsed
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, clinic.tz)
    return moment
