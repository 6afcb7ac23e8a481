"""Monte Carlo population simulation over inter-individual variability."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ketaclinic.pkpd import pd
from ketaclinic.pkpd.individual import dose_inputs, sample_parameters
from ketaclinic.pkpd.patient import Patient
from ketaclinic.pkpd.published import Drug
from ketaclinic.pkpd.regimen import Regimen, parse_regimen
from ketaclinic.pkpd.simulate import as_times, collect_citations, collect_warnings, resolve_model
from ketaclinic.pkpd.solver import concentrations
from ketaclinic.pkpd.summary import DEFAULT_THRESHOLDS_NG_PER_ML, Summary, summarize

FloatArray = NDArray[np.float64]
#: Patients per progress step.
_CHUNK = 10_000
PERCENTILES: tuple[int, ...] = (5, 50, 95)


@dataclass(frozen=True)
class PopulationResult:
    """Percentile bands and summaries of a simulated population.

    Attributes
    ----------
    times_min : ndarray (t,)
    percentiles : dict
        ``{"plasma_ng_per_ml": {5: arr, 50: arr, 95: arr}, "effect_site_ng_per_ml": {...},
        "high_pct_max": {...}}``: pointwise percentiles over patients.
    summary : Summary
        Summary of the pointwise median curves (the "median patient").
    summary_percentiles : dict
        Percentiles over patients of per-patient ``cmax_ng_per_ml``, ``tmax_min``,
        ``ce_max_ng_per_ml`` and ``time_effect_unnoticeable_min`` (None when the percentile
        patient is still above the bound at the end of the grid).
    peak_zone_share : dict
        Zone key -> share of simulated patients whose peak reaches that zone (the highest zone
        each patient reaches, after the patient's sensitivity).
    n, seed, model, drug, warnings, citations
        Run description.
    """

    times_min: FloatArray
    percentiles: dict[str, dict[int, FloatArray]]
    summary: Summary
    summary_percentiles: dict[str, dict[int, float | None]]
    n: int
    seed: int | None
    model: str
    drug: Drug
    warnings: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    peak_zone_share: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (percentile keys as strings ``"p5"``, ``"p50"``, ``"p95"``).

        Examples
        --------
        >>> pop = simulate_population("iv 20 mg", Patient(weight_kg=70.0),
        ...                           np.arange(0.0, 31.0), n=50, seed=1)
        >>> sorted(pop.to_dict()["percentiles"]["plasma_ng_per_ml"])
        ['p5', 'p50', 'p95']
        """
        return {
            "model": self.model,
            "drug": self.drug,
            "n": self.n,
            "seed": self.seed,
            "times_min": self.times_min.tolist(),
            "percentiles": {
                name: {f"p{q}": arr.tolist() for q, arr in bands.items()}
                for name, bands in self.percentiles.items()
            },
            "summary": self.summary.to_dict(),
            "summary_percentiles": {
                name: {f"p{q}": v for q, v in bands.items()}
                for name, bands in self.summary_percentiles.items()
            },
            "peak_zone_share": dict(self.peak_zone_share),
            "warnings": list(self.warnings),
            "citations": list(self.citations),
        }


def sensitivities(n: int, seed: int | None, cv: float) -> FloatArray:
    """Per-patient sensitivity multipliers (log-normal, median 1) on the effect-site concentration.

    Drawn from their own random stream, so adding them leaves the PK sample unchanged.

    Examples
    --------
    >>> s = sensitivities(4000, 1, 0.5)
    >>> round(float(np.median(s)), 1), bool(sensitivities(3, 1, 0.0).tolist() == [1.0, 1.0, 1.0])
    (1.0, True)
    """
    if cv <= 0:
        return np.ones(n)
    omega = math.sqrt(math.log1p(cv * cv))
    rng = np.random.default_rng(None if seed is None else [seed, 1])
    return np.exp(rng.standard_normal(n) * omega)


def _unnoticeable_times(times: FloatArray, eq: FloatArray) -> FloatArray:
    """Per-patient time after which eq < bound for good (NaN: above at the end)."""
    bound = pd.UNNOTICEABLE_NG_PER_ML
    above = eq >= bound
    n, t = above.shape
    any_above = above.any(axis=1)
    last = t - 1 - np.argmax(above[:, ::-1], axis=1)
    out = np.full(n, float(times[0]))
    inside = any_above & (last < t - 1)
    idx = last[inside]
    rows = np.nonzero(inside)[0]
    y0, y1 = eq[rows, idx], eq[rows, idx + 1]
    out[inside] = times[idx] + (times[idx + 1] - times[idx]) * (y0 - bound) / (y0 - y1)
    out[any_above & (last == t - 1)] = np.nan
    return out


def simulate_population(  # noqa: PLR0917 - positional order fixed by the public API
    regimen: Regimen | str,
    patient: Patient,
    times_min: ArrayLike,
    n: int = 1000,
    seed: int | None = 1,
    model: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    percentiles: Sequence[int] = PERCENTILES,
    sensitivity_cv: float | None = None,
) -> PopulationResult:
    """Simulate `n` patients drawn from the model's inter-individual variability.

    Parameters
    ----------
    regimen : Regimen or str
    patient : Patient
        Covariates shared by every simulated patient.
    times_min : array_like (t,)
        Sorted times (min).
    n : int
        Number of patients.
    seed : int or None
        Random seed (same seed, same result).
    model : str or None
        Registry name, or None for the drug's default model.
    progress : callable(done, total) or None
        Called after each chunk of patients.
    percentiles : sequence of int
        Percentiles of the bands (default 5, 50, 95).
    sensitivity_cv : float or None
        Between-patient CV of sensitivity (the concentration an effect needs); None for the
        engine's :data:`~ketaclinic.pkpd.pd.SENSITIVITY_CV`, 0 for none.

    Returns
    -------
    PopulationResult

    Notes
    -----
    IIV is log-normal; where a model has no published IIV the CV is ASSUMED (30%) and the
    warnings say so.  Each patient also has a sensitivity ``s`` (log-normal, median 1): the
    effects, zones and fade times use ``s x`` the effect-site concentration. The
    ``effect_site_ng_per_ml`` bands are concentrations (PK variability only); the
    ``high_pct_max`` bands and the fade-time percentiles include sensitivity.

    Examples
    --------
    >>> pop = simulate_population("iv 0.5 mg/kg over 40 min", Patient(weight_kg=70.0),
    ...                           np.arange(0.0, 361.0), n=2000, seed=1)
    >>> b = pop.percentiles["plasma_ng_per_ml"]
    >>> bool(b[5][40] < b[50][40] < b[95][40])
    True
    """
    if isinstance(regimen, str):
        regimen = parse_regimen(regimen)
    pk = resolve_model(regimen, model)
    t = as_times(times_min)
    params = sample_parameters(pk, patient, n, seed)
    inputs = dose_inputs(regimen, pk, patient.weight_kg)
    plasma = np.empty((n, t.size))
    effect = np.empty((n, t.size))
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        concentrations(params.slice(lo, hi), inputs, t, out=(plasma[lo:hi], effect[lo:hi]))
        if progress is not None:
            progress(hi, n)
    qs = [int(q) for q in percentiles]
    cp_q = np.percentile(plasma, qs, axis=0)
    ce_q = np.percentile(effect, qs, axis=0)
    cv = pd.SENSITIVITY_CV.value if sensitivity_cv is None else float(sensitivity_cv)
    sens = sensitivities(n, seed, cv)
    felt = effect * sens[:, None]  # what each patient's brain "reads" (concentration x sensitivity)
    felt_q = np.percentile(felt, qs, axis=0)
    bands = {
        "plasma_ng_per_ml": {q: cp_q[i] for i, q in enumerate(qs)},
        "effect_site_ng_per_ml": {q: ce_q[i] for i, q in enumerate(qs)},
        "high_pct_max": {q: pd.high_pct_max(felt_q[i], pk.drug) for i, q in enumerate(qs)},
    }
    median = 50 if 50 in qs else qs[len(qs) // 2]
    summary = summarize(
        t,
        bands["plasma_ng_per_ml"][median],
        bands["effect_site_ng_per_ml"][median],
        bands["high_pct_max"][median],
        pk.drug,
        thresholds_ng_per_ml=DEFAULT_THRESHOLDS_NG_PER_ML,
    )
    i_max = np.argmax(plasma, axis=1)
    per_patient = {
        "cmax_ng_per_ml": plasma[np.arange(n), i_max],
        "tmax_min": t[i_max],
        "ce_max_ng_per_ml": effect.max(axis=1),
        "felt_max_ng_per_ml": felt.max(axis=1),
        "time_effect_unnoticeable_min": _unnoticeable_times(t, pd.racemic_equivalent(felt, pk.drug)),
    }
    reached = pd.zone_index(per_patient["felt_max_ng_per_ml"], pk.drug)
    share = {z.key: float(np.mean(reached == i)) for i, z in enumerate(pd.ZONES)}
    summary_q: dict[str, dict[int, float | None]] = {}
    for name, values in per_patient.items():
        # NaN (still noticeable at the end) ranks as the longest time: such a percentile is None
        ranked = np.where(np.isnan(values), np.inf, values)
        summary_q[name] = {}
        for q in qs:
            v = float(np.percentile(ranked, q, method="nearest"))
            summary_q[name][q] = None if np.isinf(v) else v
    warnings = collect_warnings(pk, patient, regimen)
    assumed_iiv = sorted(k for k, p in pk.iiv_cv.items() if p.status == "assumed")
    if cv > 0:
        warnings.append(
            f"population: sensitivity CV {cv:g} ({pd.SENSITIVITY_CV.status}): {pd.SENSITIVITY_CV.source}"
        )
    if assumed_iiv:
        warnings.append(
            f"population: IIV CV ASSUMED for {', '.join(assumed_iiv)} (no published value in "
            "the reference notes)"
        )
    return PopulationResult(
        times_min=t,
        percentiles=bands,
        summary=summary,
        summary_percentiles=summary_q,
        n=n,
        seed=seed,
        model=pk.name,
        drug=pk.drug,
        warnings=warnings,
        citations=collect_citations(pk, regimen),
        peak_zone_share=share,
    )
