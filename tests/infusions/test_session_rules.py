"""The session's rules read from its order's protocol snapshot, stated exactly: every key the
snapshot may carry, and the default where it is silent (``infusions/session_rules.py``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ketaclinic.infusions import alert_rules, scales, states
from ketaclinic.infusions.session_rules import from_snapshot

DEFAULT_NOTE = (
    "The protocol gives no observation interval; vitals every 10 min while dosing and 15 min in "
    "recovery are the default (clinical.md §1.4 [S6]).",
)


def schedule(config):
    rules = from_snapshot({"config": config}, "iv")
    return [(e.kind, e.phase, e.every // timedelta(minutes=1)) for e in rules.schedule.entries], rules


def test_an_empty_or_missing_snapshot_is_every_default():
    for snapshot in (None, {}, {"config": None}, {"config": {}}):
        rules = from_snapshot(snapshot)
        assert rules.gates == states.PredoseGates()
        assert rules.schedule == alert_rules.DEFAULT_SCHEDULE and not rules.schedule_from_protocol
        assert rules.thresholds == alert_rules.Thresholds()
        assert rules.min_observation == timedelta(minutes=120)
        assert not rules.observe_from_first_device
        assert (rules.discharge_score, rules.discharge_criteria_text) == ("padss", "modified_padss")
        assert rules.discharge == scales.DischargeCriteria()
        assert (rules.device_mg, rules.device_rest) == (Decimal("28"), timedelta(minutes=5))
        assert rules.notes == DEFAULT_NOTE


def test_the_text_schedule_reads_each_vitals_line_and_its_phase():
    entries, rules = schedule(
        {
            "monitoring": [
                {"what": "BP and heart rate", "when": "Every 10 min during the infusion"},
                {"what": "SpO2", "when": "every 5min during it"},
                {"what": "Heart rhythm", "when": "every 15 min after the infusion"},
                {"what": "CADSS", "when": "every 20 min during"},  # not vitals: not this schedule
                {"what": "BP", "when": "at the end"},  # no interval
                {"what": "BP", "when": "every 30 min afterwards"},  # "after" as a word only
                {"when": "every 7 min during"},  # what is missing
                {"what": "BP"},  # when is missing
            ]
        }
    )
    assert entries == [
        ("vitals", "dosing", 10),
        ("vitals", "dosing", 5),
        ("vitals", "recovery", 15),
        ("vitals", "dosing", 30),
    ]
    assert rules.schedule_from_protocol and rules.notes == ()


def test_a_text_schedule_with_no_usable_line_is_the_default():
    entries, rules = schedule({"monitoring": [{"what": "CADSS", "when": "every 20 min during"}]})
    assert rules.schedule == alert_rules.DEFAULT_SCHEDULE and not rules.schedule_from_protocol
    assert rules.notes == DEFAULT_NOTE
    _, explicit_empty = schedule(
        {"monitoring_schedule": [], "monitoring": [{"what": "BP", "when": "every 9 min"}]}
    )
    assert [(e.phase, e.every) for e in explicit_empty.schedule.entries] == [("dosing", timedelta(minutes=9))]


def test_the_strictest_gate_and_the_predose_overrides():
    rules = from_snapshot(
        {
            "config": {
                "gates": [
                    {"systolic_above": 150, "diastolic_above": 95, "action": "delay"},
                    {"systolic_above": "140", "action": "hold"},
                    {"diastolic_above": 85.0},
                    {"systolic_above": "high"},  # not a number: no gate
                ],
                "predose": {"max_heart_rate_bpm": "100", "min_spo2_pct": 94, "window_min": 45},
            }
        }
    )
    assert rules.gates == states.PredoseGates(
        max_systolic_mmhg=140,
        max_diastolic_mmhg=85,
        max_heart_rate_bpm=100,
        min_spo2_pct=94,
        window=timedelta(minutes=45),
    )


def test_gates_left_out_keep_their_defaults():
    rules = from_snapshot({"config": {"gates": [{"action": "delay"}], "predose": {"window_min": "x"}}})
    assert rules.gates == states.PredoseGates()
    only_hr = from_snapshot({"config": {"predose": {"max_heart_rate_bpm": 120}}})
    assert only_hr.gates == states.PredoseGates(max_heart_rate_bpm=120)


def test_thresholds_discharge_observation_and_devices_from_the_protocol():
    rules = from_snapshot(
        {
            "config": {
                "alert_thresholds": {"min_heart_rate_bpm": 45},
                "discharge": {"max_cadss_total": 2},
                "discharge_criteria": "aldrete",
                "observation_min": "90",
                "dose": {"device_mg": "56", "device_rest_min": 10},
            }
        },
        "nasal",
    )
    assert rules.thresholds == alert_rules.Thresholds(min_heart_rate_bpm=45)
    assert rules.discharge == scales.DischargeCriteria(max_cadss_total=2)
    assert (rules.discharge_score, rules.discharge_criteria_text) == ("aldrete", "aldrete")
    assert rules.min_observation == timedelta(minutes=90)
    assert rules.observe_from_first_device
    assert (rules.device_mg, rules.device_rest) == (Decimal("56"), timedelta(minutes=10))


@pytest.mark.parametrize(("code", "score"), [("padss", "padss"), ("modified_padss", "padss"), ("", "padss")])
def test_every_criteria_but_aldrete_is_scored_with_padss(code, score):
    rules = from_snapshot({"config": {"discharge_criteria": code}})
    assert rules.discharge_score == score
    assert rules.discharge_criteria_text == (code or "modified_padss")


def test_an_unknown_alert_threshold_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown alert threshold"):
        from_snapshot({"config": {"alert_thresholds": {"hr_lowest": 40}}})
