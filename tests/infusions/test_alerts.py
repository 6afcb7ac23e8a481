"""Alert rules against their cited thresholds, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ketaclinic.infusions.alert_rules import (
    DEFAULT_SCHEDULE,
    SOURCES,
    Baseline,
    MonitoringSchedule,
    Reading,
    ScheduleEntry,
    Severity,
    Thresholds,
    baseline_from,
    evaluate,
    new_only,
    overdue,
)

T0 = datetime(2025, 1, 6, 14, 0, tzinfo=UTC)


def codes(reading, **kw):
    return [a.code for a in evaluate(reading, **kw)]


def bp(s, d, minutes=20):
    return Reading(T0 + timedelta(minutes=minutes), systolic_mmhg=s, diastolic_mmhg=d)


@pytest.mark.parametrize(
    ("s", "d", "expected"),
    [
        (179, 99, []),  # just under both: nothing
        (180, 90, ["bp_severe"]),  # >=180 systolic [S18]
        (150, 120, ["bp_severe"]),  # >=120 diastolic [S18]
        (150, 119, ["bp_hold"]),  # >100 diastolic: Sanacora hold, unconfirmed
        (150, 101, ["bp_hold"]),
        (150, 100, []),  # the hold is ">100"
    ],
)
def test_blood_pressure_thresholds(s, d, expected):
    assert codes(bp(s, d)) == expected


def test_severe_is_critical_and_cites_its_source():
    (alert,) = evaluate(bp(185, 95))
    assert alert.severity == Severity.CRITICAL
    assert "[S18]" in alert.source and alert.confirmed
    assert "185/95 mmHg" in alert.message


def test_unconfirmed_thresholds_are_flagged_on_the_alert():
    (alert,) = evaluate(bp(150, 105))
    assert alert.code == "bp_hold" and alert.confirmed is False
    (hr,) = evaluate(Reading(T0, heart_rate_bpm=111))
    assert hr.code == "hr_high" and hr.confirmed is False and "unconfirmed" in hr.source


def test_rise_from_baseline_per_spravato_label():
    base = Baseline(118, 76)
    assert codes(bp(157, 100, 40), baseline=base) == []  # +39/+24: under both
    assert codes(bp(158, 90, 40), baseline=base) == ["bp_rise"]  # +40 systolic [S32]
    assert codes(bp(140, 101, 40), baseline=base) == ["bp_hold", "bp_rise"]  # +25 diastolic
    (rise,) = [a for a in evaluate(bp(160, 80), baseline=base) if a.code == "bp_rise"]
    assert "systolic +42" in rise.message and "[S32]" in rise.source


def test_baseline_is_the_last_reading_before_dosing():
    history = [bp(150, 90, -30), bp(122, 78, -5), bp(170, 100, 30)]
    assert baseline_from(history, T0) == Baseline(122, 78)
    assert baseline_from(history, None) == Baseline()
    # The rise rule uses it when no baseline is passed: 165 - 122 = 43.
    assert "bp_rise" in codes(bp(165, 80, 40), history=history, dosing_started_at=T0)
    # Before dosing started there is no baseline and so no rise alert.
    assert "bp_rise" not in codes(bp(165, 80, 40), history=history)


@pytest.mark.parametrize(
    ("spo2", "expected", "severity"),
    [
        (93, [], None),
        (92, ["spo2_low"], Severity.WARNING),
        (90, ["spo2_low"], Severity.WARNING),
        (89, ["spo2_critical"], Severity.CRITICAL),
    ],
)
def test_spo2_follows_the_aldrete_bands(spo2, expected, severity):
    found = evaluate(Reading(T0, spo2_pct=spo2))
    assert [a.code for a in found] == expected
    if severity:
        assert found[0].severity == severity and "[S40]" in found[0].source


def test_heart_rate_respiration_temperature():
    assert codes(Reading(T0, heart_rate_bpm=110)) == []
    assert codes(Reading(T0, heart_rate_bpm=49)) == ["hr_low"]
    assert codes(Reading(T0, resp_rate_per_min=9)) == ["rr_low"]
    assert codes(Reading(T0, resp_rate_per_min=25)) == ["rr_high"]
    assert codes(Reading(T0, resp_rate_per_min=10)) == []
    assert codes(Reading(T0, temperature_c=38.4)) == ["temp_high"]


@pytest.mark.parametrize(
    ("moaas", "expected"),
    [(5, []), (4, []), (3, ["moaas_low"]), (1, ["moaas_low"]), (0, ["moaas_unresponsive"])],
)
def test_sedation(moaas, expected):
    assert codes(Reading(T0, moaas=moaas)) == expected


def test_loss_of_consciousness_is_critical_and_cites_the_label():
    (alert,) = evaluate(Reading(T0, moaas=0))
    assert alert.severity == Severity.CRITICAL and "[S28]" in alert.source


def test_most_urgent_first():
    found = evaluate(Reading(T0, systolic_mmhg=150, diastolic_mmhg=105, spo2_pct=85))
    assert [a.severity for a in found] == [Severity.CRITICAL, Severity.WARNING]


def test_protocol_overrides_and_disabling_a_rule():
    strict = Thresholds().with_overrides({"severe_systolic_mmhg": 160, "max_heart_rate_bpm": None})
    assert codes(bp(160, 80), thresholds=strict) == ["bp_severe"]
    assert codes(Reading(T0, heart_rate_bpm=150), thresholds=strict) == []
    assert Thresholds().with_overrides(None) == Thresholds()
    with pytest.raises(ValueError, match="unknown alert threshold.*sytolic"):
        Thresholds().with_overrides({"sytolic": 1})


def test_thresholds_are_frozen():
    with pytest.raises(AttributeError):
        Thresholds().severe_systolic_mmhg = 1  # type: ignore[misc]


def test_every_alert_code_has_a_source():
    readings = [
        bp(190, 125),
        bp(150, 105),
        Reading(T0, heart_rate_bpm=130),
        Reading(T0, heart_rate_bpm=40),
        Reading(T0, spo2_pct=91),
        Reading(T0, spo2_pct=80),
        Reading(T0, resp_rate_per_min=5),
        Reading(T0, resp_rate_per_min=30),
        Reading(T0, temperature_c=39),
        Reading(T0, moaas=2),
        Reading(T0, moaas=0),
    ]
    seen = {a.code for r in readings for a in evaluate(r, baseline=Baseline(100, 60))}
    assert seen | {"overdue"} == set(SOURCES)


def test_overdue_vitals_after_grace():
    last = {"vitals": T0 + timedelta(minutes=2)}
    # Due at 14:12; grace 5 min: nothing at 14:17, an alert at 14:18.
    assert (
        overdue(
            DEFAULT_SCHEDULE,
            phase="dosing",
            phase_started_at=T0,
            last_at=last,
            now=T0 + timedelta(minutes=17),
        )
        == []
    )
    (alert,) = overdue(
        DEFAULT_SCHEDULE, phase="dosing", phase_started_at=T0, last_at=last, now=T0 + timedelta(minutes=18)
    )
    assert alert.code == "overdue_vitals" and alert.severity == Severity.WARNING
    assert "every 10 min" in alert.message


def test_overdue_counts_from_the_phase_start_and_uses_the_phase_interval():
    # The last vitals were taken during dosing, long ago; recovery started at T0 (every 15 min).
    last = {"vitals": T0 - timedelta(hours=1)}
    assert (
        overdue(
            DEFAULT_SCHEDULE,
            phase="recovery",
            phase_started_at=T0,
            last_at=last,
            now=T0 + timedelta(minutes=20),
        )
        == []
    )
    assert (
        len(
            overdue(
                DEFAULT_SCHEDULE,
                phase="recovery",
                phase_started_at=T0,
                last_at={},
                now=T0 + timedelta(minutes=21),
            )
        )
        == 1
    )
    assert (
        overdue(
            DEFAULT_SCHEDULE, phase="checked_in", phase_started_at=T0, last_at={}, now=T0 + timedelta(hours=5)
        )
        == []
    )


def test_overdue_per_kind():
    schedule = MonitoringSchedule(
        (
            ScheduleEntry("vitals", "dosing", timedelta(minutes=10)),
            ScheduleEntry("moaas", "dosing", timedelta(minutes=20)),
        )
    )
    found = overdue(
        schedule,
        phase="dosing",
        phase_started_at=T0,
        last_at={"vitals": T0 + timedelta(minutes=25)},
        now=T0 + timedelta(minutes=30),
    )
    assert [a.code for a in found] == ["overdue_moaas"]


def test_new_only_keeps_one_open_alert_per_problem():
    found = evaluate(Reading(T0, systolic_mmhg=185, diastolic_mmhg=95, heart_rate_bpm=120))
    assert [a.code for a in new_only(found, ["bp_severe"])] == ["hr_high"]
