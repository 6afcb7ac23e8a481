"""Summary of a simulated concentration and effect time course."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ketaclinic.pkpd.pd import UNNOTICEABLE_NG_PER_ML, ZONES, racemic_equivalent, zone_index
from ketaclinic.pkpd.published import Drug
from ketaclinic.pkpd.units import ng_min_per_ml_to_ng_h_per_ml

FloatArray = NDArray[np.float64]

#: Default plasma thresholds (ng/mL) for ``time_above_min``: the zone bounds and the top of the
#: dissociation band.
DEFAULT_THRESHOLDS_NG_PER_ML: tuple[float, ...] = (50.0, 100.0, 250.0, 750.0)


@dataclass(frozen=True)
class Summary:
    """Key numbers of one concentration-effect time course (on the simulated grid).

    Attributes
    ----------
    cmax_ng_per_ml, tmax_min : float
        Peak plasma concentration and its time.
    auc_ng_h_per_ml : float
        Area under the plasma curve over the grid (trapezoid rule).
    ce_max_ng_per_ml : float
        Peak effect-site concentration.
    peak_effect_pct_max, peak_effect_time_min : float
        Peak drug-high rating (% of max) and its time.
    time_above_min : Mapping[float, float]
        Plasma threshold (ng/mL) -> minutes above it (linear interpolation between points).
    time_effect_unnoticeable_min : float or None
        Time after which the racemic-equivalent effect-site concentration stays below the
        "not noticeable" bound (50 ng/mL) until the end of the grid; None if it is still above
        at the end.
    peak_zone : str
        Highest zone key reached.
    """

    cmax_ng_per_ml: float
    tmax_min: float
    auc_ng_h_per_ml: float
    ce_max_ng_per_ml: float
    peak_effect_pct_max: float
    peak_effect_time_min: float
    time_above_min: Mapping[float, float]
    time_effect_unnoticeable_min: float | None
    peak_zone: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (threshold keys as strings).

        Examples
        --------
        >>> s = summarize(np.array([0.0, 1.0]), np.array([0.0, 10.0]), np.array([0.0, 1.0]),
        ...               np.array([0.0, 1.0]), "racemic")
        >>> s.to_dict()["time_above_min"]["50"]
        0.0
        """
        d = asdict(self)
        d["time_above_min"] = {f"{k:g}": v for k, v in self.time_above_min.items()}
        return d


def time_above(times_min: FloatArray, conc: FloatArray, threshold: float) -> float:
    """Minutes with `conc` above `threshold`, interpolating crossings linearly.

    Examples
    --------
    >>> time_above(np.array([0.0, 10.0, 20.0]), np.array([0.0, 100.0, 0.0]), 50.0)
    10.0
    """
    y0, y1 = conc[:-1] - threshold, conc[1:] - threshold
    dt = np.diff(times_min)
    both = (y0 > 0) & (y1 > 0)
    cross = (y0 > 0) != (y1 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(y0 > 0, y0, y1) / np.abs(y1 - y0)
    return float(np.sum(dt[both]) + np.sum((dt * frac)[cross]))


def unnoticeable_time(
    times_min: FloatArray, racemic_eq_ng_per_ml: FloatArray, bound: float = UNNOTICEABLE_NG_PER_ML
) -> float | None:
    """Time after which the concentration stays below `bound` (None if above at the end).

    Examples
    --------
    >>> unnoticeable_time(np.array([0.0, 10.0, 20.0]), np.array([0.0, 100.0, 0.0]))
    12.93
    """
    above = racemic_eq_ng_per_ml >= bound
    if not above.any():
        return float(times_min[0])
    last = int(above.size - 1 - np.argmax(above[::-1]))
    if last == above.size - 1:
        return None
    y0, y1 = racemic_eq_ng_per_ml[last], racemic_eq_ng_per_ml[last + 1]
    t0, t1 = times_min[last], times_min[last + 1]
    return float(t0 + (t1 - t0) * (y0 - bound) / (y0 - y1))


def summarize(
    times_min: FloatArray,
    plasma_ng_per_ml: FloatArray,
    effect_site_ng_per_ml: FloatArray,
    high_pct_max: FloatArray,
    drug: Drug,
    *,
    thresholds_ng_per_ml: Sequence[float] = DEFAULT_THRESHOLDS_NG_PER_ML,
) -> Summary:
    """Summarise one time course.

    Parameters
    ----------
    times_min : ndarray (t,)
        Sorted times (min).
    plasma_ng_per_ml, effect_site_ng_per_ml : ndarray (t,)
        Concentrations (ng/mL).
    high_pct_max : ndarray (t,)
        Drug-high rating (% of max).
    drug : {"racemic", "esketamine"}
        Drug (esketamine is converted to racemic-equivalent for the zones).
    thresholds_ng_per_ml : sequence of float
        Plasma thresholds for ``time_above_min``.

    Examples
    --------
    >>> t = np.linspace(0.0, 60.0, 61)
    >>> s = summarize(t, 100 * np.exp(-t / 30), 100 * np.exp(-t / 30), t * 0, "racemic")
    >>> s.cmax_ng_per_ml, round(s.auc_ng_h_per_ml, 1), round(s.time_effect_unnoticeable_min, 1)
    (100.0, 43.2, 10.4)
    """
    i_max = int(np.argmax(plasma_ng_per_ml))
    i_eff = int(np.argmax(high_pct_max))
    eq = racemic_equivalent(effect_site_ng_per_ml, drug)
    dt = np.diff(times_min)
    auc = float(np.dot(dt, plasma_ng_per_ml[1:] + plasma_ng_per_ml[:-1]) * 0.5)
    peak_zone = ZONES[int(zone_index(np.array([eq.max()]), "racemic")[0])].key
    return Summary(
        cmax_ng_per_ml=float(plasma_ng_per_ml[i_max]),
        tmax_min=float(times_min[i_max]),
        auc_ng_h_per_ml=ng_min_per_ml_to_ng_h_per_ml(auc),
        ce_max_ng_per_ml=float(effect_site_ng_per_ml.max()),
        peak_effect_pct_max=float(high_pct_max[i_eff]),
        peak_effect_time_min=float(times_min[i_eff]),
        time_above_min={
            float(c): time_above(times_min, plasma_ng_per_ml, float(c)) for c in thresholds_ng_per_ml
        },
        time_effect_unnoticeable_min=unnoticeable_time(times_min, eq),
        peak_zone=peak_zone,
    )
