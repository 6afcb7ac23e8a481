"""Naive times typed by a person are read in the clinic's zone, whatever zone is active."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from ketaclinic.accounts.clinic_time import LATEST_AHEAD, clinic_datetime


@pytest.mark.django_db
def test_naive_text_is_the_clinics_local_time_even_with_no_zone_active(clinic_a):
    timezone.deactivate()  # as in the CLI, the demo seeder or a worker
    moment = clinic_datetime("2026-03-02 09:00", "scheduled_for", clinic_a)  # America/New_York
    assert moment == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_aware_values_are_kept(clinic_a):
    aware = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert clinic_datetime(aware, "at", clinic_a) == aware
    assert clinic_datetime("2026-03-02T09:00:00+00:00", "at", clinic_a) == aware


@pytest.mark.django_db
@pytest.mark.parametrize(("value", "message"), [("", "required"), ("next tuesday", "not a date and time")])
def test_bad_text_names_the_field(clinic_a, value, message):
    with pytest.raises(ValidationError) as exc:
        clinic_datetime(value, "measured_at", clinic_a)
    assert message in exc.value.message_dict["measured_at"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    ["0001-01-01 00:00", "1999-12-31 23:59", datetime(1, 1, 1, tzinfo=UTC), "9999-12-31 23:59"],
)
def test_a_time_no_clinic_record_can_hold_names_the_field(clinic_a, value):
    with pytest.raises(ValidationError) as exc:
        clinic_datetime(value, "signed_at", clinic_a)
    latest = (timezone.now() + LATEST_AHEAD).year
    [message] = exc.value.message_dict["signed_at"]
    assert message.endswith(f"is not a plausible date: give one from 2000 to {latest}.")


@pytest.mark.django_db
def test_the_plausible_years_include_their_edges(clinic_a):
    assert clinic_datetime("2000-01-01 00:00", "at", clinic_a).year == 2000
    soon = timezone.now() + timedelta(days=700)
    assert clinic_datetime(soon, "at", clinic_a) == soon
