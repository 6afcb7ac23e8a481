"""Eligibility rules: an intake's facts in, findings out. Pure; no Django, no database.

``evaluate(facts, thresholds)`` runs every rule of ``RULES`` and returns findings, most severe first.
A finding is one of:

- ``absolute``: absolute contraindication. A prescriber may not sign "eligible" over it.
- ``review``: needs the prescriber's review and a written reason.
- ``interaction``: an interaction warning; also needs a reason.
- ``note``: for information.

Every rule cites reference/clinical.md and its source tags. Numeric thresholds live in
``Thresholds``; each default carries its source, and a default the reference marks unconfirmed is
flagged so on the finding. Clinics override them through Django settings named
``ELIGIBILITY_<FIELD>`` (see ``thresholds_from``).

>>> facts = Facts(systolic_mmhg=150, diastolic_mmhg=85)
>>> [f.code for f in evaluate(facts)]
['bp_elevated']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ketaclinic.patients import formulary as fx
from ketaclinic.pkpd import interactions

# Bump when a rule or a default threshold changes; stored on every signed screening.
RULES_VERSION = "2025.1"

ABSOLUTE = "absolute"
REVIEW = "review"
INTERACTION = "interaction"
NOTE = "note"
SEVERITIES = (ABSOLUTE, REVIEW, INTERACTION, NOTE)
SEVERITY_LABELS = {
    ABSOLUTE: "Absolute contraindication",
    REVIEW: "Needs prescriber review",
    INTERACTION: "Interaction warning",
    NOTE: "Note",
}
# Findings of these severities each need the prescriber's written reason when signing.
NEEDS_REASON = frozenset({ABSOLUTE, REVIEW, INTERACTION})


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    title: str
    explanation: str
    source: str
    unconfirmed: bool = False

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity: must be one of {SEVERITIES}, got {self.severity!r}")

    @property
    def needs_reason(self) -> bool:
        return self.severity in NEEDS_REASON

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS[self.severity]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Medication:
    name: str
    recognised: bool
    generic: str = ""
    classes: tuple[str, ...] = ()
    daily_dose_mg: float | None = None
    diazepam_eq_mg: float | None = None


@dataclass(frozen=True)
class Facts:
    """What the rules look at, as plain values (built from an intake and its patient in clinical.py)."""

    age_years: int | None = None
    sex: str = "unknown"
    pregnancy_status: str = "unknown"
    history: frozenset[str] = frozenset()
    hepatic_grade: str = ""  # Child-Pugh class A, B or C when hepatic impairment is present
    medications: tuple[Medication, ...] = ()
    dast10_score: int | None = None
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None
    heart_rate_bpm: int | None = None


@dataclass(frozen=True)
class Thresholds:
    """Configurable limits; each default names its source."""

    # "Consider delaying therapy if >140/90 mmHg": Spravato monograph, clinical.md §2.2 [S30].
    bp_review_systolic_mmhg: int = 140
    bp_review_diastolic_mmhg: int = 90
    # Swiss ketamine label: uncontrolled hypertension = resting BP >180/100, clinical.md §1.4 [S19].
    bp_absolute_systolic_mmhg: int = 180
    bp_absolute_diastolic_mmhg: int = 100
    # HR >110: a hold threshold attributed to Sanacora 2017; unconfirmed, clinical.md §1.1 [S3].
    heart_rate_review_bpm: int = 110
    # >8 mg diazepam-equivalent/day separated non-responders, Czech study, clinical.md §6 [S79].
    benzodiazepine_diazepam_eq_mg: float = 8.0
    # DAST-10 "moderate" band starts at 3, clinical.md §4 [S76][S77].
    dast10_review_score: int = 3
    # Start at 28 mg from 65 in the Hong Kong label; unconfirmed for the US, clinical.md §2.1 [S20].
    older_adult_age: int = 65
    adult_age: int = 18


def thresholds_from(config: Any) -> Thresholds:
    """Thresholds with any ``ELIGIBILITY_<FIELD>`` attribute of ``config`` (e.g. django settings) applied."""
    overrides = {}
    for f in fields(Thresholds):
        value = getattr(config, f"ELIGIBILITY_{f.name.upper()}", None)
        if value is not None:
            overrides[f.name] = type(getattr(Thresholds, f.name))(value)
    return Thresholds(**overrides)


Rule = Callable[[Facts, Thresholds], Iterable[Finding]]


def _names(meds: Iterable[Medication]) -> str:
    return ", ".join(m.name for m in meds)


def _with_class(facts: Facts, cls: str) -> list[Medication]:
    return [m for m in facts.medications if cls in m.classes]


# --- History rules -------------------------------------------------------------------------------

# (history code, severity, title, explanation, source)
HISTORY_RULES: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "aneurysmal_vascular_disease",
        ABSOLUTE,
        "Aneurysmal vascular disease",
        "Esketamine raises blood pressure; the label contraindicates it in aneurysmal vascular disease "
        "of the aorta, intracranial or peripheral arteries.",
        "clinical.md §2.5 Spravato label [S37][S38][S30]",
    ),
    (
        "arteriovenous_malformation",
        ABSOLUTE,
        "Arteriovenous malformation",
        "Contraindicated by the Spravato label: a rise in blood pressure risks rupture.",
        "clinical.md §2.5 Spravato label [S37][S38][S30]",
    ),
    (
        "intracerebral_haemorrhage",
        ABSOLUTE,
        "History of intracerebral haemorrhage",
        "Contraindicated by the Spravato label.",
        "clinical.md §2.5 Spravato label [S37][S38][S30]",
    ),
    (
        "hypersensitivity",
        ABSOLUTE,
        "Hypersensitivity to ketamine or esketamine",
        "Known hypersensitivity to ketamine, esketamine or an excipient is a contraindication.",
        "clinical.md §2.5 [S37]; §6 Ketalar [S106]",
    ),
    (
        "uncontrolled_hypertension",
        ABSOLUTE,
        "Uncontrolled hypertension",
        "Ketamine is contraindicated where a rise in blood pressure would be a serious hazard.",
        "clinical.md §6 Ketalar [S106]; §1.4 Swiss label [S19]",
    ),
    (
        "prior_stroke",
        ABSOLUTE,
        "Prior stroke",
        "Listed by the Ketalar labels among conditions where a blood-pressure rise is a serious hazard.",
        "clinical.md §6 [S106][S107]",
    ),
    (
        "thyrotoxicosis",
        ABSOLUTE,
        "Thyrotoxicosis",
        "Listed by the Ketalar label among conditions where a blood-pressure rise is a serious hazard.",
        "clinical.md §6 [S106]",
    ),
    (
        "eclampsia",
        ABSOLUTE,
        "Eclampsia or pre-eclampsia",
        "Contraindicated by the UK ketamine label.",
        "clinical.md §6 UK label [S107]",
    ),
    (
        "severe_cardiac_disease",
        ABSOLUTE,
        "Severe coronary or myocardial disease",
        "Contraindicated by the UK ketamine label.",
        "clinical.md §6 UK label [S107]",
    ),
    (
        "cerebral_trauma",
        REVIEW,
        "Head injury or cerebral trauma",
        "The UK ketamine label lists cerebral trauma among its contraindications; judge how recent and "
        "how severe it was.",
        "clinical.md §6 UK label [S107]",
    ),
    (
        "raised_icp",
        REVIEW,
        "Raised intracranial pressure",
        "Use caution; do not give if a rise in intracranial pressure poses a serious risk.",
        "clinical.md §6 [S106]; §2.2 [S31]",
    ),
    (
        "raised_iop",
        REVIEW,
        "Raised intraocular pressure",
        "Ketamine may raise intraocular pressure; use caution.",
        "clinical.md §6 [S106]",
    ),
    (
        "psychosis",
        REVIEW,
        "History of psychosis",
        "Treat only if the benefit outweighs the risk of worsening psychosis; ELEKT-D enrolled only "
        "non-psychotic patients.",
        "clinical.md §2.5 [S28]; §6 [S5]",
    ),
    (
        "mania_bipolar",
        REVIEW,
        "Mania or bipolar disorder",
        "Mania was among the reasons for stopping treatment in a large provider survey; assess mood "
        "stability first. Screening rule is a local choice.",
        "clinical.md §7.2 [S117]",
    ),
    (
        "substance_use_disorder",
        REVIEW,
        "Substance use disorder",
        "Ketamine can be misused: careful consideration and monitoring for abuse.",
        "clinical.md §2.5; §6 [S39]",
    ),
    (
        "cognitive_impairment",
        REVIEW,
        "Cognitive impairment",
        "A label warning: consider how dissociation and sedation will be tolerated and how consent is given.",
        "clinical.md §2.5 [S37][S38]",
    ),
    (
        "lower_urinary_tract",
        REVIEW,
        "Interstitial cystitis or lower urinary tract symptoms",
        "Urinary symptoms were more frequent with esketamine and cystitis occurs with chronic ketamine "
        "use; monitor for them. Excluding these patients is a local choice.",
        "clinical.md §2.5 [S38]; §6 [S108]",
    ),
    (
        "hypertensive_encephalopathy",
        REVIEW,
        "History of hypertensive encephalopathy",
        "Monitor blood pressure more frequently.",
        "clinical.md §2.2 [S30]",
    ),
    (
        "cardiac_disease",
        REVIEW,
        "Cardiac disease",
        "Ketamine raises blood pressure and heart rate; weigh the cardiac risk.",
        "clinical.md §6 [S106]",
    ),
    (
        "seizure_disorder",
        REVIEW,
        "Seizure disorder",
        "Check for drugs that lower the seizure threshold (theophylline/aminophylline). "
        "Screening rule is a local choice.",
        "clinical.md §6 [S103][S105]",
    ),
    (
        "respiratory_disease",
        REVIEW,
        "Respiratory disease or sleep apnoea",
        "Respiratory depression is a REMS risk; plan pulse oximetry and airway support.",
        "clinical.md §2.3 REMS [S33]",
    ),
    (
        "hypertension",
        NOTE,
        "Treated hypertension",
        "A history of hypertension was associated with blood-pressure surges during infusions; "
        "check pre-dose BP carefully.",
        "clinical.md §1.4 Yale series [S16]",
    ),
)
UNCONFIRMED_HISTORY = frozenset({"mania_bipolar", "seizure_disorder", "lower_urinary_tract"})


def history_rule(facts: Facts, t: Thresholds) -> Iterator[Finding]:
    for code, severity, title, explanation, source in HISTORY_RULES:
        if code in facts.history:
            yield Finding(code, severity, title, explanation, source, code in UNCONFIRMED_HISTORY)


def hepatic_rule(facts: Facts, t: Thresholds) -> Iterator[Finding]:
    if "hepatic_impairment" not in facts.history:
        return
    source = "clinical.md §2.5; §6 [S39][S106]"
    grade = facts.hepatic_grade.upper()
    if grade == "C":
        yield Finding(
            "hepatic_child_pugh_c",
            ABSOLUTE,
            "Severe hepatic impairment (Child-Pugh C)",
            "Esketamine is not recommended in Child-Pugh C.",
            source,
        )
    elif grade == "B":
        yield Finding(
            "hepatic_child_pugh_b",
            REVIEW,
            "Moderate hepatic impairment (Child-Pugh B)",
            "Monitor longer after each dose; check liver function at baseline and periodically.",
            source,
        )
    elif grade == "A":
        yield Finding(
            "hepatic_child_pugh_a",
            NOTE,
            "Mild hepatic impairment (Child-Pugh A)",
            "Check liver function (including ALP and GGT) at baseline and periodically with repeated dosing.",
            source,
        )
    else:
        yield Finding(
            "hepatic_grade_unknown",
            REVIEW,
            "Hepatic impairment, Child-Pugh class not given",
            "Child-Pugh C makes esketamine not recommended; establish the class.",
            source,
        )


# --- Patient record rules ------------------------------------------------------------------------


def pregnancy_rule(facts: Facts, t: Thresholds) -> Iterator[Finding]:
    source = "clinical.md §2.5; §6 [S38][S30]"
    if facts.pregnancy_status == "pregnant":
        yield Finding(
            "pregnancy",
            REVIEW,
            "Pregnant",
            "Not recommended in pregnancy (embryo-fetal toxicity).",
            source,
        )
    elif facts.pregnancy_status == "breastfeeding":
        yield Finding(
            "breastfeeding",
            REVIEW,
            "Breastfeeding",
            "Not recommended while breastfeeding.",
            source,
        )
    elif (
        facts.pregnancy_status == "unknown"
        and facts.sex in ("female", "intersex")
        and facts.age_years is not None
        and 12 <= facts.age_years <= 55
    ):
        yield Finding(
            "pregnancy_status_unknown",
            NOTE,
            "Pregnancy status not recorded",
            "Record the pregnancy status on the patient's registration.",
            source,
        )


def age_rule(facts: Facts, t: Thresholds) -> Iterator[Finding]:
    if facts.age_years is None:
        return
    if facts.age_years < t.adult_age:
        yield Finding(
            "age_under_adult",
            REVIEW,
            f"Under {t.adult_age}",
            "Esketamine dosing is labelled for adults.",
            "clinical.md §2.1 [S20][S21][S22]",
        )
    elif facts.age_years >= t.older_adult_age:
        yield Finding(
            "age_older_adult",
            NOTE,
            f"Aged {t.older_adult_age} or over",
            "The Hong Kong label starts esketamine at 28 mg from 65; older age was also associated with "
            "blood-pressure surges (Yale series).",
            "clinical.md §2.1 [S20] (unconfirmed for the US label); §1.4 [S16]",
            unconfirmed=True,
        )


# --- Vital signs ---------------------------------------------------------------------------------


def blood_pressure_rule(facts: Facts, t: Thresholds) -> Iterator[Finding]:
    sys_, dia = facts.systolic_mmhg, facts.diastolic_mmhg
    if sys_ is None or dia is None:
        yield Finding(
            "bp_not_recorded",
            NOTE,
            "Baseline blood pressure not recorded",
            "Measure a baseline blood pressure before treatment.",
            "clinical.md §1.1 [S3]; §2.2 [S23]",
        )
        return
    if sys_ > t.bp_absolute_systolic_mmhg or dia > t.bp_absolute_diastolic_mmhg:
        yield Finding(
            "bp_uncontrolled",
            ABSOLUTE,
            f"Baseline BP {sys_}/{dia} mmHg: uncontrolled hypertension",
            f"Resting BP above {t.bp_absolute_systolic_mmhg}/{t.bp_absolute_diastolic_mmhg} mmHg is "
            "uncontrolled hypertension, a contraindication in the Swiss ketamine label. "
            "Treat and re-measure.",
            "clinical.md §1.4 Swiss label [S19]",
        )
    elif sys_ > t.bp_review_systolic_mmhg or dia > t.bp_review_diastolic_mmhg:
        yield Finding(
            "bp_elevated",
            REVIEW,
            f"Baseline BP {sys_}/{dia} mmHg",
            f"Above {t.bp_review_systolic_mmhg}/{t.bp_review_diastolic_mmhg} mmHg: consider delaying "
            "therapy and weigh risk against benefit.",
            "clinical.md §2.2 [S30][S31]",
        )


def heart_rate_rule(facts: Facts, t: Thresholds) -> Iterator[Finding]:
    hr = facts.heart_rate_bpm
    if hr is not None and hr > t.heart_rate_review_bpm:
        yield Finding(
            "heart_rate_high",
            REVIEW,
            f"Baseline heart rate {hr}/min",
            f"Above {t.heart_rate_review_bpm}/min; ketamine raises heart rate.",
            "clinical.md §1.1 [S3] (threshold unconfirmed; configurable)",
            unconfirmed=True,
        )


# --- Substance use -------------------------------------------------------------------------------


def dast_rule(facts: Facts, t: Thresholds) -> Iterator[Finding]:
    score = facts.dast10_score
    if score is None:
        return
    source = "clinical.md §4 DAST-10 [S76][S77]; §6 [S39]"
    if score >= t.dast10_review_score:
        yield Finding(
            "dast10_positive",
            REVIEW,
            f"DAST-10 score {score}",
            f"A score of {t.dast10_review_score} or more (moderate level or higher) suggests a drug use "
            "problem; ketamine needs careful consideration and monitoring for abuse.",
            source,
        )
    elif score >= 1:
        yield Finding(
            "dast10_low",
            NOTE,
            f"DAST-10 score {score} (low level)",
            "Low-level drug use reported; keep in mind.",
            source,
        )


# --- Medications ---------------------------------------------------------------------------------


def benzodiazepine_rule(facts: Facts, t: Thresholds) -> Iterator[Finding]:
    benzos = _with_class(facts, fx.BENZODIAZEPINE)
    if not benzos:
        return
    yield Finding(
        "benzodiazepine",
        INTERACTION,
        f"Benzodiazepine: {_names(benzos)}",
        "Benzodiazepines may blunt the response to ketamine and add to sedation.",
        "clinical.md §6 [S99][S101]",
    )
    unknown = [m for m in benzos if m.diazepam_eq_mg is None]
    total = sum(m.diazepam_eq_mg or 0.0 for m in benzos)
    if total > t.benzodiazepine_diazepam_eq_mg:
        yield Finding(
            "benzodiazepine_high_dose",
            INTERACTION,
            f"Benzodiazepines {total:g} mg diazepam-equivalent a day",
            f"More than {t.benzodiazepine_diazepam_eq_mg:g} mg/day diazepam-equivalent separated "
            "non-responders to ketamine in one study; consider a taper before treatment.",
            "clinical.md §6 Czech study [S79]; equivalents from the Ashton Manual (approximate)",
        )
    if unknown:
        yield Finding(
            "benzodiazepine_dose_unknown",
            INTERACTION,
            f"Benzodiazepine dose unknown: {_names(unknown)}",
            "Enter the daily dose in mg so the diazepam-equivalent dose can be checked against "
            f"{t.benzodiazepine_diazepam_eq_mg:g} mg/day.",
            "clinical.md §6 [S79]",
        )


# (class, code, title, explanation, source)
CLASS_RULES: tuple[tuple[str, str, str, str, str], ...] = (
    (
        fx.LAMOTRIGINE,
        "lamotrigine",
        "Lamotrigine",
        "Lamotrigine reduced ketamine's neuropsychiatric effects; its effect on the antidepressant "
        "response is unknown.",
        "clinical.md §6 Anand 2000 [S99][S102]",
    ),
    (
        fx.MAOI,
        "maoi",
        "MAOI",
        "MAOIs may raise blood pressure with esketamine; monitor BP closely.",
        "clinical.md §6 [S101]; REMS form §2.4 [S35]",
    ),
    (
        fx.STIMULANT,
        "stimulant",
        "Psychostimulant",
        "Psychostimulants may raise blood pressure with esketamine; monitor BP closely.",
        "clinical.md §6 [S101]; REMS form §2.4 [S35]",
    ),
    (
        fx.OPIOID,
        "opioid",
        "Opioid",
        "Additive CNS and respiratory depression; monitor sedation and pulse oximetry.",
        "clinical.md §6 [S104][S103]",
    ),
    (
        fx.THEOPHYLLINE,
        "theophylline",
        "Theophylline/aminophylline",
        "Lowers the seizure threshold together with ketamine.",
        "clinical.md §6 [S103][S105]",
    ),
    (
        fx.THYROID,
        "thyroid_hormone",
        "Thyroid hormone",
        "Hypertension and tachycardia with ketamine; monitor BP and heart rate.",
        "clinical.md §6 [S103]",
    ),
    (
        fx.CYP_INHIBITOR,
        "cyp_inhibitor",
        "CYP3A4/2B6 inhibitor",
        "Raises ketamine exposure; effects may be stronger or longer.",
        "clinical.md §6 [S99][S103]",
    ),
    (
        fx.CYP_INDUCER,
        "cyp_inducer",
        "CYP3A4/2B6 inducer",
        "Lowers ketamine exposure; the response may be weaker.",
        "clinical.md §6 [S99][S103]",
    ),
)


def medication_class_rule(facts: Facts, t: Thresholds) -> Iterator[Finding]:
    for cls, code, title, explanation, source in CLASS_RULES:
        meds = _with_class(facts, cls)
        if meds:
            text = (
                _measured_change(meds, explanation)
                if cls in (fx.CYP_INHIBITOR, fx.CYP_INDUCER)
                else explanation
            )
            yield Finding(code, INTERACTION, f"{title}: {_names(meds)}", text, source)


def _measured_change(meds: list[Medication], explanation: str) -> str:
    """The class explanation plus the measured ketamine exposure change where one was published
    (the engine applies it to the dose preview); first-pass routes change far more than IV."""
    found = interactions.measured(m.generic or m.name for m in meds)
    if not found:
        return explanation + " No measured ketamine data for this medicine; the prediction is not adjusted."
    return explanation + " Measured: " + "; ".join(i.describe() for i in found) + "."


def cns_depressant_rule(facts: Facts, t: Thresholds) -> Iterator[Finding]:
    # Benzodiazepines and opioids have their own findings; this covers the other depressants.
    meds = [
        m
        for m in _with_class(facts, fx.CNS_DEPRESSANT)
        if fx.BENZODIAZEPINE not in m.classes and fx.OPIOID not in m.classes
    ]
    if meds:
        yield Finding(
            "cns_depressant",
            INTERACTION,
            f"CNS depressant: {_names(meds)}",
            "Additive sedation and respiratory depression with ketamine.",
            "clinical.md §6 [S104][S103][S101]",
        )


def unrecognised_rule(facts: Facts, t: Thresholds) -> Iterator[Finding]:
    meds = [m for m in facts.medications if not m.recognised]
    if meds:
        yield Finding(
            "medication_unrecognised",
            NOTE,
            f"Medication not recognised: {_names(meds)}",
            "Not in the built-in formulary, so interactions were not checked; review it by hand.",
            "ketaclinic formulary",
        )


RULES: tuple[Rule, ...] = (
    history_rule,
    hepatic_rule,
    pregnancy_rule,
    age_rule,
    blood_pressure_rule,
    heart_rate_rule,
    dast_rule,
    benzodiazepine_rule,
    medication_class_rule,
    cns_depressant_rule,
    unrecognised_rule,
)


def evaluate(facts: Facts, thresholds: Thresholds | None = None) -> list[Finding]:
    """All findings for ``facts``, most severe first (stable within a severity)."""
    t = thresholds or Thresholds()
    found = [finding for rule in RULES for finding in rule(facts, t)]
    order = {sev: i for i, sev in enumerate(SEVERITIES)}
    return sorted(found, key=lambda f: order[f.severity])


def grouped(findings: Iterable[Finding]) -> list[tuple[str, str, list[Finding]]]:
    """(severity, label, findings) for each severity that has findings, most severe first."""
    found = list(findings)
    out = []
    for sev in SEVERITIES:
        items = [f for f in found if f.severity == sev]
        if items:
            out.append((sev, SEVERITY_LABELS[sev], items))
    return out


@dataclass(frozen=True)
class Summary:
    absolute: int = 0
    review: int = 0
    interaction: int = 0
    note: int = 0
    codes: tuple[str, ...] = field(default=())


def summarise(findings: Iterable[Finding]) -> Summary:
    found = list(findings)
    counts = {sev: sum(1 for f in found if f.severity == sev) for sev in SEVERITIES}
    return Summary(**counts, codes=tuple(f.code for f in found))
