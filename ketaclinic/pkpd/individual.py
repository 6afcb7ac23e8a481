"""From a model, a patient and a regimen to solver inputs: parameters, IIV samples, inputs."""

from __future__ import annotations

import math

import numpy as np

from ketaclinic.pkpd import interactions
from ketaclinic.pkpd.patient import Patient
from ketaclinic.pkpd.published import Param, PKModel, typical_parameters
from ketaclinic.pkpd.regimen import Regimen
from ketaclinic.pkpd.solver import Inputs, ParameterSet


def individual_parameters(model: PKModel, patient: Patient) -> ParameterSet:
    """Typical individual parameters (no IIV) of one patient, as a one-patient set.

    Examples
    --------
    >>> from ketaclinic.pkpd.published import MODELS
    >>> ps = individual_parameters(MODELS["domino"], Patient(weight_kg=70.0))
    >>> ps.n, round(float(ps.values["v1_l"][0]), 2)
    (1, 4.41)
    """
    values = with_interactions(model, patient, typical_parameters(model, patient.weight_kg, patient.age_yr))
    return with_derived(
        ParameterSet(
            model.structure,
            model.n_compartments,
            {k: np.array([v], dtype=float) for k, v in values.items()},
        )
    )


def sample_parameters(model: PKModel, patient: Patient, n: int, seed: int | None = None) -> ParameterSet:
    """Draw `n` sets of individual parameters with log-normal inter-individual variability.

    Each parameter with an IIV entry is ``typical * exp(eta)``, ``eta ~ N(0, omega^2)`` with
    ``omega^2 = ln(1 + CV^2)``; a fraction whose entry is an ``"SD (logit)"`` is normal on the
    logit scale instead (Perez-Ruixo's nasal fraction). Parameters without an entry (durations,
    absent compartments, most bioavailabilities) are fixed at their typical value.

    Parameters
    ----------
    model : PKModel
    patient : Patient
    n : int
        Number of patients, >= 1.
    seed : int or None
        Seed of ``numpy.random.default_rng``; the same seed gives the same sample.

    Examples
    --------
    >>> from ketaclinic.pkpd.published import MODELS
    >>> ps = sample_parameters(MODELS["herd"], Patient(weight_kg=20.0), n=1000, seed=1)
    >>> ps.n, bool(np.std(np.log(ps.values["v1_l"])) > 0.4)
    (1000, True)
    """
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n: number of patients must be an integer >= 1, got {n!r}")
    typical = with_interactions(model, patient, typical_parameters(model, patient.weight_kg, patient.age_yr))
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    for key in sorted(typical):
        value = typical[key]
        iiv = model.iiv_cv.get(key)
        if iiv is None or value == 0.0:
            values[key] = np.full(n, value)
            continue
        eta = rng.standard_normal(n)
        if iiv.unit == "SD (logit)":  # a fraction: normal on the logit scale, stays in (0, 1)
            logit = math.log(value / (1.0 - value))
            values[key] = 1.0 / (1.0 + np.exp(-(logit + iiv.value * eta)))
            continue
        omega = math.sqrt(math.log1p(iiv.value**2))
        eta *= omega
        np.exp(eta, out=eta)
        eta *= value
        values[key] = eta
    return with_derived(ParameterSet(model.structure, model.n_compartments, values))


def with_interactions(model: PKModel, patient: Patient, values: dict[str, float]) -> dict[str, float]:
    """Apply the patient's measured drug interactions (:mod:`ketaclinic.pkpd.interactions`).

    Mammillary models: clearance x the clearance factor; the oral and sublingual bioavailability x
    the first-pass factor. Perez-Ruixo: the liver's intrinsic clearance is scaled so that the
    systemic (flow-limited) clearance changes by the clearance factor, and the gut fraction of
    the swallowed part x the first-pass factor (this split is ASSUMED). Bioavailabilities are
    capped at 1 later (``with_derived``).

    Examples
    --------
    >>> from ketaclinic.pkpd.published import MODELS
    >>> base = typical_parameters(MODELS["herd"], 70.0, None)
    >>> v = with_interactions(MODELS["herd"], Patient(weight_kg=70.0, medications=("rifampicin",)), base)
    >>> round(v["cl_l_per_min"] / base["cl_l_per_min"], 3), round(v["f_oral"] / base["f_oral"], 3)
    (1.163, 0.163)
    """
    cl_factor, fp_factor = interactions.factors(patient.medications)
    if cl_factor == 1.0 and fp_factor == 1.0:
        return values
    out = dict(values)
    if model.structure == "hepatic":
        qh = out["qh_l_per_min"]
        clint = (out["kel_per_min"] + out["kmet_per_min"]) * out["vh_l"]
        target = min(cl_factor * qh * clint / (qh + clint), 0.95 * qh)  # flow-limited: below Qh
        scale = target * qh / (qh - target) / clint
        out["kel_per_min"] *= scale
        out["kmet_per_min"] *= scale
        out["fgut"] = min(out["fgut"] * fp_factor, 1.0)
        return out
    out["cl_l_per_min"] *= cl_factor
    for route in ("oral", "sublingual"):
        if f"f_{route}" in out:
            out[f"f_{route}"] *= fp_factor
    return out


def covariate_warnings(model: PKModel, patient: Patient) -> list[str]:
    """Warnings for covariates outside the model's valid ranges (or missing where relevant).

    Examples
    --------
    >>> from ketaclinic.pkpd.published import MODELS
    >>> covariate_warnings(MODELS["herd"], Patient(weight_kg=70.0, age_yr=40.0))[0][:21]
    'age 40 y is outside t'
    """
    out: list[str] = []
    if patient.age_yr is not None and patient.age_yr > 60 and model.structure == "hepatic":
        out.append(
            f"age {patient.age_yr:g} y: hepatic flow lowered by 2.19 L/h per year above 60 (Perez-Ruixo 2021)"
        )
    lo, hi = model.age_range_yr
    qualifier = " (ASSUMED range)" if model.range_status == "assumed" else ""
    if patient.age_yr is not None and not lo <= patient.age_yr <= hi:
        out.append(
            f"age {patient.age_yr:g} y is outside the valid range {lo:g}-{hi:g} y of model "
            f"{model.name}{qualifier}; the prediction is an extrapolation"
        )
    lo, hi = model.weight_range_kg
    if not lo <= patient.weight_kg <= hi:
        out.append(
            f"weight {patient.weight_kg:g} kg is outside the valid range {lo:g}-{hi:g} kg of "
            f"model {model.name}{qualifier}; the prediction is an extrapolation"
        )
    return out


#: An IV bolus is given as a push over this long: the blood carries it round once (about a minute
#: at a cardiac output of 5 L/min) before it is mixed, so an instant bolus into the central
#: volume would print concentrations nobody has.
BOLUS_PUSH = Param(
    1.0,
    "min",
    "assumed",
    "a bolus is pushed and mixes over about one circulation time (1 min); not published",
)


def dose_inputs(regimen: Regimen, model: PKModel, weight_kg: float | None) -> Inputs:
    """Compile the dose events of `regimen` into solver inputs for `model`.

    Raises
    ------
    ValueError
        If the model does not describe the regimen's drug or one of its routes, or a
        weight-based dose has no weight.

    Examples
    --------
    >>> from ketaclinic.pkpd.regimen import parse_regimen
    >>> from ketaclinic.pkpd.published import MODELS
    >>> inp = dose_inputs(parse_regimen("im 0.5 mg/kg"), MODELS["domino"], 70.0)
    >>> inp.filters, inp.fraction, inp.amount_mg
    ((('ka_im_per_min',),), ('f_im',), (35.0,))
    """
    if regimen.drug != model.drug:
        raise ValueError(
            f"model: {model.name} describes {model.drug} ketamine but the regimen gives {regimen.drug}"
        )
    rows: list[tuple[str, tuple[str, ...], str | None, float, float, float]] = []
    swallowed_min = float(typical_parameters(model, 70.0, None).get("swallowed_duration_min", 0))
    for event in regimen.events:
        if event.route not in model.routes:
            raise ValueError(
                f"regimen: model {model.name} has no {event.route} route; its routes are "
                f"{', '.join(model.routes)}"
            )
        mg = event.amount_mg(weight_kg)
        if event.route == "iv":
            push = event.duration_min if event.duration_min > 0 else BOLUS_PUSH.value
            rows.append(("central", (), None, mg, event.start_min, push))
        elif model.structure == "hepatic" and event.route == "nasal":
            first = event.device_index == 0
            nasal = "first" if first else "later"
            rows.append(("central", ("ka_nasal_per_min",), f"frn_{nasal}", mg, event.start_min, 0.0))
            rows.append(
                (
                    "liver",
                    ("ka_swallowed_per_min",),
                    f"swallowed_{nasal}",
                    mg,
                    event.start_min,
                    swallowed_min,
                )
            )
        else:
            route = event.route
            rows.append(("central", (f"ka_{route}_per_min",), f"f_{route}", mg, event.start_min, 0.0))
    entry, filters, fraction, amount, start, duration = zip(*rows, strict=True)
    return Inputs(entry, filters, fraction, amount, start, duration)


def with_derived(params: ParameterSet) -> ParameterSet:
    """Cap bioavailabilities at 1 and add the hepatic nasal fractions (``frn_later``, ``swallowed_*``).

    Bioavailabilities drawn with log-normal variability can exceed 1; they are capped there.

    Examples
    --------
    >>> from ketaclinic.pkpd.published import MODELS
    >>> ps = individual_parameters(MODELS["perez-ruixo-2021"], Patient(weight_kg=70.0))
    >>> round(float(ps.values["swallowed_first"][0]), 4)
    0.2944
    """
    v = dict(params.values)
    if params.structure != "hepatic":
        for key in [k for k in v if k.startswith("f_")]:
            v[key] = np.minimum(v[key], 1.0)
        return ParameterSet(params.structure, params.n_compartments, v)
    if "frn_later" in v:
        return params
    v["frn_later"] = v["frn_first"] * v["frn_later_factor"]
    v["swallowed_first"] = (1.0 - v["frn_first"]) * v["fgut"]
    v["swallowed_later"] = (1.0 - v["frn_later"]) * v["fgut"]
    return ParameterSet(params.structure, params.n_compartments, v)
