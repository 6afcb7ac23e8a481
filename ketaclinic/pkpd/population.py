"""Monte Carlo population simulation over inter-individual variability."""

from __future__ import annotations

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
            "warnings": list(self.warnings),
            "citations": list(self.citations),
        }


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

    Returns
    -------
    PopulationResult

    Notes
    -----
    IIV is log-normal; where a model has no published IIV the CV is ASSUMED (30%) and the
    warnings say so.  The percentile bands of ``high_pct_max`` are the effect of the
    effect-site percentiles (the relations are monotone).

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
    bands = {
        "plasma_ng_per_ml": {q: cp_q[i] for i, q in enumerate(qs)},
        "effect_site_ng_per_ml": {q: ce_q[i] for i, q in enumerate(qs)},
        "high_pct_max": {q: pd.high_pct_max(ce_q[i], pk.drug) for i, q in enumerate(qs)},
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
        "time_effect_unnoticeable_min": _unnoticeable_times(t, pd.racemic_equivalent(effect, pk.drug)),
    }
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
    )
