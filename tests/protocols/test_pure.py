"""Pure rules: unit conversions, every limit type at its boundary, dose computation, gates."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ketaclinic.pkpd import parse_regimen
from ketaclinic.protocols import catalog, dose_calc, gates, limits, units

# --- units -------------------------------------------------------------------------------------


def test_base_to_salt_matches_ketalar_label():
    # reference/pkpd.md: Ketalar 10 mg base = 11.53 mg HCl
    assert units.q(units.base_to_salt_mg(D("10")), "0.01") == D("11.53")
    assert units.q(units.salt_to_base_mg(D("11.53")), "0.01") == D("10.00")


def test_base_salt_round_trip_is_exact_enough():
    for mg in (D("1"), D("35"), D("84.7")):
        assert abs(units.salt_to_base_mg(units.base_to_salt_mg(mg)) - mg) < D("1e-20")


def test_concentration_labelled_as_salt_is_converted_to_base():
    assert units.base_mg_per_ml(D("50"), "base") == D("50")
    assert units.q(units.base_mg_per_ml(D("50"), "salt"), "0.01") == D("43.35")  # 50 x 237.73/274.19
    with pytest.raises(ValueError, match="basis"):
        units.base_mg_per_ml(D("50"), "ester")
    with pytest.raises(ValueError, match="concentration"):
        units.base_mg_per_ml(D("0"), "base")


def test_mg_to_ml():
    assert units.mg_to_ml(D("35"), D("10")) == D("3.5")
    assert units.mg_to_ml(D("35"), D("50")) == D("0.7")


def test_kg_lb():
    assert units.weight_to_kg(D("154.32"), "lb") == D("70.00")
    assert units.weight_to_kg(D("70"), "kg") == D("70.00")
    assert units.kg_to_lb(D("70")) == D("154.3")
    with pytest.raises(ValueError, match="unit"):
        units.weight_to_kg(D("70"), "st")


# --- limits ------------------------------------------------------------------------------------


def all_open():
    return {k: limits.Limit.open() for k in limits.KINDS}


MAX_KINDS = [
    ("dose_mg_per_kg", D("0.75"), D("1.0"), D("0.0001")),
    ("dose_mg", D("75"), D("100"), D("0.1")),
    ("rate_mg_per_kg_per_h", D("1.125"), D("1.5"), D("0.0001")),
    ("duration_min", D("100"), D("120"), D("0.1")),
    ("cumulative_session_mg", D("75"), D("100"), D("0.1")),
    ("bolus_mg", D("10"), D("20"), D("0.1")),
    ("sessions_per_week", D("3"), D("4"), D("1")),
]
MIN_KINDS = [
    ("duration_min", D("40"), D("20"), D("0.1")),
    ("interval_since_last_h", D("44"), D("20"), D("0.01")),
    ("dose_mg", D("56"), D("28"), D("0.1")),  # esketamine: 28 mg only as a flagged start dose
]


@pytest.mark.parametrize(("kind", "soft", "hard", "eps"), MAX_KINDS)
def test_max_limits_at_boundary(kind, soft, hard, eps):
    lims = all_open() | {kind: limits.Limit(soft_max=soft, hard_max=hard)}
    assert limits.check(lims, {kind: soft}).ok  # exactly at the soft limit passes
    over_soft = limits.check(lims, {kind: soft + eps})
    assert over_soft.needs_override and not over_soft.refused
    assert over_soft.soft[0].kind == kind and over_soft.soft[0].limit == soft
    at_hard = limits.check(lims, {kind: hard})
    assert at_hard.needs_override and not at_hard.refused  # at the hard limit: soft breach only
    over_hard = limits.check(lims, {kind: hard + eps})
    assert over_hard.refused and not over_hard.needs_override
    assert f"{hard.normalize():f}" in over_hard.hard[0].message
    assert "refused" in over_hard.hard[0].message


@pytest.mark.parametrize(("kind", "soft", "hard", "eps"), MIN_KINDS)
def test_min_limits_at_boundary(kind, soft, hard, eps):
    lims = all_open() | {kind: limits.Limit(soft_min=soft, hard_min=hard)}
    assert limits.check(lims, {kind: soft}).ok
    assert limits.check(lims, {kind: soft - eps}).needs_override
    assert limits.check(lims, {kind: hard}).needs_override
    below = limits.check(lims, {kind: hard - eps})
    assert below.refused
    assert "below the hard minimum" in below.hard[0].message


def test_every_kind_is_covered_by_a_boundary_test():
    covered = {k for k, *_ in MAX_KINDS} | {k for k, *_ in MIN_KINDS}
    assert covered == set(limits.KINDS)


def test_open_limit_is_explicit_and_never_breaches():
    lims = all_open()
    res = limits.check(lims, {"dose_mg": D("100000")})
    assert res.ok and "dose_mg" in res.open_kinds
    assert limits.Limit.open().describe("mg") == "open (no limit set)"


def test_missing_kind_is_an_error_not_a_pass():
    lims = all_open()
    del lims["bolus_mg"]
    with pytest.raises(KeyError, match="bolus_mg"):
        limits.check(lims, {})
    data = {k: v.to_dict() for k, v in lims.items()}
    with pytest.raises(ValueError, match="bolus_mg: missing"):
        limits.parse_limits(data)


def test_not_applicable_values_are_skipped():
    lims = all_open() | {"rate_mg_per_kg_per_h": limits.Limit(hard_max=D("1"))}
    res = limits.check(lims, {"rate_mg_per_kg_per_h": None})
    assert res.ok and "rate_mg_per_kg_per_h" in res.not_applicable


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        (limits.Limit(), "mark the limit open explicitly"),
        (limits.Limit(is_open=True, hard_max=D("1")), "an open limit has no bounds"),
        (limits.Limit(soft_max=D("2"), hard_max=D("1")), "soft_max: must not be above hard_max"),
        (limits.Limit(hard_max=D("-1")), "must not be negative"),
    ],
)
def test_limit_validation_messages_name_the_bound(limit, message):
    errors = limits.validate_limit("dose_mg", limit)
    assert any(message in e for e in errors), errors


def test_min_only_kind_refuses_a_max_bound():
    errors = limits.validate_limit("interval_since_last_h", limits.Limit(hard_max=D("3")))
    assert any("has no maximum" in e for e in errors)


def test_default_library_is_complete_and_valid():
    for key, spec in catalog.DEFAULT_LIBRARY.items():
        parsed = limits.parse_limits({k: v.to_dict() for k, v in spec["limits"].items()})
        assert set(parsed) == set(limits.KINDS), key
        for kind, lim in parsed.items():
            assert lim.source, f"{key}.{kind} has no source or 'assumed' mark"


# --- dosing ------------------------------------------------------------------------------------


def test_iv_fixed_dose():
    c = dose_calc.compute(
        dose_calc.DoseRequest(
            "iv", D("70"), dose_mg_per_kg=D("0.5"), duration_min=D("40"), conc_base_mg_per_ml=D("10")
        )
    )
    assert c.dose_mg == D("35.0")
    assert c.dose_mg_salt == D("40.4")  # 35 x 274.19 / 237.73 = 40.37
    assert c.volume_ml == D("3.50")
    assert c.rate_mg_per_kg_per_h == D("0.75")
    assert c.rate_ml_per_h == D("5.3")  # 35 mg/40 min = 52.5 mg/h at 10 mg/mL = 5.25 -> 5.3 mL/h
    assert c.cumulative_mg == D("35.0")
    assert c.regimen_text() == "iv 35 mg over 40 min"


def test_iv_dose_from_pounds_and_salt_labelled_vial():
    kg = units.weight_to_kg(D("200"), "lb")  # 90.72 kg
    conc = units.base_mg_per_ml(D("11.53"), "salt")  # = 10 mg base/mL
    c = dose_calc.compute(
        dose_calc.DoseRequest(
            "iv", kg, dose_mg_per_kg=D("0.5"), duration_min=D("40"), conc_base_mg_per_ml=conc
        )
    )
    assert kg == D("90.72")
    assert c.dose_mg == D("45.4")
    assert c.volume_ml == D("4.54")


def test_iv_bolus_counts_in_cumulative():
    c = dose_calc.compute(
        dose_calc.DoseRequest(
            "iv",
            D("80"),
            dose_mg_per_kg=D("0.5"),
            duration_min=D("40"),
            bolus_mg_per_kg=D("0.1"),
            conc_base_mg_per_ml=D("10"),
        )
    )
    assert c.bolus_mg == D("8.0") and c.bolus_ml == D("0.80")
    assert c.cumulative_mg == D("48.0")
    assert c.regimen_text().startswith("bolus 8 mg; iv 40 mg over 40 min")


def test_titrated_infusion_steps_and_totals():
    t = dose_calc.Titration(D("0.15"), D("0.1"), D("30"), D("0.35"))
    c = dose_calc.compute(
        dose_calc.DoseRequest("iv", D("70"), duration_min=D("240"), titration=t, conc_base_mg_per_ml=D("10"))
    )
    assert [(s.start_min, s.end_min, s.rate_mg_per_kg_per_h) for s in c.steps] == [
        (D(0), D(30), D("0.15")),
        (D(30), D(60), D("0.25")),
        (D(60), D(240), D("0.35")),
    ]
    assert [s.rate_ml_per_h for s in c.steps] == [D("1.1"), D("1.8"), D("2.5")]
    # 0.15x0.5 + 0.25x0.5 + 0.35x3 = 1.25 mg/kg
    assert c.dose_mg_per_kg == D("1.25")
    assert c.dose_mg == D("87.5")
    assert c.rate_mg_per_kg_per_h == D("0.35")
    assert (
        c.regimen_text() == "iv 10.5 mg/h for 30 min, then 17.5 mg/h for 30 min, then 24.5 mg/h for 180 min"
    )


def test_titration_rules_validated():
    bad = dose_calc.Titration(D("0.3"), D("0.1"), D("0"), D("0.2"))
    with pytest.raises(ValueError, match="titration_interval") as exc:
        dose_calc.compute(
            dose_calc.DoseRequest(
                "iv", D("70"), duration_min=D("60"), titration=bad, conc_base_mg_per_ml=D("10")
            )
        )
    assert "titration_ceiling" in str(exc.value)


def test_im_dose():
    c = dose_calc.compute(
        dose_calc.DoseRequest("im", D("70"), dose_mg_per_kg=D("0.5"), conc_base_mg_per_ml=D("50"))
    )
    assert (c.dose_mg, c.volume_ml, c.rate_ml_per_h) == (D("35.0"), D("0.70"), None)
    assert c.regimen_text() == "im 35 mg"


def test_esketamine_devices():
    c = dose_calc.compute(dose_calc.DoseRequest("nasal", D("70"), dose_mg=D("84"), drug="esketamine"))
    assert c.devices == 3 and c.dose_mg_salt is None and c.volume_ml is None
    assert c.regimen_text() == "nasal esketamine 84 mg"
    with pytest.raises(ValueError, match="dose_mg: esketamine comes in 28 mg devices"):
        dose_calc.compute(dose_calc.DoseRequest("nasal", D("70"), dose_mg=D("60"), drug="esketamine"))


@pytest.mark.parametrize(
    ("req", "field"),
    [
        (
            dose_calc.DoseRequest("iv", D("70"), duration_min=D("40"), conc_base_mg_per_ml=D("10")),
            "dose_mg_per_kg",
        ),
        (
            dose_calc.DoseRequest("iv", D("70"), dose_mg_per_kg=D("0.5"), conc_base_mg_per_ml=D("10")),
            "duration_min",
        ),
        (
            dose_calc.DoseRequest(
                "iv", D("0"), dose_mg_per_kg=D("0.5"), duration_min=D("40"), conc_base_mg_per_ml=D("10")
            ),
            "weight_kg",
        ),
        (dose_calc.DoseRequest("im", D("70"), dose_mg_per_kg=D("0.5")), "concentration"),
        (
            dose_calc.DoseRequest("im", D("70"), dose_mg_per_kg=D("-1"), conc_base_mg_per_ml=D("10")),
            "dose_mg_per_kg",
        ),
    ],
)
def test_compute_errors_name_the_field(req, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        dose_calc.compute(req)


def test_double_check_tolerances():
    def cmp(w, d, r):
        return dose_calc.compare_double_check(
            D("70"), D("35.0"), D("5.3"), entered_weight_kg=w, entered_dose_mg=d, entered_rate_ml_per_h=r
        )

    ok = cmp(D("70.1"), D("35.1"), D("5.2"))
    assert ok == []
    bad = cmp(D("70.11"), D("35.2"), D("53"))
    assert [m.field for m in bad] == ["weight", "dose_mg", "rate_ml_per_h"]
    assert all("35" not in m.message for m in bad)  # never reveals the ordered value


# --- gates -------------------------------------------------------------------------------------


def test_bp_gates_at_cited_thresholds():
    g = catalog.GATES_BP
    assert gates.evaluate(g, 140, 90).action == "proceed"  # ">140/90" [S30]: at the threshold passes
    assert gates.evaluate(g, 141, 90).action == "caution"
    assert gates.evaluate(g, 139, 91).action == "caution"
    assert gates.evaluate(g, 180, 100).action == "caution"
    assert gates.evaluate(g, 181, 80).action == "hold"  # ">180/100" [S19]
    assert gates.evaluate(g, 150, 101).action == "hold"
    with pytest.raises(ValueError, match="blood_pressure"):
        gates.evaluate(g, None, 80)


@pytest.mark.parametrize(
    "request_",
    [
        dose_calc.DoseRequest(
            "iv", D("70"), dose_mg_per_kg=D("0.5"), duration_min=D("40"), conc_base_mg_per_ml=D("10")
        ),
        dose_calc.DoseRequest(
            "iv",
            D("83.4"),
            dose_mg_per_kg=D("0.75"),
            duration_min=D("45"),
            bolus_mg_per_kg=D("0.1"),
            conc_base_mg_per_ml=D("10"),
        ),
        dose_calc.DoseRequest(
            "iv",
            D("64.2"),
            titration=dose_calc.Titration(D("0.15"), D("0.1"), D("30"), D("0.35")),
            duration_min=D("120"),
            conc_base_mg_per_ml=D("10"),
        ),
        dose_calc.DoseRequest("im", D("70"), dose_mg_per_kg=D("0.5"), conc_base_mg_per_ml=D("50")),
        dose_calc.DoseRequest("nasal", D("70"), dose_mg=D("84"), drug="esketamine"),
    ],
    ids=["iv", "iv-bolus", "iv-titrated", "im", "nasal"],
)
def test_regimen_from_the_numbers_is_the_regimen_its_text_says(request_):
    # The engine gets the regimen built from the computed numbers; the order shows and stores its
    # text. Both must be the same doses at the same times, to the last bit.
    comp = dose_calc.compute(request_)
    built = comp.regimen()
    parsed = parse_regimen(comp.regimen_text())
    assert built.events == parsed.events
    assert built.text == comp.regimen_text()


def double_check(weight: str, dose: str, rate: str) -> list[str]:
    """The fields a nurse's figures miss on an order of 70 kg, 35.0 mg at 5.3 mL/h."""
    found = dose_calc.compare_double_check(
        D("70"),
        D("35.0"),
        D("5.3"),
        entered_weight_kg=D(weight),
        entered_dose_mg=D(dose),
        entered_rate_ml_per_h=D(rate),
    )
    return [m.field for m in found]


@pytest.mark.parametrize("entered", ["34.8", "35.2", "30", "40"])
def test_double_check_refuses_a_dose_below_as_well_as_above_the_order(entered):
    # Tolerance 0.1 mg on either side: 5 mg under the order is as wrong as 5 mg over it.
    assert double_check("70", entered, "5.3") == ["dose_mg"]


@pytest.mark.parametrize(
    ("weight", "rate", "field"), [("69.8", "5.3", "weight"), ("70", "5.1", "rate_ml_per_h")]
)
def test_double_check_refuses_a_weight_or_rate_below_the_order(weight, rate, field):
    assert double_check(weight, "35", rate) == [field]


def test_double_check_accepts_within_the_tolerance_on_both_sides():
    for dose, weight, rate in [("34.9", "69.9", "5.2"), ("35.1", "70.1", "5.4")]:
        assert double_check(weight, dose, rate) == []
