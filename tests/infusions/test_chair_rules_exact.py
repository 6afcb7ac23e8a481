"""The chair's pure rules stated exactly: the running limits (a bolus against the order and the
library, a rate in mg/kg/h), the scored forms' totals, maxima and refusals, the discharge
checklist's items, and the overdue alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from ketaclinic.infusions import alert_rules, guardrails, scales
from ketaclinic.infusions.guardrails import BOLUS, ORDER_SOURCE, RATE, OrderFacts
from ketaclinic.protocols.limits import Breach, Limit

# ----- the running limits ------------------------------------------------------------------------

LIBRARY = {BOLUS: Limit(soft_max=D("7"), hard_max=D("20"), source="library: bolus")}


def facts(bolus=D("10"), limits=LIBRARY, conc=D("10"), weight=D("70"), rate=D("5.3")):
    return OrderFacts(weight, conc, rate, bolus, limits)


def test_a_bolus_not_in_the_order_is_refused_at_zero():
    assert guardrails.check_bolus(facts(bolus=None), D("5")) == [
        Breach(BOLUS, "hard", "max", D("0"), D("5"), ORDER_SOURCE)
    ]
    (breach,) = guardrails.check_bolus(facts(bolus=None), D("5"))
    assert (
        guardrails.explain(breach)
        == "The signed order contains no bolus: a prescriber adds one to the order first."
    )


def test_the_librarys_bolus_limit_applies_inside_the_order():
    # the order allows 10 mg; the library's soft maximum is 7 mg: 8 mg needs a confirmation
    assert guardrails.check_bolus(facts(), D("7")) == []
    assert guardrails.check_bolus(facts(), D("8")) == [
        Breach(BOLUS, "soft", "max", D("7"), D("8"), "library: bolus")
    ]
    # past the order and the library's hard maximum: both
    assert guardrails.check_bolus(facts(bolus=D("30")), D("25")) == [
        Breach(BOLUS, "hard", "max", D("20"), D("25"), "library: bolus")
    ]
    assert guardrails.check_bolus(facts(), D("12")) == [
        Breach(BOLUS, "hard", "max", D("10"), D("12"), ORDER_SOURCE),
        Breach(BOLUS, "soft", "max", D("7"), D("12"), "library: bolus"),
    ]
    assert guardrails.check_bolus(facts(limits={}), D("10")) == []


def test_a_rate_in_mg_per_kg_per_h_needs_a_concentration_and_a_weight():
    # 5.25 mL/h x 10 mg/mL / 70 kg = 0.75 exactly; 0.00005 rounds half up
    assert guardrails.rate_mg_per_kg_per_h(facts(), D("5.25")) == D("0.7500")
    assert guardrails.rate_mg_per_kg_per_h(facts(weight=D("2")), D("0.00001")) == D("0.0001")  # 0.00005 up
    assert guardrails.rate_mg_per_kg_per_h(facts(conc=None), D("5")) is None
    assert guardrails.rate_mg_per_kg_per_h(facts(weight=D("0")), D("5")) is None


def test_a_rate_above_the_order_is_named_against_it():
    (breach,) = guardrails.check_rate(facts(limits={}), D("6"))
    assert breach == Breach(RATE, "soft", "max", D("0.7571"), D("0.8571"), ORDER_SOURCE)
    assert guardrails.explain(breach) == (
        "Infusion rate 0.8571 mg/kg/h is above the 0.7571 mg/kg/h of the signed order: confirm with a reason."
    )
    over = Breach(BOLUS, "hard", "max", D("10"), D("12"), ORDER_SOURCE)
    assert guardrails.explain(over) == "A bolus of 12 mg is above the 10 mg of the signed order: refused."


# ----- scored forms --------------------------------------------------------------------------------


def scale_error(call):
    with pytest.raises(scales.ScaleError) as caught:
        call()
    return caught.value.field, str(caught.value)


def test_cadss_refusals_name_the_scale():
    assert scale_error(lambda: scales.score_cadss([0] * 22)) == ("CADSS", "CADSS: needs all 23 items, got 22")
    assert scale_error(lambda: scales.score_cadss6([0] * 5)) == ("CADSS-6", "CADSS-6: needs 6 items, got 5")
    assert scale_error(lambda: scales.score_cadss6({1: 0, 2: 0, 6: 0, 7: 0, 15: 0, 3: 0, 4: 0})) == (
        "CADSS-6",
        "CADSS-6: missing item(s) 22; item(s) 3, 4 are not in the short form",
    )
    assert scale_error(lambda: scales.score_cadss6({1: 0, 2: 0, 6: 0, 7: 0})) == (
        "CADSS-6",
        "CADSS-6: missing item(s) 15, 22",
    )
    assert scale_error(lambda: scales.score_cadss6({1: 0, 2: 0, 6: 0, 7: 0, 15: 0, 22: 0, 9: 1})) == (
        "CADSS-6",
        "CADSS-6: item(s) 9 are not in the short form",
    )
    assert scales.score_cadss6([4, 4, 4, 4, 4, 4]) == 24
    assert scales.score_cadss6({"1": 1, "2": 1, "6": 1, "7": 1, "15": 1, "22": 1}) == 6


def test_bprs_positive_refusals():
    items = dict.fromkeys(scales.BPRS_POSITIVE_ITEMS, 1)
    first, *rest = scales.BPRS_POSITIVE_ITEMS
    assert scale_error(lambda: scales.score_bprs_positive({k: 1 for k in rest})) == (
        "BPRS+",
        f"BPRS+: missing item(s): {first}",
    )
    assert scale_error(lambda: scales.score_bprs_positive(items | {"mood": 1, "anxiety": 2})) == (
        "BPRS+",
        "BPRS+: unknown item(s): anxiety, mood",
    )


def test_aldrete_totals_of_ten_and_its_spo2_points():
    assert [scales.aldrete_spo2(v, False) for v in (93, 92, 91, 90)] == [2, 1, 1, 0]
    assert scales.aldrete_spo2(95, True) == 1
    full = dict.fromkeys(scales.ALDRETE_ITEMS, 2)
    score = scales.score_aldrete(full)
    assert (score.total, score.maximum, score.ready) == (10, 10, True)
    assert scales.score_aldrete(full | {"spo2": 0, "activity": 1}).ready is False  # 7
    first, *rest = scales.ALDRETE_ITEMS
    assert scale_error(lambda: scales.score_aldrete(dict.fromkeys(rest[:-1], 2))) == (
        "Aldrete",
        f"Aldrete: missing item(s): {first}, {rest[-1]}",
    )


def test_padss_items_are_zero_to_two_and_the_unused_ones_are_noted():
    score = scales.score_padss({"vital_signs": 2, "activity_mental_status": 2, "pain_nausea_vomiting": 2})
    assert (score.total, score.maximum, score.ready) == (10, 10, True)
    assert score.notes == (
        "bleeding not applicable after ketamine; scored 2 (local choice, unconfirmed)",
        "intake_output not applicable after ketamine; scored 2 (local choice, unconfirmed)",
    )
    assert list(score.items) == list(scales.PADSS_ITEMS)
    assert scale_error(
        lambda: scales.score_padss({"vital_signs": 3, "activity_mental_status": 2, "pain_nausea_vomiting": 2})
    ) == ("PADSS vital_signs", "PADSS vital_signs: 3 is outside 0-2")
    assert scale_error(lambda: scales.score_padss({"vital_signs": 2})) == (
        "PADSS",
        "PADSS: missing item(s): activity_mental_status, pain_nausea_vomiting",
    )


# ----- discharge ---------------------------------------------------------------------------------


def items_by_code(facts):
    return {i.code: i for i in scales.evaluate_discharge(facts).items}


def test_blood_pressure_needs_a_recovery_reading_and_a_baseline():
    no_reading = items_by_code(scales.DischargeFacts(120, 80, 70))["bp"]
    assert no_reading == scales.ChecklistItem(
        "bp", "Blood pressure back near baseline", False, "no blood pressure recorded in recovery"
    )
    no_baseline = items_by_code(scales.DischargeFacts(None, None, 70, 120, 80, 70))["bp"]
    assert no_baseline == scales.ChecklistItem(
        "bp", "Blood pressure back near baseline", False, "no pre-dose blood pressure to compare with"
    )


def test_the_padss_cut_off_holds_at_eight_and_passes_at_nine():
    assert scales.discharge_failures(scales.Checklist(), "padss", 9) == ()
    assert scales.discharge_failures(scales.Checklist(), "padss", 8) == ("PADSS 8 is below 9",)
    assert scales.discharge_failures(scales.Checklist(), "aldrete", 8) == ("modified Aldrete 8 is below 9",)
    assert scales.discharge_failures(scales.Checklist(), "padss", None) == (
        "no PADSS score recorded in recovery (the protocol's discharge criterion)",
    )
    failing = scales.evaluate_discharge(scales.DischargeFacts(120, 80, 70))
    assert scales.discharge_failures(failing, "padss", 10) == failing.failures


# ----- overdue -----------------------------------------------------------------------------------


def test_an_overdue_reading_is_a_confirmed_warning_past_the_grace():
    t0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    kwargs = {"phase": "dosing", "phase_started_at": t0, "last_at": {}}
    # due at 09:10; the grace is 5 min: at 09:15 not yet, at 09:15:01 overdue
    assert alert_rules.overdue(alert_rules.DEFAULT_SCHEDULE, now=t0 + timedelta(minutes=15), **kwargs) == []
    (finding,) = alert_rules.overdue(
        alert_rules.DEFAULT_SCHEDULE, now=t0 + timedelta(minutes=21, seconds=59), **kwargs
    )
    assert finding.to_dict() == {
        "code": "overdue_vitals",
        "severity": "warning",
        "message": "Vitals overdue: due at 09:10 UTC, 11 min ago (every 10 min).",
        "source": alert_rules.SOURCES["overdue"],
        "confirmed": True,
    }
    # recovery is read every 15 min from its own start
    recovery = {"phase": "recovery", "phase_started_at": t0 + timedelta(minutes=50), "last_at": {}}
    assert alert_rules.overdue(alert_rules.DEFAULT_SCHEDULE, now=t0 + timedelta(minutes=70), **recovery) == []
    assert (
        len(alert_rules.overdue(alert_rules.DEFAULT_SCHEDULE, now=t0 + timedelta(minutes=71), **recovery))
        == 1
    )


def test_nothing_recorded_in_recovery_fails_every_item_and_says_what_is_missing():
    checklist = scales.evaluate_discharge(scales.DischargeFacts())
    assert not checklist.passed
    assert checklist.failures == (
        "Blood pressure back near baseline: no blood pressure recorded in recovery",
        "Fully alert: no MOAA/S recorded in recovery",
        "Heart rate back near baseline: no heart rate recorded in recovery",
        "Dissociation resolved: no CADSS recorded in recovery",
        "Steady gait: not confirmed",
        "Escort present: not confirmed",
        "Advised not to drive until the next day: not given",
    )
    no_baseline = items_by_code(scales.DischargeFacts(heart_rate_bpm=70))["hr"]
    assert no_baseline == scales.ChecklistItem(
        "hr", "Heart rate back near baseline", False, "no pre-dose heart rate to compare with"
    )


READY = scales.DischargeFacts(
    120, 80, 70, 140, 100, 84, moaas=5, cadss_total=0, gait_steady=True, escort_present=True,
    no_driving_advice_given=True,
)  # fmt: skip


def test_ready_to_leave_at_every_limit_and_the_words_of_each_item():
    # +20/+20 mmHg and +20 % heart rate are within the limits; MOAA/S 5 and CADSS 0 as required
    checklist = scales.evaluate_discharge(READY)
    assert checklist.passed and checklist.failures == ()
    assert [(i.code, i.label, i.detail) for i in checklist.items] == [
        ("bp", "Blood pressure back near baseline", "140/100 vs 120/80 mmHg (+20/+20; limit +/-20)"),
        ("alert", "Fully alert", "MOAA/S 5"),
        ("hr", "Heart rate back near baseline", "84 vs 70/min (+20 %; limit +/-20 %)"),
        ("dissociation", "Dissociation resolved", "CADSS 0 (must be at most 0)"),
        ("gait", "Steady gait", "confirmed"),
        ("escort", "Escort present", "confirmed"),
        ("no_driving", "Advised not to drive until the next day", "given"),
    ]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"systolic_mmhg": 141}, "bp"),
        ({"diastolic_mmhg": 59}, "bp"),
        ({"heart_rate_bpm": 85}, "hr"),
        ({"heart_rate_bpm": 55}, "hr"),
        ({"moaas": 4}, "alert"),
        ({"cadss_total": 1}, "dissociation"),
        ({"gait_steady": False}, "gait"),
        ({"escort_present": False}, "escort"),
        ({"no_driving_advice_given": False}, "no_driving"),
    ],
)
def test_one_step_past_any_limit_holds_the_patient(change, code):
    import dataclasses

    checklist = scales.evaluate_discharge(dataclasses.replace(READY, **change))
    assert [i.code for i in checklist.items if not i.passed] == [code]


# ----- the session's rules from its protocol -------------------------------------------------------


def test_a_protocols_own_monitoring_schedule_is_the_one_used():
    from ketaclinic.infusions import session_rules

    config = {
        "monitoring_schedule": [
            {"kind": "vitals", "phase": "dosing", "every_min": 5},
            {"kind": "cadss", "phase": "recovery", "every_min": "30"},
            {"phase": "recovery", "every_min": 15},  # kind defaults to vitals
            {"kind": "vitals", "phase": "after", "every_min": 10},  # not a phase: ignored
            {"kind": "vitals", "phase": "dosing", "every_min": 0},  # no interval: ignored
        ],
        "monitoring": [{"what": "BP", "when": "every 60 min during it"}],  # the explicit list wins
    }
    rules = session_rules.from_snapshot({"config": config}, "iv")
    assert rules.schedule_from_protocol and rules.notes == ()
    assert [(e.kind, e.phase, e.every) for e in rules.schedule.entries] == [
        ("vitals", "dosing", timedelta(minutes=5)),
        ("cadss", "recovery", timedelta(minutes=30)),
        ("vitals", "recovery", timedelta(minutes=15)),
    ]
    default = session_rules.from_snapshot(
        {"config": {"monitoring_schedule": [{"phase": "x", "every_min": 5}]}}
    )
    assert default.schedule == alert_rules.DEFAULT_SCHEDULE and not default.schedule_from_protocol
    assert default.notes == (
        "The protocol gives no observation interval; vitals every 10 min while dosing and 15 min in "
        "recovery are the default (clinical.md §1.4 [S6]).",
    )


# ----- the alert each reading raises, in the words the nurse reads ---------------------------------

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def alerts(**values):
    reading = alert_rules.Reading(T0 + timedelta(minutes=30), **values)
    return [
        (a.code, a.message) for a in alert_rules.evaluate(reading, baseline=alert_rules.Baseline(120, 80))
    ]


def test_each_vital_sign_alert_says_the_value_and_the_limit():
    assert alerts(heart_rate_bpm=49) == [("hr_low", "Heart rate 49/min is below 50/min.")]
    assert alerts(heart_rate_bpm=111) == [("hr_high", "Heart rate 111/min is above 110/min.")]
    assert alerts(spo2_pct=92) == [("spo2_low", "SpO2 92 % is at or below 92 %.")]
    assert alerts(spo2_pct=89) == [("spo2_critical", "SpO2 89 % is below 90 %.")]
    assert alerts(resp_rate_per_min=9) == [("rr_low", "Respiratory rate 9/min is below 10/min.")]
    assert alerts(resp_rate_per_min=25) == [("rr_high", "Respiratory rate 25/min is above 24/min.")]
    assert alerts(temperature_c=38.1) == [("temp_high", "Temperature 38.1 °C is above 38.0 °C.")]


def test_blood_pressure_alerts_in_words_even_with_one_half_of_the_reading():
    assert alerts(systolic_mmhg=125, diastolic_mmhg=101) == [
        ("bp_hold", "Blood pressure 125/101 mmHg: diastolic above 100 mmHg; consider holding the dose.")
    ]
    # a systolic alone still raises its alert; the missing half is shown as "?"
    assert alerts(systolic_mmhg=185) == [
        ("bp_severe", "Blood pressure 185/? mmHg: severe hypertension (>= 180/120 mmHg)."),
        ("bp_rise", "Blood pressure 185/? mmHg has risen from baseline 120/80 mmHg (systolic +65 mmHg)."),
    ]
    assert alerts(diastolic_mmhg=106) == [
        ("bp_hold", "Blood pressure ?/106 mmHg: diastolic above 100 mmHg; consider holding the dose."),
        ("bp_rise", "Blood pressure ?/106 mmHg has risen from baseline 120/80 mmHg (diastolic +26 mmHg)."),
    ]
    assert alerts(systolic_mmhg=165, diastolic_mmhg=106)[-1] == (
        "bp_rise",
        "Blood pressure 165/106 mmHg has risen from baseline 120/80 mmHg (systolic +45, diastolic +26 mmHg).",
    )
    assert alerts() == []


def test_the_baseline_is_the_last_pressure_taken_up_to_the_start_of_dosing():
    at_start = alert_rules.Reading(T0, systolic_mmhg=130, diastolic_mmhg=85)
    earlier = alert_rules.Reading(T0 - timedelta(minutes=10), systolic_mmhg=120, diastolic_mmhg=80)
    after = alert_rules.Reading(T0 + timedelta(minutes=1), systolic_mmhg=170, diastolic_mmhg=100)
    pulse_only = alert_rules.Reading(T0 - timedelta(minutes=1), heart_rate_bpm=70)
    history = [earlier, at_start, after, pulse_only]
    assert alert_rules.baseline_from(history, T0) == alert_rules.Baseline(130, 85)
    assert alert_rules.baseline_from(history, None) == alert_rules.Baseline()
    assert alert_rules.baseline_from([after], T0) == alert_rules.Baseline()


def test_a_score_keeps_its_items_and_a_checklist_item_its_code():
    items = dict.fromkeys(scales.ALDRETE_ITEMS, 2)
    assert scales.score_aldrete(items).items == items
    (hr,) = [
        i for i in scales.evaluate_discharge(scales.DischargeFacts()).items if i.label.startswith("Heart")
    ]
    assert (hr.code, hr.passed) == ("hr", False)
    first, *rest = scales.BPRS_POSITIVE_ITEMS
    with pytest.raises(scales.ScaleError, match=f"missing item\\(s\\): {first}, {rest[0]}$"):
        scales.score_bprs_positive({k: 1 for k in rest[1:]})


def test_the_orders_highest_rate_is_its_rate_or_its_highest_step():
    kw = {"weight_kg": D("70"), "concentration_mg_per_ml": D("10"), "bolus_mg": None, "limits": {}}
    stepped = guardrails.order_facts(
        rate_ml_per_h=D("4.0"), step_rates_ml_per_h=[D("4.0"), D("8.0"), D("6.0")], **kw
    )
    assert stepped.ordered_rate_ml_per_h == D("8.0")
    assert (
        guardrails.order_facts(rate_ml_per_h=None, step_rates_ml_per_h=[], **kw).ordered_rate_ml_per_h is None
    )
