"""ketaclinic.pkpd: ketamine and esketamine PK/PD engine (NumPy only; never Django, nor SciPy at run time).

High-level API::

    from ketaclinic.pkpd import Patient, parse_regimen, simulate, simulate_population
    res = simulate(parse_regimen("iv 0.5 mg/kg over 40 min"), Patient(weight_kg=70.0),
                   times_min=np.arange(0, 361.0))          # model=None: default for the drug
    pop = simulate_population(regimen, patient, times_min, n=1000, seed=1)

Low-level vectorised API (used by the benchmark)::

    from ketaclinic.pkpd import (get_model, individual_parameters, sample_parameters,
                                 dose_inputs, concentrations)
    model = get_model("domino")
    params = sample_parameters(model, patient, n=100_000, seed=1)   # ParameterSet, arrays (n,)
    # or individual_parameters(model, patient) for the typical patient (n = 1)
    inputs = dose_inputs(regimen, model, patient.weight_kg)          # Inputs
    plasma, effect = concentrations(params, inputs, times_min, out=None)   # each (n, t) ng/mL

``concentrations(params, inputs, times_min, out=None) -> (plasma, effect)`` takes sorted float64
times (min) and optionally two preallocated ``(n, t)`` arrays to write into.  See
``docs/engine.md``.
"""

from __future__ import annotations

from ketaclinic.pkpd.individual import dose_inputs, individual_parameters, sample_parameters
from ketaclinic.pkpd.patient import Patient
from ketaclinic.pkpd.pd import ZONES, Zone
from ketaclinic.pkpd.population import PopulationResult, simulate_population
from ketaclinic.pkpd.published import MODELS, Absorption, Param, PKModel, get_model
from ketaclinic.pkpd.regimen import DoseEvent, Regimen, RegimenError, parse_regimen
from ketaclinic.pkpd.simulate import SimulationResult, simulate
from ketaclinic.pkpd.solver import Inputs, ParameterSet, concentrations
from ketaclinic.pkpd.summary import Summary

__all__ = [
    "MODELS",
    "ZONES",
    "Absorption",
    "DoseEvent",
    "Inputs",
    "PKModel",
    "Param",
    "ParameterSet",
    "Patient",
    "PopulationResult",
    "Regimen",
    "RegimenError",
    "SimulationResult",
    "Summary",
    "Zone",
    "concentrations",
    "dose_inputs",
    "get_model",
    "individual_parameters",
    "parse_regimen",
    "sample_parameters",
    "simulate",
    "simulate_population",
]
