"""Naive times typed by a person are read in the clinic's zone, whatever zone is active."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from ketaclinic.accounts.clinic_time import clinic_datetime


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
