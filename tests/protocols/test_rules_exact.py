"""The dose, limit, gate and double-check rules stated exactly: every field of what the prescriber,
the nurse and the API read, worked by hand, and each rule on both sides of its boundary."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ketaclinic.protocols import dose_calc as dc
from ketaclinic.protocols import gates
from ketaclinic.protocols.limits import Breach, Limit, check_value

# ----- the dose computation, field by field ------------------------------------------------------
# Salt: ketamine HCl / base = 274.2 / 237.7 (units.py). Pump rates round half up to 0.1 mL/h.


def test_a_fixed_iv_infusion():
    # 70 kg x 0.5 mg/kg = 35 mg over 40 min = 52.5 mg/h = 0.75 mg/kg/h = 5.25 -> 5.3 mL/h at 10 mg/mL
    req = dc.DoseRequest(
        "iv", D("70"), dose_mg_per_kg=D("0.5"), duration_min=D("40"), conc_base_mg_per_ml=D("10")
    )
    step = {
        "start_min": "0",
        "end_min": "40",
        "rate_mg_per_kg_per_h": "0.7500",
        "rate_mg_per_h": "52.5",
        "rate_ml_per_h": "5.3",
        "mg": "35.0",
    }
    assert dc.compute(req).to_dict() == {
        "route": "iv",
        "drug": "racemic",
        "weight_kg": "70",
        "dose_mg_per_kg": "0.5",
        "dose_mg": "35.0",
        "dose_mg_salt": "40.4",
        "volume_ml": "3.50",
        "concentration_base_mg_per_ml": "10",
        "duration_min": "40",
        "rate_mg_per_kg_per_h": "0.7500",
        "rate_ml_per_h": "5.3",
        "bolus_mg": None,
        "bolus_ml": None,
        "cumulative_mg": "35.0",
        "devices": None,
        "steps": [step],
        "regimen": "iv 35 mg over 40 min",
    }


def test_a_titrated_iv_infusion_with_a_bolus():
    # 80 kg: 0.5, 0.75, 1.0 mg/kg/h for 20 min each = 40, 60, 80 mg/h = 13.3 + 20 + 26.7 = 60 mg;
    # bolus 0.1 mg/kg = 8 mg (0.8 mL); everything in the session 68 mg; the pump starts at 4.0 mL/h
    req = dc.DoseRequest(
        "iv",
        D("80"),
        titration=dc.Titration(D("0.5"), D("0.25"), D("20"), D("1.0")),
        duration_min=D("60"),
        bolus_mg_per_kg=D("0.1"),
        conc_base_mg_per_ml=D("10"),
    )
    computed = dc.compute(req)
    assert computed.to_dict() == {
        "route": "iv",
        "drug": "racemic",
        "weight_kg": "80",
        "dose_mg_per_kg": "0.7500",
        "dose_mg": "60.0",
        "dose_mg_salt": "69.2",
        "volume_ml": "6.00",
        "concentration_base_mg_per_ml": "10",
        "duration_min": "60",
        "rate_mg_per_kg_per_h": "1.00",
        "rate_ml_per_h": "4.0",
        "bolus_mg": "8.0",
        "bolus_ml": "0.80",
        "cumulative_mg": "68.0",
        "devices": None,
        "steps": [
            {
                "start_min": "0",
                "end_min": "20",
                "rate_mg_per_kg_per_h": "0.5",
                "rate_mg_per_h": "40.0",
                "rate_ml_per_h": "4.0",
                "mg": "13.3",
            },
            {
                "start_min": "20",
                "end_min": "40",
                "rate_mg_per_kg_per_h": "0.75",
                "rate_mg_per_h": "60.0",
                "rate_ml_per_h": "6.0",
                "mg": "20.0",
            },
            {
                "start_min": "40",
                "end_min": "60",
                "rate_mg_per_kg_per_h": "1.00",
                "rate_mg_per_h": "80.0",
                "rate_ml_per_h": "8.0",
                "mg": "26.7",
            },
        ],
        "regimen": "bolus 8 mg; iv 40 mg/h for 20 min, then 60 mg/h for 20 min, then 80 mg/h for 20 min",
    }
    assert computed.limit_values() == {
        "dose_mg_per_kg": D("0.75"),
        "dose_mg": D("60.0"),
        "rate_mg_per_kg_per_h": D("1.00"),
        "duration_min": D("60"),
        "cumulative_session_mg": D("68.0"),
        "bolus_mg": D("8.0"),
    }
    # what the engine predicts from: the bolus pushed at 0, then each step at its rate for 20 min
    events = [(e.route, e.start_min, round(e.dose, 6), e.duration_min) for e in computed.regimen().events]
    assert events == [
        ("iv", 0.0, 8.0, 0.0),
        ("iv", 0.0, 13.333333, 20.0),
        ("iv", 20.0, 20.0, 20.0),
        ("iv", 40.0, 26.666667, 20.0),
    ]


def test_what_the_engine_is_given_for_a_fixed_infusion_and_a_nasal_dose():
    fixed = dc.DoseRequest(
        "iv", D("70"), dose_mg_per_kg=D("0.5"), duration_min=D("40"), conc_base_mg_per_ml=D("10")
    )
    assert [(e.start_min, e.dose, e.duration_min) for e in dc.compute(fixed).regimen().events] == [
        (0.0, 35.0, 40.0)
    ]
    nasal = dc.compute(dc.DoseRequest("nasal", D("70"), dose_mg=D("56"), drug="esketamine")).regimen()
    assert [(e.route, e.drug, e.dose, e.device_index) for e in nasal.events] == [
        ("nasal", "esketamine", 28.0, 0),
        ("nasal", "esketamine", 28.0, 1),
    ]
    im = dc.compute(
        dc.DoseRequest("im", D("70"), dose_mg_per_kg=D("0.5"), conc_base_mg_per_ml=D("50"))
    ).regimen()
    assert [(e.route, e.start_min, e.dose) for e in im.events] == [("im", 0.0, 35.0)]


def test_an_im_injection_and_a_nasal_dose():
    im = dc.DoseRequest("im", D("70"), dose_mg_per_kg=D("0.5"), conc_base_mg_per_ml=D("50"))
    assert dc.compute(im).to_dict() == {
        "route": "im",
        "drug": "racemic",
        "weight_kg": "70",
        "dose_mg_per_kg": "0.5",
        "dose_mg": "35.0",
        "dose_mg_salt": "40.4",
        "volume_ml": "0.70",
        "concentration_base_mg_per_ml": "50",
        "duration_min": None,
        "rate_mg_per_kg_per_h": None,
        "rate_ml_per_h": None,
        "bolus_mg": None,
        "bolus_ml": None,
        "cumulative_mg": "35.0",
        "devices": None,
        "steps": [],
        "regimen": "im 35 mg",
    }
    nasal = dc.DoseRequest("nasal", D("70"), dose_mg=D("56"), drug="esketamine")
    assert dc.compute(nasal).to_dict() == {
        "route": "nasal",
        "drug": "esketamine",
        "weight_kg": "70",
        "dose_mg_per_kg": "0.8000",
        "dose_mg": "56",
        "dose_mg_salt": None,
        "volume_ml": None,
        "concentration_base_mg_per_ml": None,
        "duration_min": None,
        "rate_mg_per_kg_per_h": None,
        "rate_ml_per_h": None,
        "bolus_mg": None,
        "bolus_ml": None,
        "cumulative_mg": "56",
        "devices": 2,
        "steps": [],
        "regimen": "nasal esketamine 56 mg",
    }


@pytest.mark.parametrize(
    ("titration", "errors"),
    [
        (dc.Titration(D("0.5"), D("0"), D("1"), D("0.5")), []),  # no step, ceiling at the start: valid
        (
            dc.Titration(D("0"), D("0.1"), D("20"), D("1")),
            ["titration_start: the starting rate must be above 0 mg/kg/h."],
        ),
        (
            dc.Titration(D("0.5"), D("-0.01"), D("20"), D("1")),
            ["titration_step: the step must not be negative."],
        ),
        (
            dc.Titration(D("0.5"), D("0.1"), D("0"), D("1")),
            ["titration_interval: the interval between steps must be above 0 min."],
        ),
        (
            dc.Titration(D("0.5"), D("0.1"), D("20"), D("0.49")),
            ["titration_ceiling: the ceiling must not be below the starting rate."],
        ),
    ],
)
def test_a_titration_is_checked_on_both_sides_of_each_bound(titration, errors):
    assert titration.validate() == errors


# ----- the double check ---------------------------------------------------------------------------


def mismatches(order_rate, *, weight="70", dose="35.0", rate=None):
    found = dc.compare_double_check(
        D("70"),
        D("35.0"),
        order_rate,
        entered_weight_kg=D(weight),
        entered_dose_mg=D(dose),
        entered_rate_ml_per_h=None if rate is None else D(rate),
    )
    return [(m.field, m.message) for m in found]


def test_the_double_check_at_its_tolerances_and_past_them():
    assert mismatches(D("5.3"), weight="70.1", dose="34.9", rate="5.4") == []
    assert mismatches(D("5.3"), weight="69.89", dose="35.11", rate="5.19") == [
        ("weight", "Weight does not match the order: weigh or check the record again."),
        ("dose_mg", "Dose does not match the order: recalculate from the plan."),
        ("rate_ml_per_h", "Pump rate does not match the order: recalculate."),
    ]


def test_an_infusion_needs_the_nurses_own_pump_rate():
    assert mismatches(D("5.3")) == [("rate_ml_per_h", "Enter the pump rate you calculated (mL/h).")]
    assert mismatches(None) == []  # a nasal or IM order has no pump rate


# ----- limits --------------------------------------------------------------------------------------


LIMIT = Limit(D("0.2"), D("0.1"), D("0.75"), D("1.0"), source="clinical.md §2.1")


@pytest.mark.parametrize(
    ("value", "breach"),
    [
        (D("1.01"), ("hard", "max", D("1.0"))),
        (D("1.0"), ("soft", "max", D("0.75"))),
        (D("0.75"), None),
        (D("0.2"), None),
        (D("0.19"), ("soft", "min", D("0.2"))),
        (D("0.1"), ("soft", "min", D("0.2"))),
        (D("0.09"), ("hard", "min", D("0.1"))),
    ],
)
def test_each_bound_of_a_limit(value, breach):
    found = check_value("dose_mg_per_kg", LIMIT, value)
    if breach is None:
        assert found is None
    else:
        assert found == Breach("dose_mg_per_kg", *breach, value, "clinical.md §2.1")


def test_a_breach_as_the_prescriber_and_the_api_read_it():
    breach = check_value("dose_mg_per_kg", LIMIT, D("0.15"))
    assert breach.to_dict() == {
        "kind": "dose_mg_per_kg",
        "label": "Dose per kg",
        "severity": "soft",
        "side": "min",
        "limit": "0.2",
        "value": "0.15",
        "unit": "mg/kg",
        "message": "Dose per kg 0.15 mg/kg is below the soft minimum of 0.2 mg/kg: "
        "needs a prescriber's override with a reason.",
        "source": "clinical.md §2.1",
    }
    hard = check_value("dose_mg_per_kg", LIMIT, D("1.5"))
    assert hard.message == "Dose per kg 1.5 mg/kg is above the hard maximum of 1 mg/kg: refused."


def test_a_limit_reads_back_what_it_stored():
    assert Limit.from_dict(LIMIT.to_dict()) == LIMIT
    assert Limit.from_dict({"soft_max": "", "open": True, "source": "x"}) == Limit(is_open=True, source="x")
    assert Limit.from_dict({}) == Limit()
    assert Limit.open("none published") == Limit(is_open=True, source="none published")
    assert Limit.open() == Limit(is_open=True, source="")
    assert (
        LIMIT.describe("mg/kg")
        == "soft min 0.2 mg/kg, hard min 0.1 mg/kg, soft max 0.75 mg/kg, hard max 1 mg/kg"
    )
    assert Limit.open().describe("mg") == "open (no limit set)"


# ----- the pre-dose gates --------------------------------------------------------------------------

GATES = [
    {"systolic_above": 140, "diastolic_above": 90, "action": "caution"},
    {"systolic_above": 180, "diastolic_above": 100, "action": "hold"},
]


@pytest.mark.parametrize(("systolic", "diastolic"), [(40, 20), (300, 200)])
def test_the_plausible_range_includes_its_ends(systolic, diastolic):
    assert gates.evaluate([], systolic, diastolic).action == "proceed"


@pytest.mark.parametrize(("systolic", "diastolic"), [(39, 60), (301, 60), (120, 19), (120, 201)])
def test_an_impossible_reading_is_refused(systolic, diastolic):
    with pytest.raises(ValueError) as caught:
        gates.evaluate(GATES, systolic, diastolic)
    assert str(caught.value) == f"blood_pressure: {systolic}/{diastolic} mmHg is not a plausible reading"


def test_a_missing_reading_is_refused():
    with pytest.raises(ValueError) as caught:
        gates.evaluate(GATES, 120, None)
    assert str(caught.value) == "blood_pressure: a pre-dose reading (systolic and diastolic) is required"


def test_every_gate_that_fires_is_listed_and_the_worst_decides():
    result = gates.evaluate(GATES, 185, 80)
    assert (result.action, result.fired) == ("hold", tuple(GATES))
    assert result.text.startswith("Hold the dose")
    # the order of the gates does not matter
    assert gates.evaluate(list(reversed(GATES)), 185, 80).action == "hold"
    assert gates.evaluate(GATES, 120, 95).fired == (GATES[0],)


# ----- refusals name the field, the unit and the value -------------------------------------------


def refusal(req):
    with pytest.raises(ValueError) as caught:
        dc.compute(req)
    return str(caught.value)


def test_each_missing_or_impossible_number_is_named_with_its_unit():
    iv = {"dose_mg_per_kg": D("0.5"), "duration_min": D("40"), "conc_base_mg_per_ml": D("10")}
    assert refusal(dc.DoseRequest("iv", D("0"), **iv)) == "weight_kg: must be greater than 0 kg (got 0)."
    assert refusal(dc.DoseRequest("iv", D("70"), **(iv | {"conc_base_mg_per_ml": None}))) == (
        "concentration: required for this route (mg/mL)."
    )
    assert refusal(dc.DoseRequest("iv", D("70"), **(iv | {"duration_min": D("-5")}))) == (
        "duration_min: must be greater than 0 min (got -5)."
    )
    assert refusal(dc.DoseRequest("iv", D("70"), **(iv | {"dose_mg_per_kg": None}))) == (
        "dose_mg_per_kg: required for this route (mg/kg)."
    )
    assert refusal(dc.DoseRequest("im", D("70"), conc_base_mg_per_ml=D("50"))) == (
        "dose_mg_per_kg: required for this route (mg/kg)."
    )
    assert refusal(dc.DoseRequest("iv", D("70"), **(iv | {"bolus_mg_per_kg": D("-0.1")}))) == (
        "bolus_mg_per_kg: must be greater than 0 mg/kg (got -0.1)."
    )
    assert refusal(dc.DoseRequest("nasal", D("70"), dose_mg=D("42"), drug="esketamine")) == (
        "dose_mg: esketamine comes in 28 mg devices; "
        "42 mg is not a whole number of devices (use 28, 56 or 84 mg)."
    )
    assert (
        refusal(dc.DoseRequest("nasal", D("70"), drug="esketamine"))
        == "dose_mg: required for this route (mg)."
    )
    assert refusal(dc.DoseRequest("sc", D("70"), **iv)) == "route: 'sc' is not one of iv, im, nasal."


def test_a_bolus_of_zero_is_no_bolus():
    iv = {"dose_mg_per_kg": D("0.5"), "duration_min": D("40"), "conc_base_mg_per_ml": D("10")}
    computed = dc.compute(dc.DoseRequest("iv", D("70"), bolus_mg_per_kg=D("0"), **iv))
    assert (computed.bolus_mg, computed.bolus_ml, computed.cumulative_mg) == (None, None, D("35.0"))
    one = dc.compute(dc.DoseRequest("iv", D("70"), bolus_mg_per_kg=D("1"), **iv))
    assert (one.bolus_mg, one.cumulative_mg) == (D("70.0"), D("105.0"))


def test_a_titration_without_a_step_is_one_rate_for_the_whole_infusion():
    steps = dc.titration_steps(dc.Titration(D("0.5"), D("0"), D("20"), D("1.0")), D("60"), D("70"), D("10"))
    assert [(s.start_min, s.end_min, s.rate_mg_per_kg_per_h) for s in steps] == [(D("0"), D("60"), D("0.5"))]
    # the ceiling reached, the rate holds to the end in one segment
    steps = dc.titration_steps(dc.Titration(D("0.5"), D("0.5"), D("10"), D("1.0")), D("60"), D("70"), None)
    assert [(s.start_min, s.end_min, s.rate_ml_per_h) for s in steps] == [
        (D("0"), D("10"), None),
        (D("10"), D("60"), None),
    ]


# ----- a limit as the admin writes it ------------------------------------------------------------


def test_soft_bounds_may_equal_hard_ones_and_the_minimum_the_maximum():
    from ketaclinic.protocols.limits import validate_limit

    assert validate_limit("dose_mg_per_kg", Limit(D("0.5"), D("0.5"), D("1"), D("1"))) == []
    assert validate_limit("dose_mg_per_kg", Limit(soft_min=D("1"), soft_max=D("1"))) == []
    assert validate_limit("dose_mg_per_kg", Limit(soft_min=D("0.4"), hard_min=D("0.5"))) == [
        "dose_mg_per_kg.soft_min: must not be below hard_min (0.5 mg/kg)."
    ]
    assert validate_limit("dose_mg_per_kg", Limit(soft_max=D("1.1"), hard_max=D("1"))) == [
        "dose_mg_per_kg.soft_max: must not be above hard_max (1 mg/kg)."
    ]
    assert validate_limit("dose_mg_per_kg", Limit(soft_min=D("2"), hard_max=D("1"))) == [
        "dose_mg_per_kg: the minimum bounds must lie below the maximum bounds."
    ]
    assert validate_limit("bolus_mg", Limit(soft_min=D("1"), hard_max=D("5"))) == [
        "bolus_mg.soft_min: Bolus has no minimum bound."
    ]
    assert validate_limit("dose_mg", Limit(hard_max=D("-1"))) == [
        "dose_mg.hard_max: must not be negative (got -1 mg)."
    ]
    assert validate_limit("dose_mg", Limit()) == [
        "dose_mg: set at least one bound, or mark the limit open explicitly."
    ]
    assert validate_limit("dose_mg", Limit(hard_max=D("1"), is_open=True)) == [
        "dose_mg: an open limit has no bounds; clear them or untick 'open'."
    ]


def test_every_problem_of_a_stored_library_entry_is_named_at_once():
    from ketaclinic.protocols.limits import KINDS, parse_limits

    data = {key: {"open": True} for key in KINDS}
    data["dose_mg"] = {"hard_max": "abc"}
    data["bolus_mg"] = {"hard_max": "x"}
    del data["duration_min"]
    data["colour"] = {"open": True}
    with pytest.raises(ValueError) as caught:
        parse_limits(data)
    assert str(caught.value) == (
        "dose_mg: bounds must be numbers.; duration_min: missing; give bounds or mark it open explicitly.; "
        "bolus_mg: bounds must be numbers.; colour: not a known limit kind."
    )


def test_a_two_step_titration_is_predicted_step_by_step():
    # 0.5 mg/kg/h for 20 min, then the 1.0 ceiling to 60 min: 70 kg -> 35 mg/h then 70 mg/h
    req = dc.DoseRequest(
        "iv", D("70"), titration=dc.Titration(D("0.5"), D("0.5"), D("20"), D("1.0")), duration_min=D("60"),
        conc_base_mg_per_ml=D("10"),
    )  # fmt: skip
    computed = dc.compute(req)
    assert len(computed.steps) == 2
    assert computed.regimen_text() == "iv 35 mg/h for 20 min, then 70 mg/h for 40 min"
    events = [(e.start_min, round(e.dose, 6), e.duration_min) for e in computed.regimen().events]
    assert events == [(0.0, 11.666667, 20.0), (20.0, 46.666667, 40.0)]


def test_the_engine_is_given_the_ordered_drug():
    esketamine_iv = dc.DoseRequest(
        "iv", D("70"), dose_mg_per_kg=D("0.25"), duration_min=D("40"), conc_base_mg_per_ml=D("5"),
        drug="esketamine",
    )  # fmt: skip
    assert {e.drug for e in dc.compute(esketamine_iv).regimen().events} == {"esketamine"}
    im = dc.DoseRequest("im", D("70"), dose_mg_per_kg=D("0.5"), conc_base_mg_per_ml=D("50"))
    assert {e.drug for e in dc.compute(im).regimen().events} == {"racemic"}
    nasal = dc.compute(dc.DoseRequest("nasal", D("70"), dose_mg=D("84"), drug="esketamine"))
    import dataclasses

    assert len(dataclasses.replace(nasal, devices=None).regimen().events) == 3  # counted from the dose


def test_a_step_without_a_concentration_has_no_pump_rate():
    (step,) = dc.titration_steps(dc.Titration(D("0.5"), D("0"), D("1"), D("0.5")), D("40"), D("70"), None)
    assert step.to_dict() == {
        "start_min": "0",
        "end_min": "40",
        "rate_mg_per_kg_per_h": "0.5",
        "rate_mg_per_h": "35.0",
        "rate_ml_per_h": None,
        "mg": "23.3",
    }
