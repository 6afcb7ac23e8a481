"""Reading a time that a person typed, in the clinic's own time zone.

Actions take the clinic as an argument, so they read naive times in *that* clinic's zone rather than
in whatever zone the current request happened to activate (none at all from the CLI or a worker).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ketaclinic.accounts.models import Clinic

# A time in a clinic's record (a consent, a weight, a scheduled session, an observation) lies
# between these: before 2000 is a typing slip (a year 0001 consent made the chart a 500: a time
# that far back cannot be shown in a zone west of UTC), and nothing is booked or signed more
# than two years ahead. Checks of their own (not in the future, within a window) come after.
EARLIEST_YEAR = 2000
LATEST_AHEAD = timedelta(days=2 * 366)


def clinic_datetime(value: Any, field: str, clinic: Clinic) -> datetime:
    """An aware datetime from a datetime or ISO text; a naive one is read in the clinic's zone.

    Raises ValidationError naming ``field`` when the value is empty, not a date and time, or
    outside the years a clinic's record can hold (2000 to two years from now).
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
    latest = timezone.now() + LATEST_AHEAD
    # The year first: a year-0001 time cannot even be made aware in a zone west of UTC.
    if moment.year >= EARLIEST_YEAR and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, clinic.tz)
    if moment.year < EARLIEST_YEAR or moment > latest:
        day = moment.date().isoformat()
        plausible = f"give one from {EARLIEST_YEAR} to {latest:%Y}"
        raise ValidationError({field: f"{day} is not a plausible date: {plausible}."})
    return moment
