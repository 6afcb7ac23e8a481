"""Registry of published ketamine and esketamine pharmacokinetic models.

Every model is a frozen :class:`PKModel` record that carries its citation, the population it was
estimated in, its valid patient ranges, the sampling site, its covariate equations, its
inter-individual variability (IIV), its effect-site rate constant and the absorption models of
its routes.  Every number is a :class:`Param` that says whether it was estimated in the cited
study, derived here from estimated values, taken from a secondary source and not verified
("unconfirmed"), or is an assumption of this engine ("assumed").  Facts and their provenance are in
``reference/pkpd.md`` of the project's research notes.

Two structures exist:

``"mammillary"``
    one to three compartments with elimination from the central compartment (Domino, Clements,
    Hijazi, Herd).  Individual parameters: ``v1_l, v2_l, v3_l`` (L), ``cl_l_per_min,
    q2_l_per_min, q3_l_per_min`` (L/min); absent compartments have zero volume and flow.
``"hepatic"``
    Perez-Ruixo 2021 esketamine: three disposition compartments plus a well-stirred
    hepato-portal compartment from which esketamine is eliminated (``kel``) and metabolised
    (``kmet``).  The published model is already linear (first-order exchange through Qh and
    first-order elimination from the liver), so no linearisation is needed; the metabolite
    (noresketamine) is not simulated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from ketaclinic.pkpd.units import per_h_to_per_min

Status = Literal["estimated", "derived", "fitted", "unconfirmed", "assumed"]
Drug = Literal["racemic", "esketamine"]
Structure = Literal["mammillary", "hepatic"]


@dataclass(frozen=True)
class Param:
    """One value with its unit, provenance status and source.

    Attributes
    ----------
    value : float
        The number, in `unit`.
    unit : str
        Unit as written (``"L/kg"``, ``"1/min"``, ``"fraction"``, ...).
    status : {"estimated", "derived", "fitted", "unconfirmed", "assumed"}
        ``estimated``: estimated in the cited study; ``derived``: computed here from estimated
        values; ``fitted``: fitted here to published measurements by ``scripts/fit_pkpd.py``
        (those measurements are calibration rows, never validation); ``unconfirmed``: read in a
        secondary source, primary not read; ``assumed``: not published, an assumption of this
        engine (always reported in the warnings).
    source : str
        Where the value comes from, or why it was assumed.
    """

    value: float
    unit: str
    status: Status
    source: str


@dataclass(frozen=True)
class Absorption:
    """First-order absorption of an extravascular route into the central compartment.

    Attributes
    ----------
    route : str
        Route key (``"im"``, ``"oral"``, ...).
    bioavailability : Param
        Fraction of the dose reaching the systemic circulation.
    ka_per_min : Param
        First-order absorption rate constant (1/min).
    """

    route: str
    bioavailability: Param
    ka_per_min: Param


@dataclass(frozen=True)
class PKModel:
    """A published pharmacokinetic parameter set (frozen record).

    Attributes
    ----------
    name : str
        Registry key.
    title : str
        Short human title.
    drug : {"racemic", "esketamine"}
        What was measured: racemic ketamine or S-ketamine (esketamine).
    citation : str
        Full citation.
    reference_id : str
        PMID or DOI.
    population : str
        Population studied.
    sampling_site : str
        ``"arterial"``, ``"venous"`` or ``"not stated in the reference notes"``.
    age_range_yr, weight_range_kg : tuple of float
        Valid patient ranges; outside them the simulation warns.
    range_status : Status
        Whether the ranges are published or assumed.
    structure : {"mammillary", "hepatic"}
        Model structure, see the module docstring.
    n_compartments : int
        Number of disposition compartments (excluding the hepatic one).
    params : Mapping[str, Param]
        Published values in their published parametrisation.
    covariates : str
        Covariate equations in words.
    ke0_per_min : Param
        Effect-site equilibration rate constant.
    iiv_cv : Mapping[str, Param]
        Log-normal inter-individual coefficient of variation by individual-parameter key.
    routes : Mapping[str, Absorption | None]
        Supported routes; ``None`` for IV (into the central compartment) and for routes with a
        structure of their own (esketamine nasal spray, see :data:`PEREZ_RUIXO_NASAL`).
    notes : tuple of str
        Caveats reported with every simulation that uses this model.
    """

    name: str
    title: str
    drug: Drug
    citation: str
    reference_id: str
    population: str
    sampling_site: str
    age_range_yr: tuple[float, float]
    weight_range_kg: tuple[float, float]
    range_status: Status
    structure: Structure
    n_compartments: int
    params: Mapping[str, Param]
    covariates: str
    ke0_per_min: Param
    iiv_cv: Mapping[str, Param]
    routes: Mapping[str, Absorption | None]
    notes: tuple[str, ...] = field(default=())

    def assumed(self) -> list[str]:
        """List every assumed value of the model as ``"name: source"`` strings.

        Examples
        --------
        >>> any("ka" in s for s in get_model("domino").assumed())
        True
        """
        out = [f"{k} = {p.value:g} {p.unit} ASSUMED: {p.source}" for k, p in self.params.items()]
        out = [s for s, p in zip(out, self.params.values(), strict=True) if p.status == "assumed"]
        if self.ke0_per_min.status == "assumed":
            out.append(f"ke0 = {self.ke0_per_min.value:.3g} 1/min ASSUMED: {self.ke0_per_min.source}")
        for route, absorption in self.routes.items():
            if absorption is None:
                continue
            for label, p in (("F", absorption.bioavailability), ("ka", absorption.ka_per_min)):
                if p.status == "assumed":
                    out.append(f"{route} {label} = {p.value:.3g} {p.unit} ASSUMED: {p.source}")
        return out


# --- shared provenance strings ----------------------------------------------------------------

_DOMINO_SRC = (
    "Domino EF et al., Anesth Analg 1982;61:87-92 (PMID 7198883), as transcribed in STANPUMP, "
    "opentiva ketamine.py and fus_anes; primary not read"
)
_NAVARRETE = (
    "Navarrete-Ibacache et al., J Clin Monit Comput 2025;39:349-354 (ANI after IV bolus, Domino "
    "PK), 95% CI 0.20-0.28 /min; quoted in a public code comment, paper not read"
)
_BORROWED_KE0 = (
    "no ke0 published for this model; borrows the Domino-based estimate 0.238 /min of Navarrete-Ibacache 2025"
)
_CLEMENTS_1982 = (
    "Clements JA et al. 1982, J Pharm Sci (IM 93%, oral 17% in the same study); read only in "
    "secondary sources (Wikipedia mirror, mitotox.org)"
)
_ASSUMED_CV = "no IIV published for this model in the reference notes; CV 30% assumed"

#: Assumed inter-individual CV for values without published IIV (flagged in every result).
ASSUMED_CV = 0.30


def _assumed_cv(keys: tuple[str, ...]) -> dict[str, Param]:
    return {k: Param(ASSUMED_CV, "CV", "assumed", _ASSUMED_CV) for k in keys}


#: Racemic intranasal absorption fitted per disposition model (``scripts/fit_pkpd.py``): F and ka
#: to the geometric-mean Cmax, Tmax and AUC after 10, 30 and 50 mg of PMC9118341 Table 6.
NASAL_FIT: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "domino": (0.200, 0.0500),
        "clements250": (0.181, 0.290),
        "hijazi": (0.243, 0.1041),
        "herd": (0.197, 0.0678),
    }
)
_NASAL_SRC = (
    "fitted (scripts/fit_pkpd.py) with this model's disposition to the geometric-mean Cmax, "
    "Tmax and AUC after 10, 30 and 50 mg racemic intranasal spray, Pharmacotherapy "
    "2022;42:298-310 (doi 10.1002/phar.2669, PMC9118341) Table 6"
)
_SNORTED = (
    "ASSUMED: no measurements of snorted powder were found; taken as the fitted intranasal "
    "spray value, with a wide between-person spread (CV 60%, ASSUMED)"
)


def _racemic_routes(model: str) -> dict[str, Absorption | None]:
    """Absorption models of racemic ketamine for one disposition model.

    Intranasal F and ka are fitted to measured concentrations with this model's disposition;
    the other rate constants are assumptions chosen so that the time to peak with Domino
    disposition falls inside the reported Tmax range, never fitted to concentrations.
    """
    f_nasal, ka_nasal = NASAL_FIT[model]
    return {
        "iv": None,
        "im": Absorption(
            "im",
            Param(0.93, "fraction", "unconfirmed", _CLEMENTS_1982),
            Param(
                0.028,
                "1/min",
                "assumed",
                "not published; chosen so the Tmax with Domino disposition (about 10 min) falls in "
                "the 5-15 min reported for IM (secondary)",
            ),
        ),
        "oral": Absorption(
            "oral",
            Param(0.17, "fraction", "unconfirmed", _CLEMENTS_1982),
            Param(
                0.008,
                "1/min",
                "assumed",
                "not published; chosen so the Tmax with Domino disposition is about the 30 min "
                "reported for oral (secondary)",
            ),
        ),
        "sublingual": Absorption(
            "sublingual",
            Param(
                0.29,
                "fraction",
                "estimated",
                "Rolan et al. 2014, Br J Clin Pharmacol 77:1011 (PMC4093926), 25 mg wafer, 90% CI 27-31%",
            ),
            Param(
                0.0065,
                "1/min",
                "assumed",
                "not published; chosen so the Tmax with Domino disposition is about the median "
                "0.75 h (range 0.25-1.0 h) of Rolan 2014",
            ),
        ),
        "nasal": Absorption(
            "nasal",
            Param(f_nasal, "fraction", "fitted", _NASAL_SRC),
            Param(ka_nasal, "1/min", "fitted", _NASAL_SRC),
        ),
        "insufflated": Absorption(
            "insufflated",
            Param(f_nasal, "fraction", "assumed", _SNORTED),
            Param(ka_nasal, "1/min", "assumed", _SNORTED),
        ),
    }


_NASAL_CV_SRC = (
    "derived: the geometric SD of intranasal Cmax, 1.90-2.29 (PMC9118341 Table 6), as a CV "
    "(sqrt(exp(ln(2.0)^2) - 1)), all of it put on F"
)


def _route_iiv() -> dict[str, Param]:
    return _assumed_cv(tuple(f"ka_{r}_per_min" for r in ("im", "oral", "sublingual", "nasal"))) | {
        "f_nasal": Param(0.78, "CV", "derived", _NASAL_CV_SRC),
        "ka_insufflated_per_min": Param(0.6, "CV", "assumed", _SNORTED),
        "f_insufflated": Param(0.6, "CV", "assumed", _SNORTED),
    }


_MAMMILLARY_KEYS = ("v1_l", "v2_l", "v3_l", "cl_l_per_min", "q2_l_per_min", "q3_l_per_min")

DOMINO = PKModel(
    name="domino",
    title="Domino 1982 racemic ketamine, 3-compartment",
    drug="racemic",
    citation=_DOMINO_SRC,
    reference_id="PMID 7198883",
    population="surgical patients (adults)",
    sampling_site="not stated in the reference notes",
    age_range_yr=(18.0, 90.0),
    weight_range_kg=(40.0, 150.0),
    range_status="assumed",
    structure="mammillary",
    n_compartments=3,
    params=MappingProxyType(
        {
            "v1_l_per_kg": Param(0.063, "L/kg", "unconfirmed", _DOMINO_SRC),
            "k10_per_min": Param(0.4381, "1/min", "unconfirmed", _DOMINO_SRC),
            "k12_per_min": Param(0.5921, "1/min", "unconfirmed", _DOMINO_SRC),
            "k13_per_min": Param(0.590, "1/min", "unconfirmed", _DOMINO_SRC),
            "k21_per_min": Param(0.2470, "1/min", "unconfirmed", _DOMINO_SRC),
            "k31_per_min": Param(0.0146, "1/min", "unconfirmed", _DOMINO_SRC),
        }
    ),
    covariates="V1 = 0.063 L/kg x weight; rate constants independent of covariates",
    ke0_per_min=Param(0.238, "1/min", "unconfirmed", _NAVARRETE),
    iiv_cv=MappingProxyType(_assumed_cv((*_MAMMILLARY_KEYS, "ke0_per_min")) | _route_iiv()),
    routes=MappingProxyType(_racemic_routes("domino")),
    notes=(
        "Domino parameters are known only from code transcriptions (STANPUMP, opentiva); the "
        "attribution (Anesth Analg 1982 vs Clin Pharmacol Ther 1984) is inconsistent",
    ),
)

CLEMENTS250 = PKModel(
    name="clements250",
    title="Clements & Nimmo 1981 racemic ketamine, 250 ug/kg bolus, 2-compartment",
    drug="racemic",
    citation="Clements JA, Nimmo WS. Br J Anaesth 1981;53:27 (250 ug/kg bolus); "
    "as transcribed by opentiva, primary not read",
    reference_id="doi 10.1093/bja/53.1.27",
    population="healthy adult volunteers",
    sampling_site="not stated in the reference notes",
    age_range_yr=(18.0, 65.0),
    weight_range_kg=(45.0, 120.0),
    range_status="assumed",
    structure="mammillary",
    n_compartments=2,
    params=MappingProxyType(
        {
            "v1_l_per_kg": Param(1.7522, "L/kg", "unconfirmed", "opentiva transcription"),
            "k10_per_min": Param(0.0109, "1/min", "unconfirmed", "opentiva transcription"),
            "k12_per_min": Param(0.0186, "1/min", "unconfirmed", "opentiva transcription"),
            "k21_per_min": Param(0.0137, "1/min", "unconfirmed", "opentiva transcription"),
        }
    ),
    covariates="V1 = 1.7522 L/kg x weight; rate constants independent of covariates",
    ke0_per_min=Param(0.238, "1/min", "assumed", _BORROWED_KE0),
    iiv_cv=MappingProxyType(_assumed_cv((*_MAMMILLARY_KEYS, "ke0_per_min")) | _route_iiv()),
    routes=MappingProxyType(_racemic_routes("clements250")),
)

HIJAZI = PKModel(
    name="hijazi",
    title="Hijazi 2003 racemic ketamine in ICU patients, 2-compartment",
    drug="racemic",
    citation="Hijazi Y et al. Br J Anaesth 2003;90:155 (2-compartment rate constants as "
    "transcribed by opentiva; abstract CL 36.0 (SD 13.3) mL/min/kg, t1/2 4.9 h)",
    reference_id="doi 10.1093/bja/aeg028",
    population="12 ICU patients with brain or spinal-cord injury",
    sampling_site="not stated in the reference notes",
    age_range_yr=(18.0, 90.0),
    weight_range_kg=(40.0, 150.0),
    range_status="assumed",
    structure="mammillary",
    n_compartments=2,
    params=MappingProxyType(
        {
            "v1_l_per_kg": Param(1.08, "L/kg", "unconfirmed", "opentiva transcription"),
            "k10_per_min": Param(0.0333, "1/min", "unconfirmed", "opentiva transcription"),
            "k12_per_min": Param(0.0088, "1/min", "unconfirmed", "opentiva transcription"),
            "k21_per_min": Param(0.0030, "1/min", "unconfirmed", "opentiva transcription"),
        }
    ),
    covariates="V1 = 1.08 L/kg x weight; rate constants independent of covariates",
    ke0_per_min=Param(0.238, "1/min", "assumed", _BORROWED_KE0),
    iiv_cv=MappingProxyType(
        _assumed_cv(("v1_l", "v2_l", "q2_l_per_min", "ke0_per_min"))
        | {
            "cl_l_per_min": Param(
                13.3 / 36.0,
                "CV",
                "derived",
                "SD/mean of individual clearances in the Hijazi 2003 abstract (13.3/36.0)",
            )
        }
        | _route_iiv()
    ),
    routes=MappingProxyType(_racemic_routes("hijazi")),
)

HERD = PKModel(
    name="herd",
    title="Herd & Anderson 2007 racemic ketamine in children, allometric 2-compartment",
    drug="racemic",
    citation="Herd DW, Anderson BJ et al. Paediatr Anaesth 2007 (NONMEM, 54 children, 1-1.5 mg/kg IV)",
    reference_id="doi 10.1111/j.1460-9592.2006.02145.x",
    population="54 children given 1-1.5 mg/kg IV",
    sampling_site="not stated in the reference notes",
    age_range_yr=(1.0, 18.0),
    weight_range_kg=(5.0, 90.0),
    range_status="assumed",
    structure="mammillary",
    n_compartments=2,
    params=MappingProxyType(
        {
            "v1_l_per_70kg": Param(38.7, "L/70 kg", "estimated", "Herd 2007 abstract"),
            "v2_l_per_70kg": Param(102.0, "L/70 kg", "estimated", "Herd 2007 abstract"),
            "cl_l_per_h_per_70kg": Param(90.0, "L/h/70 kg", "estimated", "Herd 2007 abstract"),
            "q_l_per_h_per_70kg": Param(215.0, "L/h/70 kg", "estimated", "Herd 2007 abstract"),
        }
    ),
    covariates="V = V_std x (W/70); CL and Q = value_std x (W/70)^0.75",
    ke0_per_min=Param(0.238, "1/min", "assumed", _BORROWED_KE0),
    iiv_cv=MappingProxyType(
        {
            "v1_l": Param(0.64, "CV", "estimated", "Herd 2007 abstract, BSV of V1"),
            "v2_l": Param(0.517, "CV", "estimated", "Herd 2007 abstract, BSV of V2"),
            "cl_l_per_min": Param(0.381, "CV", "estimated", "Herd 2007 abstract, BSV of CL"),
            "q2_l_per_min": Param(0.19, "CV", "estimated", "Herd 2007 abstract, BSV of Q"),
        }
        | _assumed_cv(("ke0_per_min",))
        | _route_iiv()
    ),
    routes=MappingProxyType(_racemic_routes("herd")),
)

_PR_SRC = (
    "Perez-Ruixo C et al., Clin Pharmacokinet 2021;60:501-516 Table 3, as transcribed in "
    "nlmixr2lib PerezRuixo_2020_esketamine.R"
)
_KE0_FIT = (
    "fitted (scripts/fit_pkpd.py) so that the typical effect-site peak after 56 and 84 mg falls "
    "at 40 min, the label's CADSS peak (Spravato label 5.2 / J&J Medical Connect). The arterial "
    "S-ketamine t1/2ke0 of 6.1 min (Anesthesiology 2012;117:353) was used before; it belongs to "
    "another model and sampling site"
)

PEREZ_RUIXO = PKModel(
    name="perez-ruixo-2021",
    title="Perez-Ruixo 2021 esketamine nasal spray, 3-compartment + hepatic first pass",
    drug="esketamine",
    citation="Perez-Ruixo C, Rossenu S, Zannikos P, et al. Population pharmacokinetics of "
    "esketamine nasal spray and its metabolite noresketamine in healthy subjects and patients "
    "with treatment-resistant depression. Clin Pharmacokinet 2021;60:501-516",
    reference_id="doi 10.1007/s40262-020-00953-4",
    population="820 adults (healthy and TRD), 13 studies; IN 14-112 mg, IV 28 mg/40 min, PO 84 mg",
    sampling_site="venous plasma (not stated in the reference notes)",
    age_range_yr=(18.0, 90.0),
    weight_range_kg=(40.0, 150.0),
    range_status="assumed",
    structure="hepatic",
    n_compartments=3,
    params=MappingProxyType(
        {
            "vc_l": Param(192.0, "L", "estimated", _PR_SRC),
            "q1_l_per_h": Param(84.3, "L/h", "estimated", _PR_SRC),
            "vp1_l": Param(143.0, "L", "estimated", _PR_SRC),
            "q2_l_per_h": Param(37.6, "L/h", "estimated", _PR_SRC),
            "vp2_l": Param(417.0, "L", "estimated", _PR_SRC),
            "qh_l_per_h": Param(151.0, "L/h", "estimated", _PR_SRC),
            "vh_l": Param(101.0, "L", "estimated", _PR_SRC),
            "kel_per_h": Param(1.11, "1/h", "estimated", _PR_SRC),
            "kmet_per_h": Param(2.77, "1/h", "estimated", _PR_SRC),
            "frn_first_device": Param(0.54, "fraction", "estimated", _PR_SRC),
            "frn_later_device_factor": Param(0.62, "factor", "estimated", _PR_SRC),
            "ka_nasal_per_h": Param(2.93, "1/h", "estimated", _PR_SRC),
            "swallowed_duration_h": Param(0.53, "h", "estimated", _PR_SRC),
            "ka_swallowed_per_h": Param(1.45, "1/h", "estimated", _PR_SRC),
            "fgut": Param(0.64, "fraction", "estimated", _PR_SRC),
            "vcn_l": Param(70.0, "L (apparent, /F)", "estimated", _PR_SRC),
            "cln_l_per_h": Param(38.0, "L/h (apparent, /F)", "estimated", _PR_SRC),
            "vpn_l": Param(115.0, "L (apparent, /F)", "estimated", _PR_SRC),
            "q3_l_per_h": Param(26.1, "L/h (apparent, /F)", "estimated", _PR_SRC),
        }
    ),
    covariates="Qh decreases 2.19 L/h per year of age above 60 (Perez-Ruixo 2021); Asian race "
    "kel x 0.36 and Japanese FRn x 1.34 are not applied (the Patient record does not carry "
    "them); weight, sex, hepatic markers and eGFR had no effect",
    ke0_per_min=Param(0.91, "1/min", "fitted", _KE0_FIT),
    iiv_cv=MappingProxyType(
        {
            "vc_l": Param(0.275, "CV", "estimated", _PR_SRC),
            "vp1_l": Param(0.493, "CV", "estimated", _PR_SRC),
            "qh_l_per_min": Param(0.232, "CV", "estimated", _PR_SRC),
            "vh_l": Param(0.346, "CV", "estimated", _PR_SRC),
            "kel_per_min": Param(1.20, "CV", "estimated", _PR_SRC),
            "ka_nasal_per_min": Param(0.615, "CV", "estimated", _PR_SRC),
            "ka_swallowed_per_min": Param(1.32, "CV", "estimated", _PR_SRC),
            "frn_first": Param(0.708, "SD (logit)", "estimated", _PR_SRC),
        }
        | _assumed_cv(("ke0_per_min",))
    ),
    routes=MappingProxyType({"iv": None, "nasal": None}),
    notes=(
        "each 28 mg device: fraction FRn (0.54, x0.62 for the 2nd and later devices of a dose) "
        "absorbed nasally (ka 2.93/h) into the central compartment; the rest swallowed, "
        "zero-order over 0.53 h into a gut depot, Fgut 0.64, ka 1.45/h into the hepatic "
        "compartment",
        "between-subject variability from Perez-Ruixo Table 3 (via nlmixr2lib); residual error "
        "27.6% is not added; noresketamine is simulated for the typical patient with the apparent "
        "(/F) metabolite parameters, formation = kmet x liver amount (the fraction-metabolised "
        "convention of the transcription is unconfirmed)",
    ),
)

#: name -> model record; the single place where models are registered.
MODELS: Mapping[str, PKModel] = MappingProxyType(
    {m.name: m for m in (DOMINO, CLEMENTS250, HIJAZI, HERD, PEREZ_RUIXO)}
)

#: Default model by drug. Racemic: the best score on the independent IV measurements
#: (``pkpd.validation.model_ranking``, docs/validation.md; a test keeps it so): Herd 2007,
#: estimated in children and scaled allometrically, so every adult prediction carries the warning.
DEFAULT_MODEL: Mapping[str, str] = MappingProxyType({"racemic": "herd", "esketamine": "perez-ruixo-2021"})


def get_model(name: str) -> PKModel:
    """Return the registered model called `name`.

    Parameters
    ----------
    name : str
        Registry key, case-insensitive (see :data:`MODELS`).

    Raises
    ------
    ValueError
        If no such model exists; the message lists the valid names.

    Examples
    --------
    >>> get_model("domino").n_compartments
    3
    >>> get_model("nope")
    Traceback (most recent call last):
    ...
    ValueError: model: unknown model 'nope'; valid names: domino, clements250, hijazi, herd, perez-ruixo-2021
    """
    model = MODELS.get(name.strip().lower())
    if model is None:
        raise ValueError(f"model: unknown model {name!r}; valid names: {', '.join(MODELS)}")
    return model


#: Perez-Ruixo 2021: hepatic blood flow falls by this much per year of age above 60 (L/h/y).
QH_AGE_SLOPE_L_PER_H_PER_Y = Param(2.19, "L/h per year above 60", "estimated", _PR_SRC)


def _hepatic_flow_l_per_h(typical_l_per_h: float, age_yr: float | None) -> float:
    """Perez-Ruixo's hepatic flow for an age (never below a tenth of the typical value).

    Examples
    --------
    >>> _hepatic_flow_l_per_h(151.0, 40.0), round(_hepatic_flow_l_per_h(151.0, 80.0), 1)
    (151.0, 107.2)
    """
    if age_yr is None or age_yr <= 60.0:
        return typical_l_per_h
    return max(typical_l_per_h - QH_AGE_SLOPE_L_PER_H_PER_Y.value * (age_yr - 60.0), 0.1 * typical_l_per_h)


def micro_to_clearances(
    v1_l: float, k10: float, k12: float, *, k13: float = 0.0, k21: float, k31: float = 0.0
) -> dict[str, float]:
    """Convert micro rate constants (1/min) to volumes (L) and clearances (L/min).

    Examples
    --------
    >>> p = micro_to_clearances(4.41, 0.4381, 0.5921, k13=0.590, k21=0.2470, k31=0.0146)
    >>> round(p["cl_l_per_min"], 2), round(p["v3_l"], 0)
    (1.93, 178.0)
    """
    return {
        "v1_l": v1_l,
        "v2_l": v1_l * k12 / k21 if k21 > 0 else 0.0,
        "v3_l": v1_l * k13 / k31 if k31 > 0 else 0.0,
        "cl_l_per_min": v1_l * k10,
        "q2_l_per_min": v1_l * k12,
        "q3_l_per_min": v1_l * k13,
    }


def typical_parameters(model: PKModel, weight_kg: float, age_yr: float | None) -> dict[str, float]:
    """Individual (typical, no IIV) parameters of `model` for a patient, in engine units.

    Parameters
    ----------
    model : PKModel
        The model.
    weight_kg : float
        Total body weight (kg), > 0.
    age_yr : float or None
        Age (years): Perez-Ruixo's hepatic flow falls 2.19 L/h per year above 60; None is
        treated as 60 or younger.

    Returns
    -------
    dict of str to float
        Mammillary: ``v1_l, v2_l, v3_l, cl_l_per_min, q2_l_per_min, q3_l_per_min``; hepatic:
        ``vc_l, vp1_l, vp2_l, q1_l_per_min, q2_l_per_min, qh_l_per_min, vh_l, kel_per_min,
        kmet_per_min, frn_first, frn_later_factor, ka_nasal_per_min, swallowed_duration_min,
        ka_swallowed_per_min, fgut, vcn_l, cln_l_per_min, vpn_l, q3_l_per_min``;
        both: ``ke0_per_min`` and, per absorption route,
        ``f_<route>`` and ``ka_<route>_per_min``.

    Examples
    --------
    >>> p = typical_parameters(get_model("herd"), 70.0, None)
    >>> round(p["cl_l_per_min"], 3)
    1.5
    """
    p = model.params
    out: dict[str, float]
    if model.name == "herd":
        size = weight_kg / 70.0
        out = {
            "v1_l": p["v1_l_per_70kg"].value * size,
            "v2_l": p["v2_l_per_70kg"].value * size,
            "v3_l": 0.0,
            "cl_l_per_min": per_h_to_per_min(p["cl_l_per_h_per_70kg"].value) * size**0.75,
            "q2_l_per_min": per_h_to_per_min(p["q_l_per_h_per_70kg"].value) * size**0.75,
            "q3_l_per_min": 0.0,
        }
    elif model.structure == "mammillary":
        out = micro_to_clearances(
            p["v1_l_per_kg"].value * weight_kg,
            p["k10_per_min"].value,
            p["k12_per_min"].value,
            k13=p["k13_per_min"].value if "k13_per_min" in p else 0.0,
            k21=p["k21_per_min"].value,
            k31=p["k31_per_min"].value if "k31_per_min" in p else 0.0,
        )
    else:
        out = {
            "vc_l": p["vc_l"].value,
            "vp1_l": p["vp1_l"].value,
            "vp2_l": p["vp2_l"].value,
            "q1_l_per_min": per_h_to_per_min(p["q1_l_per_h"].value),
            "q2_l_per_min": per_h_to_per_min(p["q2_l_per_h"].value),
            "qh_l_per_min": per_h_to_per_min(_hepatic_flow_l_per_h(p["qh_l_per_h"].value, age_yr)),
            "vh_l": p["vh_l"].value,
            "kel_per_min": per_h_to_per_min(p["kel_per_h"].value),
            "kmet_per_min": per_h_to_per_min(p["kmet_per_h"].value),
            "frn_first": p["frn_first_device"].value,
            "frn_later_factor": p["frn_later_device_factor"].value,
            "ka_nasal_per_min": per_h_to_per_min(p["ka_nasal_per_h"].value),
            "swallowed_duration_min": p["swallowed_duration_h"].value * 60.0,
            "ka_swallowed_per_min": per_h_to_per_min(p["ka_swallowed_per_h"].value),
            "fgut": p["fgut"].value,
            "vcn_l": p["vcn_l"].value,
            "cln_l_per_min": per_h_to_per_min(p["cln_l_per_h"].value),
            "vpn_l": p["vpn_l"].value,
            "q3_l_per_min": per_h_to_per_min(p["q3_l_per_h"].value),
        }
    out["ke0_per_min"] = model.ke0_per_min.value
    for route, absorption in model.routes.items():
        if absorption is not None:
            out[f"f_{route}"] = absorption.bioavailability.value
            out[f"ka_{route}_per_min"] = absorption.ka_per_min.value
    return out
