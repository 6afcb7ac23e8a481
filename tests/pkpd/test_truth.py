"""The answers patients read: street versus clinic, the effect scale, esketamine timing and
variability, boluses, and the measurements the engine is checked against (issue #10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ketaclinic.pkpd import Patient, pd, simulate, simulate_population, validation
from ketaclinic.pkpd.published import DEFAULT_MODEL, MODELS, typical_parameters
from ketaclinic.pkpd.verdict import comparison_item

ROOT = Path(__file__).resolve().parents[2]
ADULT = Patient(weight_kg=70.0, age_yr=40.0, sex="female", height_cm=170.0)
GRID = np.arange(0.0, 481.0, 1.0)


def item(text: str, n: int = 400) -> dict:
    res = simulate(text, ADULT, GRID)
    pop = simulate_population(text, ADULT, GRID, n=n, seed=3)
    from ketaclinic.pkpd.regimen import parse_regimen

    return comparison_item(text, parse_regimen(text), res, pop)


def test_a_street_dose_is_not_weaker_than_it_is():
    # 100 mg snorted reaches dissociation in the median simulated person, peaks within minutes,
    # and lands inside the casework range (100-1,200 ng/mL) at a k-hole dose
    street = item("insufflated 100 mg")
    assert street["peak_zone"]["p50"] == "dissociative"
    assert street["peak_plasma_time_min"]["typical"] < 20
    khole = simulate("insufflated 150 mg", ADULT, GRID).summary.cmax_ng_per_ml
    assert 100.0 <= khole <= 1200.0
    assert "Street use differs from a clinic dose" in street["verdict"]
    clinic = item("iv 0.5 mg/kg over 40 min")
    assert "nurse watches blood pressure" in clinic["verdict"]
    assert "Street use" not in clinic["verdict"]


def test_the_intranasal_fit_reproduces_the_measured_peak_not_a_fifth_of_it():
    measured = {10: 22.9, 30: 60.8, 50: 77.6}  # PMC9118341 Table 6
    for dose, cmax in measured.items():
        predicted = simulate(f"nasal {dose} mg", ADULT, GRID).summary.cmax_ng_per_ml
        assert cmax / 2.0 < predicted < cmax * 2.0, (dose, predicted)


def test_the_rating_saturates_and_is_not_reported_above_the_studied_range():
    c = np.array([50.0, 200.0, 1000.0, 5000.0])
    rating = pd.high_pct_max(c, "racemic")
    assert np.all(np.diff(rating) > 0) and rating[-1] < 100.0  # saturable, never clipped
    assert pd.above_studied_range(c, "racemic").tolist() == [False, False, True, True]
    strong = item("iv 1 mg/kg over 40 min")
    assert strong["peak_high_above_studied_range"] is True
    assert "above the studied range" in strong["verdict"] and "100%" not in strong["verdict"]
    # the peak time is the effect-site peak, not a plateau of a clipped curve
    res = simulate("iv 1 mg/kg over 40 min", ADULT, GRID)
    assert res.summary.peak_effect_time_min == res.times_min[int(np.argmax(res.effect_site_ng_per_ml))]


def test_the_standard_dose_is_called_mild_to_moderate_as_observed():
    # clinical series: mean CADSS about 8 of 92 after 0.5 mg/kg over 40 min
    assert item("iv 0.5 mg/kg over 40 min")["intensity"] == "mild-to-moderate"
    assert item("iv 1 mg/kg over 40 min")["intensity"] == "strong"


def test_not_noticeable_is_above_the_impairment_level():
    # "not noticeable" must never read as "fit to drive"
    assert pd.UNNOTICEABLE_NG_PER_ML > pd.IMPAIRMENT_NG_PER_ML


def test_esketamine_peaks_near_the_label_time_and_not_everyone_dissociates():
    res = simulate("nasal esketamine 84 mg", ADULT, np.arange(0.0, 241.0, 0.5))
    assert 38.0 <= res.summary.peak_effect_time_min <= 50.0
    shares = {}
    for dose in (56, 84):
        pop = simulate_population(f"nasal esketamine {dose} mg", ADULT, np.arange(0.0, 241.0), n=2000, seed=5)
        shares[dose] = pop.peak_zone_share["dissociative"] + pop.peak_zone_share["anaesthetic"]
    assert 0.61 <= shares[56] <= 0.75  # label: 61-75%
    assert shares[56] < shares[84] <= 0.90


def test_esketamine_uses_the_published_variability():
    model = MODELS["perez-ruixo-2021"]
    assert model.iiv_cv["kel_per_min"].value == pytest.approx(1.20)
    assert model.iiv_cv["frn_first"].unit == "SD (logit)"
    from ketaclinic.pkpd.individual import sample_parameters

    frn = sample_parameters(model, ADULT, n=4000, seed=1).values["frn_first"]
    assert 0.0 < frn.min() and frn.max() < 1.0 and 0.4 < float(np.median(frn)) < 0.65


def test_hepatic_flow_falls_with_age_above_60():
    model = MODELS["perez-ruixo-2021"]
    young = typical_parameters(model, 70.0, 50.0)["qh_l_per_min"]
    old = typical_parameters(model, 70.0, 80.0)["qh_l_per_min"]
    assert old == pytest.approx(young * (151.0 - 2.19 * 20) / 151.0)
    auc = [
        simulate("nasal esketamine 56 mg", Patient(weight_kg=70.0, age_yr=a), GRID).summary.auc_ng_h_per_ml
        for a in (50.0, 80.0)
    ]
    assert auc[1] > auc[0]


def test_a_bolus_does_not_print_an_impossible_peak():
    res = simulate("bolus 1 mg/kg", ADULT, np.arange(0.0, 61.0, 0.05))
    assert res.summary.cmax_ng_per_ml < 2400.0  # the measured anaesthetic range tops at 2,400
    assert res.summary.tmax_min == pytest.approx(1.0)  # pushed over a minute


def test_the_default_racemic_model_is_the_best_on_independent_data():
    ranking = validation.model_ranking(
        validation.compare(models=[m for m in MODELS if MODELS[m].drug == "racemic"])
    )
    assert ranking[0]["model"] == DEFAULT_MODEL["racemic"]


def test_calibration_and_validation_rows_are_both_present_and_never_mixed():
    rows = validation.measurements()
    assert {r.role for r in rows} == {"calibration", "validation"}
    # the fitted intranasal rows are calibration; the IV arm of the same study is validation
    roles = {r.id: r.role for r in rows}
    assert roles["in30-cmax"] == "calibration" and roles["iv10-auc"] == "validation"
    assert roles["esk56-dissociating"] == "calibration" and roles["esk84-dissociating"] == "validation"


def test_every_calibration_row_of_the_default_models_passes():
    defaults = set(DEFAULT_MODEL.values())
    fitted_here = {
        "in10-cmax",
        "in30-cmax",
        "in50-cmax",
        "in30-tmax",
        "in50-tmax",
        "esk84-cadss-peak",
        "esk56-dissociating",
    }
    for c in validation.compare(models=defaults):
        if c.measurement.id in fitted_here:
            assert c.passed, (c.measurement.id, c.model, c.predicted)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "x"}, "missing what"),
        (
            {
                "id": "x",
                "what": "w",
                "source": "s",
                "unit": "u",
                "regimen": "iv 1 mg",
                "measure": "plasma_at",
                "models": "racemic",
                "role": "validation",
                "value": 1.0,
            },
            "give low and high, or value and a factor",
        ),
        (
            {
                "id": "x",
                "what": "w",
                "source": "s",
                "unit": "u",
                "regimen": "iv 1 mg",
                "measure": "weight",
                "models": "racemic",
                "role": "validation",
                "low": 1.0,
                "high": 2.0,
            },
            "unknown measure 'weight'",
        ),
        (
            {
                "id": "x",
                "what": "w",
                "source": "s",
                "unit": "u",
                "regimen": "iv 1 mg",
                "measure": "cmax",
                "models": "racemic",
                "role": "proof",
                "low": 1.0,
                "high": 2.0,
            },
            "role must be calibration or validation",
        ),
    ],
)
def test_a_bad_measurement_row_is_refused_with_its_name(row: dict, message: str):
    with pytest.raises(ValueError, match=message):
        validation.parse([row])


def test_the_committed_fitted_values_match_their_fits():
    proc = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "fit_pkpd.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_noresketamine_is_simulated_and_its_parent_matches_the_modal_solver():
    from ketaclinic.pkpd import dose_inputs, get_model, individual_parameters, parse_regimen
    from ketaclinic.pkpd.metabolite import noresketamine

    t = np.arange(0.0, 48 * 60.0 + 1, 1.0)
    model = get_model("perez-ruixo-2021")
    for text in ("nasal esketamine 84 mg", "iv esketamine 28 mg over 40 min"):
        res = simulate(text, ADULT, t)
        one = {k: float(v[0]) for k, v in individual_parameters(model, ADULT).values.items()}
        both = noresketamine(one, dose_inputs(parse_regimen(text), model, 70.0), t)
        np.testing.assert_allclose(
            both[1], res.plasma_ng_per_ml, rtol=1e-9, atol=1e-9 * res.plasma_ng_per_ml.max()
        )
        nor = res.metabolite_ng_per_ml
        assert nor is not None and nor[0] < 1e-9 and nor.max() > 0.1
        # formed after the parent: its peak comes later
        assert t[int(np.argmax(nor))] > res.summary.tmax_min
        assert "noresketamine_ng_per_ml" in res.to_dict()
    assert simulate("iv 20 mg", ADULT, t).metabolite_ng_per_ml is None  # racemic: not modelled
