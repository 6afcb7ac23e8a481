"""Every registered model and every route agrees with a high-accuracy ODE solution."""

from __future__ import annotations

import numpy as np
import pytest

from ketaclinic.pkpd import MODELS, Patient, dose_inputs, individual_parameters, parse_regimen
from ketaclinic.pkpd.solver import concentrations
from tests.pkpd.ode import ode_reference

ROUTE_REGIMENS = {
    "iv": "bolus 10 mg; iv 0.5 mg/kg/h for 20 min, then 0.25 mg/kg/h for 30 min at 15 min",
    "im": "im 0.5 mg/kg; im 20 mg at 90 min",
    "oral": "oral 100 mg",
    "sublingual": "sublingual 25 mg",
    "nasal": "nasal 50 mg",
    "insufflated": "insufflated 100 mg; insufflated 50 mg at 30 min",
}
ESKETAMINE_REGIMENS = {
    "iv": "iv esketamine 28 mg over 40 min",
    "nasal": "nasal esketamine 84 mg; nasal esketamine 28 mg at 120 min",
}
CASES = [(name, route) for name, model in MODELS.items() for route in model.routes]


@pytest.mark.parametrize(("model_name", "route"), CASES)
def test_matches_radau(model_name: str, route: str) -> None:
    model = MODELS[model_name]
    text = (ESKETAMINE_REGIMENS if model.drug == "esketamine" else ROUTE_REGIMENS)[route]
    patient = Patient(weight_kg=70.0, age_yr=40.0)
    if model_name == "herd":
        patient = Patient(weight_kg=20.0, age_yr=6.0)
    params = individual_parameters(model, patient)
    inputs = dose_inputs(parse_regimen(text), model, patient.weight_kg)
    times = np.concatenate([np.linspace(0.0, 30.0, 121), np.linspace(30.5, 600.0, 300)])
    cp, ce = concentrations(params, inputs, times)
    ref_p, ref_e = ode_reference(params, inputs, times)
    # 1e-6 relative, with an absolute floor of 1e-9 of the peak for points near zero
    np.testing.assert_allclose(cp[0], ref_p, rtol=1e-6, atol=1e-9 * ref_p.max())
    np.testing.assert_allclose(ce[0], ref_e, rtol=1e-6, atol=1e-9 * ref_e.max())


def test_every_model_has_a_case() -> None:
    assert {name for name, _ in CASES} == set(MODELS)
