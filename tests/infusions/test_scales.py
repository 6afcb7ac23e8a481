"""Rating scales, recovery scores and the discharge checklist, without a database."""

from __future__ import annotations

import pytest

from ketaclinic.infusions import scales
from ketaclinic.infusions.scales import DischargeCriteria, DischargeFacts, ScaleError


def test_cadss_full_range_and_item_errors():
    assert scales.score_cadss([0] * 23) == 0
    assert scales.score_cadss([4] * 23) == 92
    assert scales.score_cadss(["2"] * 23) == 46
    with pytest.raises(ScaleError, match="needs all 23 items, got 22"):
        scales.score_cadss([0] * 22)
    items = [0] * 23
    items[14] = 5
    with pytest.raises(ScaleError) as exc:
        scales.score_cadss(items)
    assert exc.value.field == "CADSS item 15" and "5 is outside 0-4" in str(exc.value)
    for bad in (-1, 1.5, "x", None, True):
        items[14] = bad
        with pytest.raises(ScaleError, match="CADSS item 15"):
            scales.score_cadss(items)


def test_cadss6_is_items_1_2_6_7_15_22_of_the_full_scale():
    full = [0] * 23
    for n, v in zip((1, 2, 6, 7, 15, 22), (1, 2, 3, 4, 1, 2), strict=True):
        full[n - 1] = v
    full[2] = 4  # item 3 is not in the short form
    assert scales.cadss6_from_full(full) == 13
    assert scales.score_cadss6([1, 2, 3, 4, 1, 2]) == 13
    assert scales.score_cadss6({"1": 4, "2": 4, "6": 4, "7": 4, "15": 4, "22": 4}) == 24
    with pytest.raises(ScaleError, match="missing item\\(s\\) 22; item\\(s\\) 3 are not in the short form"):
        scales.score_cadss6({1: 0, 2: 0, 3: 0, 6: 0, 7: 0, 15: 0})
    with pytest.raises(ScaleError, match="CADSS-6 item 7"):
        scales.score_cadss6([0, 0, 0, 9, 0, 0])


@pytest.mark.parametrize(
    ("scorer", "low", "high", "name"),
    [
        (scales.score_moaas, 0, 5, "MOAA/S score"),
        (scales.score_pain_nrs, 0, 10, "pain NRS score"),
        (scales.score_nausea, 0, 3, "nausea score"),
    ],
)
def test_single_item_scales_at_their_boundaries(scorer, low, high, name):
    assert scorer(low) == low and scorer(high) == high
    for bad in (low - 1, high + 1):
        with pytest.raises(ScaleError) as exc:
            scorer(bad)
        assert exc.value.field == name


def test_moaas_labels_cover_the_scale():
    assert sorted(scales.MOAAS_LABELS) == [0, 1, 2, 3, 4, 5]
    assert "loss of consciousness" in scales.MOAAS_LABELS[0]


@pytest.mark.parametrize(
    ("score", "band"), [(0, "none"), (3, "mild"), (4, "moderate"), (6, "moderate"), (7, "severe")]
)
def test_pain_bands(score, band):
    assert scales.pain_band(score) == band


def test_bprs_positive_uses_1_to_7_anchors():
    items = dict.fromkeys(scales.BPRS_POSITIVE_ITEMS, 1)
    assert scales.score_bprs_positive(items) == 4
    assert scales.score_bprs_positive(dict.fromkeys(scales.BPRS_POSITIVE_ITEMS, 7)) == 28
    with pytest.raises(ScaleError, match="BPRS\\+ hallucinations: 0 is outside 1-7"):
        scales.score_bprs_positive(items | {"hallucinations": 0})
    with pytest.raises(ScaleError, match="missing item\\(s\\): suspiciousness"):
        scales.score_bprs_positive({k: 1 for k in scales.BPRS_POSITIVE_ITEMS if k != "suspiciousness"})
    with pytest.raises(ScaleError, match="unknown item\\(s\\): grandiosity"):
        scales.score_bprs_positive(items | {"grandiosity": 1})


@pytest.mark.parametrize(("now", "points"), [(140, 2), (100, 2), (141, 1), (170, 1), (171, 0), (69, 0)])
def test_aldrete_circulation_mmhg_version(now, points):
    assert scales.aldrete_circulation(now, 120) == points


def test_aldrete_spo2_item():
    assert scales.aldrete_spo2(93, on_oxygen=False) == 2
    assert scales.aldrete_spo2(93, on_oxygen=True) == 1
    assert scales.aldrete_spo2(92, on_oxygen=False) == 1
    assert scales.aldrete_spo2(90, on_oxygen=True) == 0


def test_aldrete_total_and_readiness():
    full = dict.fromkeys(scales.ALDRETE_ITEMS, 2)
    assert scales.score_aldrete(full).total == 10
    eight = full | {"activity": 1, "spo2": 1}
    assert scales.score_aldrete(eight).ready is False
    with pytest.raises(ScaleError, match="Aldrete consciousness: 3 is outside 0-2"):
        scales.score_aldrete(full | {"consciousness": 3})
    with pytest.raises(ScaleError, match="missing item\\(s\\): spo2"):
        scales.score_aldrete({k: 2 for k in scales.ALDRETE_ITEMS if k != "spo2"})


def test_padss_non_applicable_items_and_cutoff():
    s = scales.score_padss({"vital_signs": 2, "activity_mental_status": 2, "pain_nausea_vomiting": 2})
    assert (s.total, s.ready) == (10, True)
    assert s.items["bleeding"] == 2 and len(s.notes) == 2
    two_lost = scales.score_padss({"vital_signs": 1, "activity_mental_status": 1, "pain_nausea_vomiting": 2})
    assert (two_lost.total, two_lost.ready) == (8, False)
    scored = scales.score_padss(
        {"vital_signs": 2, "activity_mental_status": 2, "pain_nausea_vomiting": 2, "intake_output": 0},
        score_intake_output=True,
    )
    assert (scored.total, scored.ready) == (8, False)
    with pytest.raises(ScaleError, match="missing item\\(s\\): intake_output"):
        scales.score_padss(
            {"vital_signs": 2, "activity_mental_status": 2, "pain_nausea_vomiting": 2},
            score_intake_output=True,
        )


@pytest.mark.parametrize(("pct", "points"), [(0, 2), (-20, 2), (20.5, 1), (40, 1), (41, 0)])
def test_padss_vital_signs(pct, points):
    assert scales.padss_vital_signs(pct) == points


READY = DischargeFacts(
    120,
    80,
    70,
    138,
    95,
    84,
    moaas=5,
    cadss_total=0,
    gait_steady=True,
    escort_present=True,
    no_driving_advice_given=True,
)


def test_discharge_checklist_passes_at_the_limits():
    # +18/+15 mmHg and +20 % heart rate are inside the cited ranges.
    checklist = scales.evaluate_discharge(READY)
    assert checklist.passed and checklist.failures == ()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"systolic_mmhg": 141}, "bp"),
        ({"diastolic_mmhg": 59}, "bp"),
        ({"systolic_mmhg": None}, "bp"),
        ({"baseline_systolic_mmhg": None}, "bp"),
        ({"heart_rate_bpm": 85}, "hr"),
        ({"baseline_heart_rate_bpm": None}, "hr"),
        ({"moaas": 4}, "alert"),
        ({"moaas": None}, "alert"),
        ({"cadss_total": 1}, "dissociation"),
        ({"cadss_total": None}, "dissociation"),
        ({"gait_steady": False}, "gait"),
        ({"escort_present": False}, "escort"),
        ({"no_driving_advice_given": False}, "no_driving"),
    ],
)
def test_discharge_checklist_each_condition(change, code):
    from dataclasses import replace

    checklist = scales.evaluate_discharge(replace(READY, **change))
    assert [i.code for i in checklist.items if not i.passed] == [code]
    assert len(checklist.failures) == 1


def test_discharge_criteria_are_configurable():
    lenient = DischargeCriteria(max_cadss_total=2, max_bp_delta_mmhg=30)
    from dataclasses import replace

    assert scales.evaluate_discharge(replace(READY, cadss_total=2, systolic_mmhg=150), lenient).passed
