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
#: reached 37-89% of the maximum possible effect. A rating cannot grow without bound, so the
#: engine uses a saturable (sigmoid Emax, Emax = 100% of the scale) relation fitted to that line
#: (through the origin, mid-range slope 63% at 200 ng/mL) at 50, 100, 150 and 200 ng/mL; the
#: 37% and 89% lines give the low and high band. Fitted by ``scripts/fit_pkpd.py``.
BOWDLE_SOURCE = (
    "Bowdle TA et al., Anesthesiology 1998;88:82-88: VAS items linear in Cp over 50-200 ng/mL, "
    "37-89% of max at 200 ng/mL; sigmoid Emax fitted here to that line within 50-200 ng/mL "
    "(Emax 100% of the scale ASSUMED); outside 50-200 ng/mL the rating is not reported"
)
BOWDLE_C50_NG_PER_ML = Param(153.4, "ng/mL", "fitted", BOWDLE_SOURCE)
BOWDLE_GAMMA = Param(1.655, "-", "fitted", BOWDLE_SOURCE)
#: (C50, gamma) fitted to the 37% (low) and 89% (high) lines of Bowdle 1998.
BOWDLE_BAND = ((305.7, 1.305), (101.8, 2.201))
#: Racemic-equivalent concentrations (ng/mL) over which Bowdle 1998 measured the relation.
STUDIED_RANGE_NG_PER_ML = (50.0, 200.0)

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

#: Between-patient variability of sensitivity: a log-normal multiplier (median 1) on the
#: effect-site concentration each patient's effects, zones and fade time use. Fitted by
#: ``scripts/fit_pkpd.py`` so that 68% of simulated patients on 56 mg esketamine reach the
#: dissociative zone (Spravato label: dissociation in 61-75%); applied to racemic ketamine too.
SENSITIVITY_CV = Param(
    0.628,
    "CV",
    "fitted",
    "fitted to the Spravato label's 61-75% with dissociation at 56 mg (68%, Perez-Ruixo PK "
    "variability); for racemic ketamine the same CV is ASSUMED",
)

#: Reference concentrations (racemic ketamine, ng/mL) reported for orientation.
ANALGESIC_BAND_NG_PER_ML = (70.0, 160.0)  # 0.15 mg/kg IV, PMC6020109 Table 1
AWAKENING_NG_PER_ML = 750.0  # "awakening in adults 0.75 mg/L", Herd 2007
ANAESTHETIC_BAND_NG_PER_ML = (1200.0, 2400.0)  # 1-2 mg/kg IV, PMC6020109 Table 1
RECOVERY_IDVALL_NG_PER_ML = 640.0  # recovery at 2.7 umol/L, Idvall 1979 BJA 51:1167
#: Lower bound of the anaesthetic zone (ASSUMED: the awakening level of Herd 2007).
ANAESTHETIC_BOUND_NG_PER_ML = AWAKENING_NG_PER_ML


#: Racemic-equivalent effect-site concentration below which the effect is called "not
#: noticeable". Fitted by ``scripts/fit_pkpd.py``: the typical patient's effect-site
#: concentration (default racemic model) 2 h after the start of 0.5 mg/kg over 40 min, when
#: pooled clinical data find the effects resolved. It is above the 50 ng/mL at which psychomotor
#: impairment is established, so "not noticeable" never means "safe to drive".
UNNOTICEABLE = Param(
    70.7,
    "ng/mL",
    "fitted",
    "typical effect-site concentration 2 h after the start of 0.5 mg/kg over 40 min, when the "
    "effects have resolved in pooled NIMH data (Acevedo-Diaz 2020, clinical.md [S113][S114]); "
    "Bowdle 1998 still measured effects at 50 ng/mL in healthy volunteers, so some people feel "
    "something below it",
)
#: Racemic-equivalent plasma level under which driving impairment is no longer established
#: (Andresen-Streichert 2022: > 50 ng/mL significant psychomotor impairment).
IMPAIRMENT_NG_PER_ML = 50.0
#: Dissociation intensity words by racemic-equivalent effect-site concentration (ng/mL). The
#: 100-250 ng/mL band is the one measured after 0.5 mg/kg over 40 min (Krystal 1994), where IV
#: clinical series observe a mean CADSS of 7.7 (SD 9.2) of 92 (clinical.md [S65], unconfirmed):
#: "mild to moderate". Above it "strong" is a heuristic.
INTENSITY_BANDS: tuple[tuple[float, str], ...] = ((250.0, "mild-to-moderate"), (float("inf"), "strong"))


def intensity(ce_ng_per_ml: float, drug: Drug) -> str:
    """Dissociation intensity word for a peak effect-site concentration.

    Examples
    --------
    >>> intensity(180.0, "racemic"), intensity(400.0, "racemic"), intensity(150.0, "esketamine")
    ('mild-to-moderate', 'strong', 'strong')
    """
    eq = float(racemic_equivalent(np.array([ce_ng_per_ml]), drug)[0])
    return next(word for bound, word in INTENSITY_BANDS if eq < bound)


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
        UNNOTICEABLE.value,
        f"bound fitted to clinical data: {UNNOTICEABLE.source}. Psychomotor impairment is "
        "established above 50 ng/mL (Andresen-Streichert et al. 2022, doi "
        "10.1016/j.toxac.2022.06.139): not feeling it does not mean fit to drive",
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
        ANAESTHETIC_BOUND_NG_PER_ML,
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
    >>> zone_index(np.array([10.0, 80.0, 200.0, 900.0]), "racemic").tolist()
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


def bowdle_pct_max(
    racemic_ng_per_ml: FloatArray, c50: float | None = None, gamma: float | None = None
) -> FloatArray:
    """Psychedelic VAS (% of maximum) of racemic ketamine: sigmoid Emax fitted to Bowdle 1998.

    Only meaningful inside :data:`STUDIED_RANGE_NG_PER_ML`; see :func:`above_studied_range`.

    Examples
    --------
    >>> [round(v) for v in bowdle_pct_max(np.array([0.0, 100.0, 200.0])).tolist()]
    [0, 33, 61]
    """
    c = np.maximum(np.asarray(racemic_ng_per_ml, dtype=float), 0.0)
    c50_ = BOWDLE_C50_NG_PER_ML.value if c50 is None else c50
    g = BOWDLE_GAMMA.value if gamma is None else gamma
    cg = c**g
    out: FloatArray = 100.0 * cg / (c50_**g + cg)
    return out


def above_studied_range(ce_ng_per_ml: FloatArray | float, drug: Drug) -> NDArray[np.bool_]:
    """True where the racemic-equivalent concentration is above the range the effect relation
    was measured over (Bowdle 1998, 200 ng/mL): there the rating is not a number but "above the
    studied range".

    Examples
    --------
    >>> above_studied_range(np.array([150.0, 250.0]), "racemic").tolist()
    [False, True]
    >>> above_studied_range(np.array([150.0]), "esketamine").tolist()
    [True]
    """
    eq = racemic_equivalent(np.asarray(ce_ng_per_ml, dtype=float), drug)
    return np.asarray(eq > STUDIED_RANGE_NG_PER_ML[1])


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

    Racemic: sigmoid Emax fitted to Bowdle 1998; esketamine: Simons 2022 (Emax on S-ketamine).

    Examples
    --------
    >>> round(float(high_pct_max(np.array([100.0]), "racemic")[0]), 1)
    33.0
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
        published uncertainty: the relations fitted to Bowdle's 37% and 89% lines, or for
        S-ketamine C50 x 1.5 and / 1.5, ASSUMED),
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
        low = bowdle_pct_max(ce_ng_per_ml, *BOWDLE_BAND[0])
        hi = bowdle_pct_max(ce_ng_per_ml, *BOWDLE_BAND[1])
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
        "PD: drug-high rating from a sigmoid Emax fitted to Bowdle 1998 within 50-200 ng/mL "
        "(Emax 100% ASSUMED); above 200 ng/mL (racemic-equivalent) it is reported as 'above the "
        "studied range', not as a number",
        f"zones: the 'not noticeable' bound ({UNNOTICEABLE_NG_PER_ML:g} ng/mL) is fitted: "
        f"{UNNOTICEABLE.source}",
        "zones: the anaesthetic bound (750 ng/mL, Herd 2007 awakening) is an ASSUMED choice",
        "zones: the 'strong' dissociation band above 250 ng/mL is a HEURISTIC (above the "
        "100-250 ng/mL measured after 0.5 mg/kg over 40 min)",
    ]
    if drug == "esketamine":
        out += [
            "PD: Simons 2022 Hill coefficient ASSUMED 1 and Emax ASSUMED 100%; high/low band "
            "uses C50 / 1.5 and x 1.5 (ASSUMED)",
            "zones: esketamine concentrations are doubled to racemic-equivalent (potency ratio 2 "
            "ASSUMED; EEG data suggest 2.5)",
        ]
    return out
