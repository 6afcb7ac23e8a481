"""Write docs/validation.md: the engine's predictions against published measured values.

Run from the repository root::

    .venv/bin/python scripts/validate_pkpd.py            # rewrites docs/validation.md
    .venv/bin/python scripts/validate_pkpd.py --check    # exit 1 if the file is out of date

Every published number comes from the project's research notes (``reference/pkpd.md``, sections
2-4), with the source the notes give. Each is compared with what every registered model that
applies predicts for the same regimen, with the error shown as it is: no parameter is adjusted to
fit. Values that no registered model and regimen can reproduce are listed with the reason.

The output is deterministic (no dates; the only thing that names a version is the engine's), so a
test can assert that the committed document is up to date.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ketaclinic.pkpd import MODELS, Patient, get_model, simulate  # noqa: E402
from ketaclinic.pkpd.simulate import SimulationResult  # noqa: E402

OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "validation.md"
ADULT = Patient(weight_kg=70.0, age_yr=40.0, sex="male", height_cm=175.0)
RACEMIC = tuple(name for name, m in MODELS.items() if m.drug == "racemic")
ESKETAMINE = tuple(name for name, m in MODELS.items() if m.drug == "esketamine")
UMOL_TO_NG_PER_ML = 237.7  # ketamine base, ng/mL per umol/L (reference notes)


@dataclass(frozen=True)
class Published:
    """A published value: a point, a range, or a mean with SD; and where it was read."""

    what: str
    source: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    unit: str = "ng/mL"

    def text(self) -> str:
        if self.low is not None and self.high is not None:
            point = f"{fmt(self.value)}, " if self.value is not None else ""
            return f"{point}{fmt(self.low)}-{fmt(self.high)} {self.unit}"
        return f"{fmt(self.value)} {self.unit}"

    def centre(self) -> float:
        if self.value is not None:
            return self.value
        if self.low is None or self.high is None:
            raise ValueError(f"{self.what}: needs a value or a range")
        return (self.low + self.high) / 2.0


@dataclass(frozen=True)
class Check:
    """One published value and how to predict it with a model."""

    published: Published
    regimen: str
    quantity: str  # what is compared, in words
    models: tuple[str, ...]
    predict: Callable[[str], float]
    note: str = ""


@dataclass(frozen=True)
class Row:
    check: Check
    model: str
    predicted: float


def fmt(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    digits = 3
    magnitude = math.floor(math.log10(abs(x)))
    return f"{x:.{max(0, digits - 1 - magnitude)}f}"


def run(regimen: str, model: str, until_min: float, step_min: float = 0.1) -> SimulationResult:
    """Simulate on a grid of `step_min`, refined to 0.01 min over the first 30 min.

    The fine start keeps the trapezoid AUC exact to well under 1% for the fastest model
    (Domino's distribution half-life is 0.4 min).
    """
    fine = np.arange(0.0, min(30.0, until_min), 0.01)
    coarse = np.arange(fine[-1] + step_min, until_min + step_min / 2, step_min)
    return simulate(regimen, ADULT, np.concatenate([fine, coarse]), model=model)


def plasma_at(regimen: str, t_min: float) -> Callable[[str], float]:
    def predict(model: str) -> float:
        res = run(regimen, model, t_min + 1.0)
        return float(np.interp(t_min, res.times_min, res.plasma_ng_per_ml))

    return predict


def cmax(regimen: str, until_min: float) -> Callable[[str], float]:
    return lambda model: run(regimen, model, until_min).summary.cmax_ng_per_ml


def tmax(regimen: str, until_min: float, after_min: float = 0.0) -> Callable[[str], float]:
    return lambda model: run(regimen, model, until_min).summary.tmax_min - after_min


def peak_effect_time(regimen: str, until_min: float) -> Callable[[str], float]:
    return lambda model: run(regimen, model, until_min).summary.peak_effect_time_min


def unnoticeable(regimen: str, until_min: float) -> Callable[[str], float]:
    def predict(model: str) -> float:
        value = run(regimen, model, until_min).summary.time_effect_unnoticeable_min
        return float("nan") if value is None else value / 60.0

    return predict


def bolus_20mg(model: str) -> str:
    return "iv esketamine 20 mg" if get_model(model).drug == "esketamine" else "iv 20 mg"


def terminal_half_life_h(model: str) -> float:
    """ln 2 over the log-linear slope of plasma 36-48 h after an IV bolus."""
    res = run(bolus_20mg(model), model, 48 * 60.0, step_min=1.0)
    t, c = res.times_min, res.plasma_ng_per_ml
    mask = t >= 36 * 60.0
    slope = np.polyfit(t[mask], np.log(c[mask]), 1)[0]
    return float(math.log(2.0) / -slope / 60.0)


def bioavailability_pct(dose_mg: int) -> Callable[[str], float]:
    """AUC(nasal) / AUC(IV over 40 min) over 96 h, same dose, in percent."""

    def predict(model: str) -> float:
        nasal = run(f"nasal esketamine {dose_mg} mg", model, 96 * 60.0, step_min=1.0)
        iv = run(f"iv esketamine {dose_mg} mg over 40 min", model, 96 * 60.0, step_min=1.0)
        return 100.0 * nasal.summary.auc_ng_h_per_ml / iv.summary.auc_ng_h_per_ml

    return predict


def clearance_l_per_h(model: str) -> float:
    """Dose / AUC(0-inf) after an IV bolus (AUC over 96 h plus the terminal tail)."""
    res = run(bolus_20mg(model), model, 96 * 60.0, step_min=1.0)
    t, c = res.times_min, res.plasma_ng_per_ml
    mask = t >= 72 * 60.0
    k = -np.polyfit(t[mask], np.log(c[mask]), 1)[0]
    auc_ng_min_per_ml = res.summary.auc_ng_h_per_ml * 60.0 + c[-1] / k
    return float(20.0 * 1e6 / auc_ng_min_per_ml * 60.0 / 1000.0)  # mg / (ng min/mL) -> L/h


def steady_state_volume_l(model: str) -> float:
    """Vss = CL x MRT from a bolus (moments over 96 h plus tails)."""
    res = run(bolus_20mg(model), model, 96 * 60.0, step_min=1.0)
    t, c = res.times_min, res.plasma_ng_per_ml
    mask = t >= 72 * 60.0
    k = -np.polyfit(t[mask], np.log(c[mask]), 1)[0]
    auc = np.trapezoid(c, t) + c[-1] / k
    aumc = np.trapezoid(c * t, t) + c[-1] * t[-1] / k + c[-1] / k**2
    cl_ml_per_min = 20.0 * 1e6 / auc
    return float(cl_ml_per_min * aumc / auc / 1000.0)


CHECKS: tuple[Check, ...] = (
    Check(
        Published(
            "end-of-infusion plasma, 0.5 mg/kg over 40 min (depression)",
            "Zarate 2006 via PMC6020109 Table 1 (no SD given)",
            value=185.0,
        ),
        "iv 0.5 mg/kg over 40 min",
        "plasma at 40 min",
        RACEMIC,
        plasma_at("iv 0.5 mg/kg over 40 min", 40.0),
    ),
    Check(
        Published(
            "dissociation range, 0.5 mg/kg over 40 min",
            "Krystal 1994 via PMC6020109 Table 1",
            low=100.0,
            high=250.0,
        ),
        "iv 0.5 mg/kg over 40 min",
        "plasma at 40 min",
        RACEMIC,
        plasma_at("iv 0.5 mg/kg over 40 min", 40.0),
    ),
    Check(
        Published(
            "Cmax after 10 mg racemic IV (short), Tmax 2 min", "PMC9118341 Table 6 (GSD 1.71)", value=296.0
        ),
        "bolus 10 mg",
        "plasma at 2 min (infusion time not given: simulated as a bolus)",
        RACEMIC,
        plasma_at("bolus 10 mg", 2.0),
    ),
    Check(
        Published(
            "S-ketamine peak, 20 mg IV over 20 min (arterial), occasion 1",
            "Simons thesis p. 21 / Front Pain Res 2022 (95% CI)",
            value=273.0,
            low=259.0,
            high=287.0,
        ),
        "iv esketamine 20 mg over 20 min",
        "peak plasma (venous model vs arterial samples)",
        ESKETAMINE,
        cmax("iv esketamine 20 mg over 20 min", 120.0),
    ),
    Check(
        Published(
            "S-ketamine peak, 20 mg IV over 20 min (arterial), occasion 2",
            "Simons thesis p. 21 / Front Pain Res 2022 (95% CI)",
            value=260.0,
            low=251.0,
            high=269.0,
        ),
        "iv esketamine 20 mg over 20 min",
        "peak plasma (venous model vs arterial samples)",
        ESKETAMINE,
        cmax("iv esketamine 20 mg over 20 min", 120.0),
    ),
    Check(
        Published(
            "analgesia, 0.15 mg/kg IV",
            "PMC6020109 Table 1 (administration and sampling times not given)",
            low=70.0,
            high=160.0,
        ),
        "bolus 0.15 mg/kg",
        "plasma at 10 min (sampling time ASSUMED)",
        RACEMIC,
        plasma_at("bolus 0.15 mg/kg", 10.0),
    ),
    Check(
        Published(
            "anaesthesia, 1 mg/kg IV (low end of 1-2 mg/kg)",
            "PMC6020109 Table 1 (sampling time not given)",
            low=1200.0,
            high=2400.0,
        ),
        "bolus 1 mg/kg",
        "plasma at 5 min (sampling time ASSUMED)",
        RACEMIC,
        plasma_at("bolus 1 mg/kg", 5.0),
    ),
    Check(
        Published(
            "anaesthesia, 2 mg/kg IV (high end of 1-2 mg/kg)",
            "PMC6020109 Table 1 (sampling time not given)",
            low=1200.0,
            high=2400.0,
        ),
        "bolus 2 mg/kg",
        "plasma at 5 min (sampling time ASSUMED)",
        RACEMIC,
        plasma_at("bolus 2 mg/kg", 5.0),
    ),
    Check(
        Published(
            "maintenance: 2 mg/kg then 41 ug/kg/min, steady state 9.3 +/- 0.8 umol/L",
            "Idvall 1979, BJA 51:1167 (abstract)",
            value=9.3 * UMOL_TO_NG_PER_ML,
            low=8.5 * UMOL_TO_NG_PER_ML,
            high=10.1 * UMOL_TO_NG_PER_ML,
        ),
        "bolus 2 mg/kg; iv 0.041 mg/kg/min for 60 min",
        "plasma at 60 min (duration of maintenance ASSUMED 60 min)",
        RACEMIC,
        plasma_at("bolus 2 mg/kg; iv 0.041 mg/kg/min for 60 min", 60.0),
    ),
    Check(
        Published(
            "ICU analgosedation 1.1-1.3 mg/kg/h for 3 days (1.2 +/- 0.3 ug/mL)",
            "Eur J Drug Metab Pharmacokinet abstract; authors unconfirmed",
            value=1200.0,
            low=900.0,
            high=1500.0,
        ),
        "iv 1.2 mg/kg/h for 72 h",
        "plasma at 72 h",
        RACEMIC,
        plasma_at("iv 1.2 mg/kg/h for 72 h", 72 * 60.0),
    ),
    Check(
        Published(
            "oral 0.5 mg/kg (45 +/- 10)",
            "PMC6020109 Table 1 (sampling time not given)",
            value=45.0,
            low=35.0,
            high=55.0,
        ),
        "oral 0.5 mg/kg",
        "peak plasma",
        RACEMIC,
        cmax("oral 0.5 mg/kg", 360.0),
    ),
    Check(
        Published(
            "intranasal racemic 30 mg, Tmax (geometric mean)", "PMC9118341 Table 6", value=14.0, unit="min"
        ),
        "nasal ketamine 30 mg",
        "time of peak plasma",
        RACEMIC,
        tmax("nasal ketamine 30 mg", 240.0),
    ),
    Check(
        Published(
            "IM racemic, Tmax", "secondary sources (Clements 1982 not read)", low=5.0, high=15.0, unit="min"
        ),
        "im 35 mg",
        "time of peak plasma",
        RACEMIC,
        tmax("im 35 mg", 240.0),
    ),
    Check(
        Published("oral racemic, Tmax", "secondary sources", value=30.0, unit="min"),
        "oral 0.5 mg/kg",
        "time of peak plasma",
        RACEMIC,
        tmax("oral 0.5 mg/kg", 360.0),
    ),
    Check(
        Published(
            "sublingual 25 mg wafer, Tmax median (range)",
            "Rolan 2014 (PMC4093926)",
            value=45.0,
            low=15.0,
            high=60.0,
            unit="min",
        ),
        "sublingual 25 mg",
        "time of peak plasma",
        RACEMIC,
        tmax("sublingual 25 mg", 360.0),
    ),
    Check(
        Published(
            "esketamine 56 mg nasal, Tmax after the last spray",
            "Spravato label (via monographs)",
            low=20.0,
            high=40.0,
            unit="min",
        ),
        "nasal esketamine 56 mg",
        "time of peak plasma minus 5 min (2nd device)",
        ESKETAMINE,
        tmax("nasal esketamine 56 mg", 360.0, after_min=5.0),
    ),
    Check(
        Published(
            "esketamine 84 mg nasal, Tmax after the last spray",
            "Spravato label (via monographs)",
            low=20.0,
            high=40.0,
            unit="min",
        ),
        "nasal esketamine 84 mg",
        "time of peak plasma minus 10 min (3rd device)",
        ESKETAMINE,
        tmax("nasal esketamine 84 mg", 360.0, after_min=10.0),
    ),
    Check(
        Published(
            "esketamine 56 mg nasal, absolute bioavailability",
            "Perez-Ruixo 2021 abstract",
            value=54.0,
            unit="%",
        ),
        "nasal esketamine 56 mg vs iv esketamine 56 mg over 40 min",
        "AUC ratio over 96 h",
        ESKETAMINE,
        bioavailability_pct(56),
    ),
    Check(
        Published(
            "esketamine 84 mg nasal, absolute bioavailability",
            "Perez-Ruixo 2021 abstract",
            value=51.0,
            unit="%",
        ),
        "nasal esketamine 84 mg vs iv esketamine 84 mg over 40 min",
        "AUC ratio over 96 h",
        ESKETAMINE,
        bioavailability_pct(84),
    ),
    Check(
        Published(
            "esketamine nasal, dissociation (CADSS) peak",
            "J&J Medical Connect; Spravato label 5.2",
            value=40.0,
            unit="min",
        ),
        "nasal esketamine 84 mg",
        "time of peak predicted drug high",
        ESKETAMINE,
        peak_effect_time("nasal esketamine 84 mg", 360.0),
    ),
    Check(
        Published(
            "esketamine nasal, dissociation generally resolved by",
            "J&J Medical Connect; Spravato label 5.2",
            value=1.5,
            unit="h",
        ),
        "nasal esketamine 84 mg",
        "predicted time until not noticeable",
        ESKETAMINE,
        unnoticeable("nasal esketamine 84 mg", 600.0),
    ),
    Check(
        Published(
            "terminal half-life in ICU patients (4.9 +/- 1.6 h)",
            "Hijazi 2003 abstract",
            value=4.9,
            low=3.3,
            high=6.5,
            unit="h",
        ),
        "iv 20 mg",
        "log-linear slope 36-48 h",
        ("hijazi",),
        terminal_half_life_h,
    ),
    Check(
        Published(
            "elimination half-life (Clements), t1/2 beta",
            "mitotox.org (DrugBank-derived), secondary",
            value=186.0 / 60.0,
            unit="h",
        ),
        "iv 20 mg",
        "log-linear slope 36-48 h",
        ("clements250",),
        terminal_half_life_h,
    ),
    Check(
        Published(
            "elimination half-life, racemic ketamine (label)",
            "Ketalar label via droracle.ai, secondary",
            value=2.5,
            unit="h",
        ),
        "iv 20 mg",
        "log-linear slope 36-48 h",
        RACEMIC,
        terminal_half_life_h,
    ),
    Check(
        Published(
            "elimination half-life, esketamine (label)", "Spravato label", low=7.0, high=12.0, unit="h"
        ),
        "iv esketamine 20 mg",
        "log-linear slope 36-48 h",
        ESKETAMINE,
        terminal_half_life_h,
    ),
    Check(
        Published(
            "clearance, racemic, weighted mean of 18 studies (95% CI)",
            "Kamp 2020, Anesthesiology 133:1192 abstract",
            value=79.0,
            low=69.0,
            high=90.0,
            unit="L/h",
        ),
        "iv 20 mg",
        "dose / AUC(0-inf)",
        RACEMIC,
        clearance_l_per_h,
    ),
    Check(
        Published(
            "volume of distribution, racemic, weighted mean (95% CI)",
            "Kamp 2020 abstract",
            value=252.0,
            low=200.0,
            high=304.0,
            unit="L",
        ),
        "iv 20 mg",
        "Vss = CL x MRT",
        RACEMIC,
        steady_state_volume_l,
    ),
    Check(
        Published(
            "esketamine clearance", "Perez-Ruixo 2021 abstract (label: about 89 L/h)", value=114.0, unit="L/h"
        ),
        "iv esketamine 20 mg",
        "dose / AUC(0-inf)",
        ESKETAMINE,
        clearance_l_per_h,
    ),
    Check(
        Published("esketamine Vss", "Perez-Ruixo 2021 abstract (label: 709 L)", value=752.0, unit="L"),
        "iv esketamine 20 mg",
        "Vss = CL x MRT",
        ESKETAMINE,
        steady_state_volume_l,
    ),
)

NOT_REPRODUCED: tuple[tuple[str, str], ...] = (
    (
        "S-ketamine TCI target 150 ng/mL measured 159 +/- 21; anaesthetic target 1500-2000 measured "
        "1959 +/- 442 (Anesthesiology 2005;103:258)",
        "target-controlled infusion is not a regimen the engine simulates, and the infusion rates "
        "actually given are not in the notes",
    ),
    (
        "Idvall 1979: recovery at 2.7 +/- 0.9 umol/L (about 640 ng/mL); norketamine max 4.7 umol/L",
        "recovery time not given; the engine does not simulate norketamine",
    ),
    (
        "0.3 mg/kg bolus (psychosis model): 120 ng/mL (PMC6020109)",
        "sampling time not given; a bolus concentration changes several-fold in the first minutes",
    ),
    (
        "Weber 2004, children, 2 mg/kg intranasal S-ketamine: Cmax 355 +/- 172 ng/mL, Tmax 18 min; "
        "IV 1860 +/- 883 ng/mL",
        "no registered paediatric S-ketamine model; the esketamine nasal model is for 28 mg adult devices",
    ),
    (
        "Intranasal racemic 10/30/50 mg: F 17/13/11% (PMC9118341); Yanagihara 2003 about 45%",
        "bioavailability is an input of the racemic nasal route (13%, from the same table), not a prediction",
    ),
    (
        "IM 93%, oral 17-20%, sublingual 29%, S-ketamine oral 8%, thin film 26%, inhaled 70%",
        "bioavailabilities are inputs of the route models, not predictions; S-ketamine oral, "
        "sublingual and inhaled routes are not registered",
    ),
    (
        "Bowdle 1998: psychedelic VAS 37-89% of maximum at 200 ng/mL; Simons 2022 drug-high C50 71 ng/mL",
        "these define the engine's effect relations, so they cannot test them",
    ),
    (
        "Zarate 2012, Farmer 2020, Su 2017/Chen 2020: concentrations after 0.5 mg/kg over 40 min",
        "the values were not obtained (abstracts only)",
    ),
    (
        "Henthorn 2018: total PK flow 7.59 L/min; S clearance 1.23 L/min",
        "arterial/venous recirculation model not registered",
    ),
    (
        "Recreational and forensic concentrations (Lucuta 2024, Andresen-Streichert 2022, Arango 2021)",
        "doses and times of use unknown",
    ),
    (
        "Ketalar label: IM 9-13 mg/kg gives anaesthesia in 3-4 min for 12-25 min; 2 mg/kg IV gives "
        "5-10 min of anaesthesia",
        "durations of clinical anaesthesia depend on the anaesthetic zone bound, an ASSUMED choice; "
        "not used as a test",
    ),
)


def error_text(pub: Published, predicted: float) -> tuple[str, str]:
    """Percent error against the point value (or the range's middle) and within-range."""
    if not math.isfinite(predicted):
        return "-", "no"
    pct = 100.0 * (predicted - pub.centre()) / pub.centre()
    if pub.low is not None and pub.high is not None:
        within = "yes" if pub.low <= predicted <= pub.high else "no"
    else:
        within = "n/a (point value)"
    return f"{pct:+.0f}%", within


def engine_version() -> str:
    try:
        return importlib.metadata.version("ketaclinic")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def render(rows: Sequence[Row]) -> str:
    lines = [
        "# Validation: predicted versus published values",
        "",
        "Generated by `scripts/validate_pkpd.py` (do not edit by hand; a test checks that this "
        f"file is up to date). Engine version {engine_version()}.",
        "",
        "Each published value comes from the project's research notes (`reference/pkpd.md`, "
        "sections 2-4) with the source they give. Every registered model that applies predicts it "
        "for a 70 kg, 40-year-old adult with its published typical parameters, unchanged: no "
        "parameter was adjusted to fit. *Error* is against the point value (or the middle of a "
        "range); *within* says whether the prediction falls inside the published range or "
        "interval. The sampling site matters: arterial concentrations run higher than venous ones "
        "early after a dose.",
        "",
        "| published | value | model (sampling site) | regimen | compared | predicted | error | within |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pub = r.check.published
        err, within = error_text(pub, r.predicted)
        site = get_model(r.model).sampling_site
        lines.append(
            f"| {pub.what} ({pub.source}) | {pub.text()} | {r.model} ({site}) | "
            f"`{r.check.regimen}` | {r.check.quantity} | {fmt(r.predicted)} {pub.unit} | {err} "
            f"| {within} |"
        )
    n_in = sum(1 for r in rows if error_text(r.check.published, r.predicted)[1] == "yes")
    n_range = sum(1 for r in rows if r.check.published.low is not None)
    lines += [
        "",
        f"{len(rows)} comparisons; {n_in} of the {n_range} with a published range or interval "
        "fall inside it.",
        "",
        "## Published values that could not be reproduced",
        "",
        "| published | why not |",
        "|---|---|",
    ]
    lines += [f"| {what} | {why} |" for what, why in NOT_REPRODUCED]
    lines += [
        "",
        "## Reading this table",
        "",
        "- Several models are applied outside the population they were estimated in (for example "
        "Herd 2007, estimated in children, for a 70 kg adult; Hijazi 2003, in ICU patients); their "
        "simulations carry a warning, and the rows are kept to show the spread between published "
        "models.",
        "- Where the source gives no sampling or infusion time, the time used is written in the "
        "*compared* column as ASSUMED.",
        "- Secondary sources are marked as such in the notes; a disagreement may come from the "
        "published value as much as from the model.",
        "",
    ]
    return "\n".join(lines)


def build() -> str:
    rows = [Row(c, m, c.predict(m)) for c in CHECKS for m in c.models]
    return render(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is outdated")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = build()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run scripts/validate_pkpd.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
