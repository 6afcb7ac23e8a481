"""Population simulation: seeded, ordered bands, published or flagged IIV."""

from __future__ import annotations

import json

import numpy as np

from ketaclinic.pkpd import Patient, get_model, sample_parameters, simulate, simulate_population

T = np.arange(0.0, 361.0)
ADULT = Patient(weight_kg=70.0)


def test_same_seed_same_result() -> None:
    a = simulate_population("im 0.5 mg/kg", ADULT, T, n=300, seed=7)
    b = simulate_population("im 0.5 mg/kg", ADULT, T, n=300, seed=7)
    np.testing.assert_array_equal(
        a.percentiles["plasma_ng_per_ml"][50], b.percentiles["plasma_ng_per_ml"][50]
    )


def test_bands_are_ordered_and_bracket_the_typical_patient() -> None:
    pop = simulate_population("iv 0.5 mg/kg over 40 min", ADULT, T, n=3000, seed=1)
    for name in ("plasma_ng_per_ml", "effect_site_ng_per_ml", "high_pct_max"):
        b = pop.percentiles[name]
        assert np.all(b[5] <= b[50]) and np.all(b[50] <= b[95])
    typical = simulate("iv 0.5 mg/kg over 40 min", ADULT, T)
    b = pop.percentiles["plasma_ng_per_ml"]
    assert b[5][40] < typical.plasma_ng_per_ml[40] < b[95][40]
    q = pop.summary_percentiles["cmax_ng_per_ml"]
    assert q[5] is not None and q[95] is not None and q[5] < q[95]


def test_assumed_iiv_is_flagged_and_published_iiv_is_used() -> None:
    pop = simulate_population("iv 20 mg", ADULT, T, n=50, seed=1, model="domino")
    assert any("IIV CV ASSUMED" in w for w in pop.warnings)
    herd = sample_parameters(get_model("herd"), Patient(weight_kg=20.0), n=20000, seed=3)
    cv = np.std(np.log(herd.values["v1_l"]))
    assert cv == np.sqrt(np.log1p(0.64**2)).round(2) or abs(cv - np.sqrt(np.log1p(0.64**2))) < 0.02


def test_progress_and_json() -> None:
    calls: list[tuple[int, int]] = []
    pop = simulate_population(
        "im 20 mg", ADULT, T, n=25_000, seed=1, progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1] == (25_000, 25_000) and len(calls) >= 2
    json.dumps(pop.to_dict())
