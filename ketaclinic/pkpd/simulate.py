"""Front door: simulate a regimen for one patient."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ketaclinic.pkpd import interactions, pd
from ketaclinic.pkpd.individual import covariate_warnings, dose_inputs, individual_parameters
from ketaclinic.pkpd.metabolite import noresketamine
from ketaclinic.pkpd.patient import Patient
from ketaclinic.pkpd.published import DEFAULT_MODEL, MODELS, Drug, PKModel, get_model
from ketaclinic.pkpd.regimen import Regimen, parse_regimen
from ketaclinic.pkpd.solver import Inputs, ParameterSet, concentrations
from ketaclinic.pkpd.summary import DEFAULT_THRESHOLDS_NG_PER_ML, Summary, summarize

FloatArray = NDArray[np.float64]

_PD_CITATIONS = (
    "Bowdle TA et al. Psychedelic effects of ketamine in healthy volunteers: relationship to "
    "steady-state plasma concentrations. Anesthesiology 1998;88:82-88",
    "Andresen-Streichert H et al. 2022, Toxicol Anal Clin, doi 10.1016/j.toxac.2022.06.139 "
    "(impairment above 50 ng/mL)",
    "Krystal JH et al. 1994 (dissociation 100-250 ng/mL after 0.5 mg/kg over 40 min, via PMC6020109 Table 1)",
    "Herd DW et al. Paediatr Anaesth 2007, doi 10.1111/j.1460-9592.2006.02145.x (awakening 0.75 mg/L)",
)
_SIMONS_CITATION = "Simons P et al. Front Pain Res 2022;3:946487 (S-ketamine drug high, C50 about 71 ng/mL)"


def resolve_model(regimen: Regimen, model: str | PKModel | None) -> PKModel:
    """The model to use: the one named, or the default for the regimen's drug.

    Examples
    --------
    >>> resolve_model(parse_regimen("nasal esketamine 56 mg"), None).name
    'perez-ruixo-2021'
    """
    if model is None:
        return get_model(DEFAULT_MODEL[regimen.drug])
    if isinstance(model, PKModel):
        return model
    return get_model(model)


def as_times(times_min: ArrayLike) -> FloatArray:
    """Validate a time grid: 1-D, finite, non-decreasing, minutes; returns float64.

    Examples
    --------
    >>> as_times([0, 1, 2]).dtype
    dtype('float64')
    """
    t = np.asarray(times_min, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"times_min: expected a non-empty 1-D array, got shape {t.shape}")
    if not np.isfinite(t[0]) or not np.isfinite(t[-1]) or np.any(t[1:] < t[:-1]):
        raise ValueError("times_min: must be finite and sorted in non-decreasing order")
    return t


def collect_warnings(model: PKModel, patient: Patient, regimen: Regimen) -> list[str]:
    """Every warning that applies to a simulation: covariates, assumed values, PD, notes.

    Examples
    --------
    >>> w = collect_warnings(get_model("domino"), Patient(weight_kg=30.0),
    ...                      parse_regimen("im 20 mg"))
    >>> any("weight 30 kg" in s for s in w), any("im ka" in s for s in w)
    (True, True)
    """
    out = covariate_warnings(model, patient)
    routes = set(regimen.routes)
    for text in model.assumed():
        route = text.split(" ", 1)[0]
        if route in model.routes and route not in routes:
            continue  # an assumption of a route this regimen does not use
        out.append(f"{model.name}: {text}")
    if model.range_status == "assumed":
        lo, hi = model.age_range_yr
        wlo, whi = model.weight_range_kg
        out.append(
            f"{model.name}: valid ranges ASSUMED (age {lo:g}-{hi:g} y, weight {wlo:g}-{whi:g} kg)"
            f"; population: {model.population}"
        )
    if model.ke0_per_min.status == "unconfirmed":
        out.append(
            f"{model.name}: ke0 {model.ke0_per_min.value:g}/min unconfirmed: {model.ke0_per_min.source}"
        )
    for route in routes:
        absorption = model.routes.get(route)
        if absorption is not None and absorption.bioavailability.status == "unconfirmed":
            out.append(f"{route} bioavailability unconfirmed: {absorption.bioavailability.source}")
        if route == "nasal" and model.drug == "racemic" and absorption is not None:
            out.append(f"nasal F chosen: {absorption.bioavailability.source}")
    out.extend(interactions.warnings(patient.medications, patient.hepatic_impairment, routes))
    out.extend(f"{model.name}: {note}" for note in model.notes)
    out.extend(pd.pd_assumptions(model.drug))
    return out


def collect_citations(model: PKModel, regimen: Regimen) -> list[str]:
    """Sources of the model, the routes used, ke0 and the PD relations.

    Examples
    --------
    >>> any("Bowdle" in c for c in collect_citations(get_model("domino"),
    ...     parse_regimen("iv 20 mg")))
    True
    """
    out = [f"{model.citation} ({model.reference_id})", f"ke0: {model.ke0_per_min.source}"]
    for route in regimen.routes:
        absorption = model.routes.get(route)
        if absorption is not None:
            out.append(f"{route} bioavailability: {absorption.bioavailability.source}")
    out.extend(_PD_CITATIONS)
    if model.drug == "esketamine":
        out.append(_SIMONS_CITATION)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class SimulationResult:
    """Concentrations, effects, zones and summary of one simulation.

    ``effects``, ``zones`` and ``summary`` are computed on first access (cached), so
    :func:`simulate` itself costs only the concentration evaluation.

    Attributes
    ----------
    times_min, plasma_ng_per_ml, effect_site_ng_per_ml : ndarray (t,)
        Time grid (min) and concentrations (ng/mL; esketamine models: S-ketamine).
    drug : {"racemic", "esketamine"}
    model : str
        Model name.
    warnings, citations : list of str
    thresholds_ng_per_ml : tuple of float
        Plasma thresholds of ``summary.time_above_min``.
    """

    times_min: FloatArray
    plasma_ng_per_ml: FloatArray
    effect_site_ng_per_ml: FloatArray
    drug: Drug
    model: str
    warnings: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    thresholds_ng_per_ml: tuple[float, ...] = DEFAULT_THRESHOLDS_NG_PER_ML
    #: Plasma noresketamine (ng/mL) for esketamine models; None for racemic models.
    metabolite_ng_per_ml: FloatArray | None = None

    @cached_property
    def effects(self) -> dict[str, FloatArray]:
        """Effect series (see :func:`ketaclinic.pkpd.pd.effects`)."""
        return pd.effects(self.effect_site_ng_per_ml, self.drug)

    @cached_property
    def zones(self) -> NDArray[np.str_]:
        """Zone key per time point (see :data:`ketaclinic.pkpd.pd.ZONES`)."""
        return pd.zones(self.effect_site_ng_per_ml, self.drug)

    @cached_property
    def summary(self) -> Summary:
        """Summary of the time course."""
        return summarize(
            self.times_min,
            self.plasma_ng_per_ml,
            self.effect_site_ng_per_ml,
            self.effects["high_pct_max"],
            self.drug,
            thresholds_ng_per_ml=self.thresholds_ng_per_ml,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the result.

        Examples
        --------
        >>> import json
        >>> res = simulate("iv 20 mg", Patient(weight_kg=70.0), np.arange(0.0, 61.0))
        >>> sorted(json.loads(json.dumps(res.to_dict())))[:4]
        ['citations', 'drug', 'effect_site_ng_per_ml', 'effects']
        """
        return {
            "model": self.model,
            "drug": self.drug,
            "times_min": self.times_min.tolist(),
            "plasma_ng_per_ml": self.plasma_ng_per_ml.tolist(),
            "effect_site_ng_per_ml": self.effect_site_ng_per_ml.tolist(),
            "effects": {k: v.tolist() for k, v in self.effects.items()},
            "zones": self.zones.tolist(),
            "summary": self.summary.to_dict(),
            **(
                {}
                if self.metabolite_ng_per_ml is None
                else {"noresketamine_ng_per_ml": self.metabolite_ng_per_ml.tolist()}
            ),
            "warnings": list(self.warnings),
            "citations": list(self.citations),
        }


@lru_cache(maxsize=512)
def _prepared(
    model_name: str, patient: Patient, regimen: Regimen
) -> tuple[ParameterSet, Inputs, tuple[str, ...], tuple[str, ...]]:
    """Parameters, inputs, warnings and citations of one (model, patient, regimen), cached.

    All three keys are frozen records, so repeated renders of the same prediction skip the
    covariate model, the input compilation and the provenance text.
    """
    pk = get_model(model_name)
    return (
        individual_parameters(pk, patient),
        dose_inputs(regimen, pk, patient.weight_kg),
        tuple(collect_warnings(pk, patient, regimen)),
        tuple(collect_citations(pk, regimen)),
    )


def simulate(
    regimen: Regimen | str,
    patient: Patient,
    times_min: ArrayLike,
    model: str | PKModel | None = None,
    *,
    thresholds_ng_per_ml: Sequence[float] = DEFAULT_THRESHOLDS_NG_PER_ML,
) -> SimulationResult:
    """Simulate plasma and effect-site concentrations of one patient (typical parameters).

    Parameters
    ----------
    regimen : Regimen or str
        Dose events, or their text form (see :func:`~ketaclinic.pkpd.parse_regimen`).
    patient : Patient
        Covariates; the weight scales weight-based doses and the model.
    times_min : array_like, shape (t,)
        Sorted observation times (min).
    model : str, PKModel or None
        Registry name (see :data:`~ketaclinic.pkpd.MODELS`) or None for the default model of the
        regimen's drug (``domino`` for racemic, ``perez-ruixo-2021`` for esketamine).
    thresholds_ng_per_ml : sequence of float
        Plasma thresholds for ``summary.time_above_min``.

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        Unknown model, a route the model lacks, a drug the model does not describe, a bad grid.
    RegimenError
        If `regimen` is text that cannot be read.

    References
    ----------
    See :data:`~ketaclinic.pkpd.MODELS` for the model sources and ``docs/engine.md``.

    Examples
    --------
    >>> res = simulate("iv 0.5 mg/kg over 40 min", Patient(weight_kg=70.0),
    ...                np.arange(0.0, 361.0))
    >>> round(res.summary.cmax_ng_per_ml), res.summary.tmax_min, res.summary.peak_zone
    (253, 40.0, 'dissociative')
    """
    if isinstance(regimen, str):
        regimen = parse_regimen(regimen)
    pk = resolve_model(regimen, model)
    t = as_times(times_min)
    if MODELS.get(pk.name) is pk:
        params, inputs, warnings, citations = _prepared(pk.name, patient, regimen)
    else:  # an unregistered model record: nothing to cache on
        params = individual_parameters(pk, patient)
        inputs = dose_inputs(regimen, pk, patient.weight_kg)
        warnings = tuple(collect_warnings(pk, patient, regimen))
        citations = tuple(collect_citations(pk, regimen))
    plasma, effect = concentrations(params, inputs, t)
    metabolite = None
    if pk.structure == "hepatic":
        one = {k: float(v[0]) for k, v in params.values.items()}
        metabolite = noresketamine(one, inputs, t)[0]
    return SimulationResult(
        times_min=t,
        plasma_ng_per_ml=plasma[0],
        effect_site_ng_per_ml=effect[0],
        drug=pk.drug,
        model=pk.name,
        warnings=list(warnings),
        citations=list(citations),
        thresholds_ng_per_ml=tuple(float(x) for x in thresholds_ng_per_ml),
        metabolite_ng_per_ml=metabolite,
    )
