"""Every vital-sign threshold on both sides of its boundary: the value at the limit does not alert,
one step past it does (so ``<`` turned into ``<=`` fails here). The numbers are the defaults in
``alert_rules.Thresholds``; those without a source are flagged unconfirmed there and in the alert."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ketaclinic.infusions.alert_rules import Reading, evaluate

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def codes(**values):
    return {a.code for a in evaluate(Reading(T0, **values))}


@pytest.mark.parametrize(
    ("field", "quiet", "alarming", "code"),
    [
        ("heart_rate_bpm", 50, 49, "hr_low"),
        ("heart_rate_bpm", 110, 111, "hr_high"),
        ("resp_rate_per_min", 10, 9, "rr_low"),
        ("resp_rate_per_min", 24, 25, "rr_high"),
        ("spo2_pct", 93, 92, "spo2_low"),
        ("spo2_pct", 90, 89, "spo2_critical"),
        ("temperature_c", 38.0, 38.1, "temp_high"),
    ],
)
def test_a_threshold_alerts_one_step_past_it_and_not_at_it(field, quiet, alarming, code):
    assert code not in codes(**{field: quiet})
    assert code in codes(**{field: alarming})


def test_spo2_between_the_bounds_is_a_warning_not_critical():
    assert codes(spo2_pct=91) == {"spo2_low"}
    assert codes(spo2_pct=89) == {"spo2_critical"}
