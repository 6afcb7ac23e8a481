"""A dose order scheduled by text is read in the clinic's zone, not whatever zone is active."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from ketaclinic.protocols import actions


@pytest.mark.django_db
def test_order_time_typed_without_a_zone_is_the_clinics_hour(prescriber, clinic_a, iv_plan):
    tomorrow = timezone.localdate(timezone=clinic_a.tz) + timedelta(days=1)
    timezone.deactivate()  # as from the CLI, the demo seeder or a worker
    data = {"dose_mg_per_kg": "0.5", "duration_min": "40", "scheduled_for": f"{tomorrow} 09:00"}
    order = actions.sign_order(prescriber, clinic_a, iv_plan, data)
    assert order.scheduled_for == datetime.combine(tomorrow, time(9), tzinfo=clinic_a.tz)  # 09:00 in New York
    assert timezone.localtime(order.scheduled_for, clinic_a.tz).hour == 9
