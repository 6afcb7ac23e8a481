"""Pharmacodynamics: drug high, perceptual change, zones a patient understands.

Every relation is applied to the effect-site concentration.  Zones and the perceptual relation are
defined on the *racemic-equivalent* concentration: an esketamine (S-ketamine) concentration is
multiplied by :data:`S_KETAMINE_POTENCY_RATIO` (2; S-ketamine is about twice as potent as the
racemate).  The drug-high rating uses the relation published for the drug simulated: Bowdle 1998
for racemic ketamine, Simons 2022 for S-ketamine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ketaclinic.pkpd.published import Drug, Param

FloatArray = NDArray[np.float64]

#: S-ketamine potency relative to the racemate, used to express esketamine concentrations as
#: racemic-equivalent concentrations for the zones.
S_KETAMINE_POTENCY_RATIO = Param(
    2.0,
    "ratio",
    "assumed",
    "conventional 'S-ketamine is about twice as potent'; the EEG median-frequency IC50 ratio "
    "racemic/S is 2.0/0.8 = 2.5 (Schuettler 1987, doi 10.1007/BF01066320)",
)

#: Bowdle 1998: psychedelic VAS items linear in steady-state venous racemic Cp over 50-200 ng/mL;
#: at the top step (200 ng/mL) the items other than anxiety/suspiciousness/ideas of reference
#: reached 37-89% of the maximum possible effect.  Slope through the origin (ASSUMED intercept)
#: set to the middle of that range; the 37-89% span is the uncertainty.
BOWDLE_SLOPE_PCT_PER_NG_PER_ML = Param(
    (37.0 + 89.0) / 2.0 / 200.0,
    "% of max per ng/mL",
    "derived",
    "Bowdle TA et al., Anesthesiology 1998;88:82-88: VAS items linear in Cp over 50-200 ng/mL, "
    "37-89% of max at 200 ng/mL; mid-range slope, zero intercept ASSUMED, extrapolation beyond "
    "200 ng/mL ASSUMED (capped at 100%)",
)
BOWDLE_SLOPE_RANGE = (37.0 / 200.0, 89.0 / 200.0)

#: Simons 2022: drug high (Bowdle questionnaire, 11-point VAS) of S-ketamine, sigmoid Emax.
SIMONS_C50_NG_PER_ML = Param(
    71.0,
    "ng/mL",
    "estimated",
    "Simons P et al., Front Pain Res 2022;3:946487: C50 0.3 nmol/mL (about 71 ng/mL) S-ketamine",
)
SIMONS_GAMMA = Param(
    1.0,
    "-",
    "assumed",
    "Simons 2022 Hill coefficient not obtained (abstract truncated); plain Emax (gamma 1) assumed",
)
SIMONS_EMAX_PCT = Param(100.0, "% of max", "assumed", "Simons 2022 Emax not obtained; full scale assumed")

#: Reference concentrations (racemic ketamine, ng/mL) reported for orientation.
ANALGESIC_BAND_NG_PER_ML = (70.0, 160.0)  # 0.15 mg/kg IV, PMC6020109 Table 1
AWAKENING_NG_PER_ML = 750.0  # "awakening in adults 0.75 mg/L", Herd 2007
ANAESTHETIC_BAND_NG_PER_ML = (1200.0, 2400.0)  # 1-2 mg/kg IV, PMC6020109 Table 1
RECOVERY_IDVALL_NG_PER_ML = 640.0  # recovery at 2.7 umol/L, Idvall 1979 BJA 51:1167


@dataclass(frozen=True)
class Zone:
    """A concentration zone in words a patient understands.

    Attributes
    ----------
    key : str
        ``"none"``, ``"mild"``, ``"dissociative"`` or ``"anaesthetic"``.
    label : str
        Plain-language label.
    lower_ng_per_ml : float
        Lower bound on the racemic-equivalent effect-site concentration (ng/mL).
    source : str
        Where the bound comes from, and what is assumed.
    """

    key: str
    label: str
    lower_ng_per_ml: float
    source: str


#: Ordered zones (lower bounds increasing).
ZONES: tuple[Zone, ...] = (
    Zone("none", "not noticeable", 0.0, "below the mild-zone threshold"),
    Zone(
        "mild",
        "mild perceptual change",
        50.0,
        "forensic impairment onset: > 50 ng/mL significant psychomotor impairment, 50-200 ng/mL "
        "mind-altering (Andresen-Streichert et al. 2022, doi 10.1016/j.toxac.2022.06.139); "
        "Bowdle 1998 studied 50-200 ng/mL",
    ),
    Zone(
        "dissociative",
        "dissociative: feeling detached from body or surroundings",
        100.0,
        "lower end of the 100-250 ng/mL dissociation band after 0.5 mg/kg over 40 min (Krystal "
        "1994, via PMC6020109 Table 1)",
    ),
    Zone(
        "anaesthetic",
        "anaesthetic: unresponsive, not awake",
        750.0,
        "awakening in adults at 0.75 mg/L (Herd 2007); recovery at about 640 ng/mL (Idvall 1979); "
        "surgical anaesthesia 1200-2400 ng/mL (PMC6020109). Choosing the awakening value as the "
        "bound is an ASSUMPTION",
    ),
)
ZONE_KEYS: tuple[str, ...] = tuple(z.key for z in ZONES)
_ZONE_BOUNDS = np.array([z.lower_ng_per_ml for z in ZONES[1:]])
_ZONE_KEY_ARRAY = np.array(ZONE_KEYS)
#: Racemic-equivalent concentration (ng/mL) below which the effect is "not noticeable".
UNNOTICEABLE_NG_PER_ML = ZONES[1].lower_ng_per_ml


def racemic_equivalent(conc_ng_per_ml: FloatArray, drug: Drug) -> FloatArray:
    """Express a concentration as racemic-equivalent (esketamine x potency ratio 2).

    Examples
    --------
    >>> racemic_equivalent(np.array([50.0]), "esketamine").tolist()
    [100.0]
    """
    if drug == "esketamine":
        return conc_ng_per_ml * S_KETAMINE_POTENCY_RATIO.value
    return conc_ng_per_ml


def zone_index(conc_ng_per_ml: FloatArray, drug: Drug) -> NDArray[np.intp]:
    """Index into :data:`ZONES` for each effect-site concentration.

    Examples
    --------
    >>> zone_index(np.array([10.0, 60.0, 200.0, 900.0]), "racemic").tolist()
    [0, 1, 2, 3]
    """
    eq = racemic_equivalent(np.asarray(conc_ng_per_ml, dtype=float), drug)
    return np.searchsorted(_ZONE_BOUNDS, eq, side="right")


def zones(conc_ng_per_ml: FloatArray, drug: Drug) -> NDArray[np.str_]:
    """Zone keys (``"none"``, ``"mild"``, ...) for each effect-site concentration.

    Examples
    --------
    >>> zones(np.array([10.0, 60.0]), "esketamine").tolist()
    ['none', 'dissociative']
    """
    return _ZONE_KEY_ARRAY[zone_index(conc_ng_per_ml, drug)]


def bowdle_pct_max(racemic_ng_per_ml: FloatArray, slope: float | None = None) -> FloatArray:
    """Psychedelic VAS (% of maximum) of racemic ketamine, Bowdle 1998, capped to [0, 100].

    Examples
    --------
    >>> bowdle_pct_max(np.array([0.0, 200.0, 1000.0])).tolist()
    [0.0, 63.0, 100.0]
    """
    s = BOWDLE_SLOPE_PCT_PER_NG_PER_ML.value if slope is None else slope
    return np.clip(np.asarray(racemic_ng_per_ml, dtype=float) * s, 0.0, 100.0)


def simons_pct_max(s_ketamine_ng_per_ml: FloatArray, c50: float | None = None) -> FloatArray:
    """Drug high (% of maximum) of S-ketamine, sigmoid Emax (Simons 2022, gamma ASSUMED 1).

    Examples
    --------
    >>> simons_pct_max(np.array([0.0, 71.0])).tolist()
    [0.0, 50.0]
    """
    c = np.maximum(np.asarray(s_ketamine_ng_per_ml, dtype=float), 0.0)
    c50_ = SIMONS_C50_NG_PER_ML.value if c50 is None else c50
    g = SIMONS_GAMMA.value
    cg = c**g
    out: FloatArray = SIMONS_EMAX_PCT.value * cg / (c50_**g + cg)
    return out


def high_pct_max(ce_ng_per_ml: FloatArray, drug: Drug) -> FloatArray:
    """Drug-high rating (% of maximum) for the drug simulated.

    Racemic: Bowdle 1998 (linear); esketamine: Simons 2022 (Emax on S-ketamine).

    Examples
    --------
    >>> round(float(high_pct_max(np.array([100.0]), "racemic")[0]), 1)
    31.5
    """
    if drug == "esketamine":
        return simons_pct_max(ce_ng_per_ml)
    return bowdle_pct_max(ce_ng_per_ml)


def effects(ce_ng_per_ml: FloatArray, drug: Drug) -> dict[str, FloatArray]:
    """All effect series from the effect-site concentration.

    Returns
    -------
    dict
        ``high_pct_max`` (drug high, % of max), ``high_pct_max_low``/``high_pct_max_high`` (its
        published uncertainty: Bowdle 37-89% span, or Simons C50 with the potency ratio range
        2-2.5 is not used, the low/high bands use C50 x 1.5 and / 1.5 ASSUMED),
        ``perceptual_pct_max`` (Bowdle psychedelic VAS on the racemic-equivalent concentration)
        and ``racemic_equivalent_ng_per_ml``.

    Examples
    --------
    >>> sorted(effects(np.array([100.0]), "racemic"))[:2]
    ['high_pct_max', 'high_pct_max_high']
    """
    eq = racemic_equivalent(ce_ng_per_ml, drug)
    if drug == "esketamine":
        c50 = SIMONS_C50_NG_PER_ML.value
        high = simons_pct_max(ce_ng_per_ml)
        low = simons_pct_max(ce_ng_per_ml, c50 * 1.5)
        hi = simons_pct_max(ce_ng_per_ml, c50 / 1.5)
    else:
        high = bowdle_pct_max(ce_ng_per_ml)
        low = bowdle_pct_max(ce_ng_per_ml, BOWDLE_SLOPE_RANGE[0])
        hi = bowdle_pct_max(ce_ng_per_ml, BOWDLE_SLOPE_RANGE[1])
    return {
        "high_pct_max": high,
        "high_pct_max_low": low,
        "high_pct_max_high": hi,
        "perceptual_pct_max": bowdle_pct_max(eq),
        "racemic_equivalent_ng_per_ml": eq,
    }


def pd_assumptions(drug: Drug) -> list[str]:
    """Warnings for the assumed pharmacodynamic values used for `drug`.

    Examples
    --------
    >>> len(pd_assumptions("esketamine")) > len(pd_assumptions("racemic"))
    True
    """
    out = [
        "PD: Bowdle 1998 linear relation has an ASSUMED zero intercept and is extrapolated "
        "outside 50-200 ng/mL (capped at 100%)",
        "zones: the anaesthetic bound (750 ng/mL, Herd 2007 awakening) is an ASSUMED choice",
    ]
    if drug == "esketamine":
        out += [
            "PD: Simons 2022 Hill coefficient ASSUMED 1 and Emax ASSUMED 100%; high/low band "
            "uses C50 / 1.5 and x 1.5 (ASSUMED)",
            "zones: esketamine concentrations are doubled to racemic-equivalent (potency ratio 2 "
            "ASSUMED; EEG data suggest 2.5)",
        ]
    return out
