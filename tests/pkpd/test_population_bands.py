"""The population bands are each of their own curve: the effect-site band lags the plasma band
(early in an infusion every simulated patient's brain level is still below the plasma level of
nearly all of them) and leads it after the end (the brain empties later)."""

from __future__ import annotations

import numpy as np

from ketaclinic.pkpd import Patient, parse_regimen, simulate_population


def test_effect_site_band_lags_the_plasma_band() -> None:
    times = np.arange(0.0, 121.0)
    pop = simulate_population(
        parse_regimen("iv 0.5 mg/kg over 40 min"), Patient(weight_kg=70.0), times, n=300, seed=1
    )
    plasma, effect = pop.percentiles["plasma_ng_per_ml"], pop.percentiles["effect_site_ng_per_ml"]
    # One minute in: the 95th percentile of the brain is below the 5th of the plasma.
    assert effect[95][1] < plasma[5][1]
    # Twenty minutes after the end, the median brain level is above the median plasma level.
    assert effect[50][60] > plasma[50][60]
    for q in (5, 50, 95):
        assert not np.allclose(effect[q], plasma[q])
