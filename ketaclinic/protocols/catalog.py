"""The shipped defaults: products, protocol templates and the starting drug library, each cited.

Citations point into ``reference/clinical.md`` (section and source tag, e.g. "clinical.md §1.1 [S4]")
or ``reference/pkpd.md``. A value no source there supports is marked ``assumed`` and shipped as a
configurable local default: the protocol pages show the mark next to the value. Nothing here is
clinical advice; a clinic copies a template and adjusts it.
"""

# Citations stay whole on one line each, so a grep for a source tag finds the value it supports.
# ruff: noqa: E501
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ketaclinic.protocols.limits import KINDS, Limit

ASSUMED = "assumed: local default with no source in reference/clinical.md; verify before use"

# code -> product. Ketamine vials state the concentration as base (the usual US labelling:
# "ketamine hydrochloride equivalent to N mg ketamine base per mL", pkpd.md conversions).
PRODUCTS: list[dict[str, Any]] = [
    {
        "code": "ketamine-10",
        "name": "Ketamine HCl injection 10 mg/mL",
        "drug": "racemic",
        "form": "vial",
        "concentration_mg_per_ml": Decimal("10"),
        "concentration_basis": "base",
        "device_mg": None,
    },
    {
        "code": "ketamine-50",
        "name": "Ketamine HCl injection 50 mg/mL",
        "drug": "racemic",
        "form": "vial",
        "concentration_mg_per_ml": Decimal("50"),
        "concentration_basis": "base",
        "device_mg": None,
    },
    {
        "code": "ketamine-100",
        "name": "Ketamine HCl injection 100 mg/mL",
        "drug": "racemic",
        "form": "vial",
        "concentration_mg_per_ml": Decimal("100"),
        "concentration_basis": "base",
        "device_mg": None,
    },
    {
        "code": "esketamine-28",
        "name": "Esketamine nasal spray, 28 mg device (2 sprays)",
        "drug": "esketamine",
        "form": "nasal device",
        "concentration_mg_per_ml": None,
        "concentration_basis": "base",
        "device_mg": Decimal("28"),  # clinical.md §2.1 [S20][S25]
    },
]

GATES_BP = [
    {
        "systolic_above": 140,
        "diastolic_above": 90,
        "action": "caution",
        "source": "clinical.md §2.2 [S30] (Spravato monograph: consider delaying if >140/90)",
    },
    {
        "systolic_above": 180,
        "diastolic_above": 100,
        "action": "hold",
        "source": "clinical.md §1.4 [S19] (uncontrolled hypertension = resting BP >180/100, Swiss label)",
    },
]

DISCHARGE_CRITERIA = {
    "modified_padss": "Modified PADSS ≥9 with a competent adult escort (clinical.md §3.2 [S40][S46][S47])",
    "padss": "PADSS ≥9 with a competent adult escort (clinical.md §3.2 [S44][S45])",
    "aldrete": "Modified Aldrete ≥9 (clinical.md §3.1 [S40][S41])",
}

SCALES = {
    "madrs": "MADRS (0–60, clinician-rated)",
    "qids_sr16": "QIDS-SR16 (0–27)",
    "phq9": "PHQ-9 (0–27)",
    "gad7": "GAD-7 (0–21)",
    "pcl5": "PCL-5 (0–80)",
    "nrs_pain": "NRS pain (0–10)",
}
# Each scale's highest total (the ranges in SCALES): a plan's baseline and an absolute response
# threshold lie within it.
SCALE_MAX = {"madrs": 60, "qids_sr16": 27, "phq9": 27, "gad7": 21, "pcl5": 80, "nrs_pain": 10}


@dataclass(frozen=True)
class Template:
    code: str
    name: str
    summary: str
    indications: tuple[str, ...]
    route: str
    drug: str
    product_code: str
    library_key: str
    dose: dict[str, Any]
    titration: dict[str, Any] | None
    weight_window_days: int
    schedule: tuple[dict[str, Any], ...]
    induction_sessions: int | None
    monitoring: tuple[dict[str, str], ...]
    observation_min: int
    observation_source: str
    gates: tuple[dict[str, Any], ...]
    discharge_criteria: str
    response: dict[str, Any]
    sources: tuple[str, ...]
    flags: tuple[str, ...] = field(default_factory=tuple)

    def to_config(self) -> dict[str, Any]:
        """The JSON a clinic's Protocol stores (Decimals as strings)."""
        config: dict[str, Any] = _jsonable(
            {
                "summary": self.summary,
                "indications": list(self.indications),
                "dose": self.dose,
                "titration": self.titration,
                "weight_window_days": self.weight_window_days,
                "schedule": list(self.schedule),
                "induction_sessions": self.induction_sessions,
                "monitoring": list(self.monitoring),
                "observation_min": self.observation_min,
                "observation_source": self.observation_source,
                "gates": list(self.gates),
                "discharge_criteria": self.discharge_criteria,
                "response": self.response,
                "sources": list(self.sources),
                "flags": list(self.flags),
            }
        )
        return config


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


TEMPLATES: dict[str, Template] = {
    t.code: t
    for t in (
        Template(
            code="iv-racemic-depression",
            name="IV racemic ketamine 0.5 mg/kg over 40 min (depression)",
            summary=(
                "The conventional antidepressant regimen: 0.5 mg/kg ketamine over 40 minutes, an induction "
                "course of 6 sessions given two or three times a week."
            ),
            indications=("trd", "mdd_si"),
            route="iv",
            drug="racemic",
            product_code="ketamine-10",
            library_key="iv-depression",
            dose={
                "basis": "per_kg",
                "dose_mg_per_kg": "0.5",
                "duration_min": "40",
                "source": "clinical.md §1.1 [S4][S5][S6][S7] (0.5 mg/kg over 40 min is the conventional regimen)",
            },
            titration=None,
            weight_window_days=30,
            schedule=(
                {
                    "phase": "induction",
                    "text": "6 sessions, 2–3 per week",
                    "sessions_per_week": "2-3",
                    "source": "clinical.md §1.2 [S8] (6 infusions 3×/week), [S5] (twice weekly × 3 weeks), "
                    "[S10] (median 6 sessions)",
                },
                {
                    "phase": "maintenance",
                    "text": "case by case",
                    "source": "clinical.md §1.2 [S11] (repeated or maintenance infusions: Level 3 evidence)",
                },
            ),
            induction_sessions=6,
            monitoring=(
                {
                    "what": "BP and heart rate",
                    "when": "before the infusion, then every 10 min during it",
                    "source": "clinical.md §1.4 [S6][S16]",
                },
                {"what": "BP", "when": "every 15 min after the infusion", "source": "clinical.md §1.4 [S6]"},
                {
                    "what": "respiratory, cardiovascular and mental status",
                    "when": "continuously during the infusion",
                    "source": "clinical.md §1.1 [S3] (secondary summary of Sanacora 2017)",
                },
                {
                    "what": "dissociation (CADSS) and sedation (MOAA/S)",
                    "when": "at 40 min",
                    "source": ASSUMED,
                },
            ),
            observation_min=120,
            observation_source=(
                "clinical.md §7.2 [S113]: most effects of 0.5 mg/kg peak within 1 h and resolve by 2 h; a "
                "minimum observation time for IV ketamine is unconfirmed (§1.1), so 120 min from the start is "
                "a configurable default"
            ),
            gates=tuple(GATES_BP),
            discharge_criteria="modified_padss",
            response={
                "scale": "madrs",
                "rule": "pct_reduction",
                "value": 50,
                "source": "clinical.md §4 notes [S5][S8] (response = ≥50% reduction from baseline)",
            },
            sources=("clinical.md §1.1", "clinical.md §1.2", "clinical.md §1.4"),
            flags=(
                "Pre-infusion BP thresholds 140/90 and 180/100 are often attributed to Sanacora 2017 but are "
                "unconfirmed there (clinical.md §1.1); they are cited to [S30] and [S19] instead.",
                "Observation time: unconfirmed for IV ketamine; configurable.",
                "Weight window of 30 days: assumed local default.",
            ),
        ),
        Template(
            code="esketamine-nasal-trd",
            name="Esketamine nasal spray per label (TRD)",
            summary=(
                "Esketamine 28 mg devices per the label: weeks 1–4 twice weekly (56 mg on day 1, then 56 or "
                "84 mg), weeks 5–8 weekly, then weekly or every 2 weeks; at least 2 hours of observation."
            ),
            indications=("trd",),
            route="nasal",
            drug="esketamine",
            product_code="esketamine-28",
            library_key="esketamine-nasal",
            dose={
                "basis": "fixed",
                "dose_mg": "56",
                "first_dose_mg": "56",
                "dose_options_mg": ["56", "84"],
                "device_mg": "28",
                "device_rest_min": "5",
                "source": "clinical.md §2.1 [S20][S21][S22][S25]",
            },
            titration=None,
            weight_window_days=90,
            schedule=(
                {
                    "phase": "weeks 1–4",
                    "text": "twice weekly",
                    "sessions_per_week": "2",
                    "source": "clinical.md §2.1",
                },
                {
                    "phase": "weeks 5–8",
                    "text": "weekly",
                    "sessions_per_week": "1",
                    "source": "clinical.md §2.1",
                },
                {
                    "phase": "week 9 on",
                    "text": "weekly or every 2 weeks, the least frequent that maintains response",
                    "sessions_per_week": "0.5-1",
                    "source": "clinical.md §2.1 [S20][S21][S22]",
                },
            ),
            induction_sessions=8,
            monitoring=(
                {
                    "what": "BP",
                    "when": "before dosing and about 40 min after",
                    "source": "clinical.md §2.2 [S23]",
                },
                {
                    "what": "BP",
                    "when": "then as clinically warranted until consistent and safe",
                    "source": "clinical.md §2.2 [S23]",
                },
                {
                    "what": "respiratory status incl. pulse oximetry",
                    "when": "each session",
                    "source": "clinical.md §2.2 [S23]",
                },
                {
                    "what": "sedation and dissociation",
                    "when": "through observation",
                    "source": "clinical.md §2.2 [S28]",
                },
            ),
            observation_min=120,
            observation_source="clinical.md §2.2 [S28][S29], §2.3 REMS [S33]: at least 2 h, then assess stability",
            gates=tuple(GATES_BP),
            discharge_criteria="modified_padss",
            response={
                "scale": "madrs",
                "rule": "pct_reduction",
                "value": 50,
                "source": "clinical.md §4 notes [S8] (≥50% MADRS reduction); evaluate at end of induction §2.1 [S22][S23]",
            },
            sources=("clinical.md §2.1", "clinical.md §2.2", "clinical.md §2.3"),
            flags=(
                "Exact current label wording for the pre-dose BP threshold is unconfirmed (clinical.md §2.2).",
                "28 mg start at age ≥65 is from the Hong Kong label; US applicability unconfirmed (§2.1 [S20]).",
                "Induction counted as 8 sessions (twice weekly × 4 weeks), derived from §2.1.",
            ),
        ),
        Template(
            code="im-racemic-depression",
            name="IM racemic ketamine 0.5 mg/kg (depression) — assumed",
            summary=(
                "A single intramuscular injection. No IM dose for depression is given in reference/clinical.md: "
                "the 0.5 mg/kg default mirrors the IV regimen, and IM bioavailability is about 93% "
                "(pkpd.md §2, secondary). Every default here is assumed and must be set by the clinic."
            ),
            indications=("trd",),
            route="im",
            drug="racemic",
            product_code="ketamine-50",
            library_key="im-depression",
            dose={"basis": "per_kg", "dose_mg_per_kg": "0.5", "source": ASSUMED},
            titration=None,
            weight_window_days=30,
            schedule=(
                {
                    "phase": "induction",
                    "text": "6 sessions, 2 per week",
                    "sessions_per_week": "2",
                    "source": ASSUMED,
                },
            ),
            induction_sessions=6,
            monitoring=(
                {"what": "BP, heart rate, SpO₂", "when": "before, then every 15 min", "source": ASSUMED},
            ),
            observation_min=120,
            observation_source=ASSUMED,
            gates=tuple(GATES_BP),
            discharge_criteria="modified_padss",
            response={
                "scale": "madrs",
                "rule": "pct_reduction",
                "value": 50,
                "source": "clinical.md §4 notes [S8]",
            },
            sources=("reference/pkpd.md §2 (IM F 93%, secondary)",),
            flags=("IM dose, schedule and monitoring are assumed: no source in reference/clinical.md.",),
        ),
        Template(
            code="iv-racemic-chronic-pain",
            name="IV racemic ketamine, titrated infusion (chronic pain, CRPS)",
            summary=(
                "A 4-hour infusion titrated up to 0.35 mg/kg/h, daily, after the CRPS regimen the ASRA/AAPM/ASA "
                "consensus guideline (Cohen et al. 2018) rates as moderate evidence."
            ),
            indications=("chronic_pain",),
            route="iv",
            drug="racemic",
            product_code="ketamine-10",
            library_key="iv-chronic-pain",
            dose={
                "basis": "titrated",
                "duration_min": "240",
                "source": (
                    "Cohen SP et al., Consensus guidelines on IV ketamine infusions for chronic pain, Reg Anesth "
                    "Pain Med 2018;43:521, doi 10.1097/AAP.0000000000000808 (ASRA/AAPM/ASA): CRPS 0.35 mg/kg/h "
                    "over 4 h daily for 10 days. Read in a secondary summary, not in clinical.md: unconfirmed"
                ),
            },
            titration={
                "start_mg_per_kg_per_h": "0.15",
                "step_mg_per_kg_per_h": "0.1",
                "interval_min": "30",
                "ceiling_mg_per_kg_per_h": "0.35",
                "source": "ceiling: Cohen 2018 CRPS regimen (unconfirmed); start, step and interval: "
                + ASSUMED,
            },
            weight_window_days=30,
            schedule=(
                {
                    "phase": "course",
                    "text": "daily for up to 10 days",
                    "sessions_per_week": "5-7",
                    "source": "Cohen 2018 CRPS regimen (secondary summary; unconfirmed)",
                },
            ),
            induction_sessions=10,
            monitoring=(
                {
                    "what": "BP, heart rate, SpO₂",
                    "when": "every 15 min during the infusion",
                    "source": ASSUMED,
                },
                {"what": "pain (NRS), sedation", "when": "before each titration step", "source": ASSUMED},
            ),
            observation_min=300,
            observation_source="infusion of 240 min plus 60 min: " + ASSUMED,
            gates=tuple(GATES_BP),
            discharge_criteria="modified_padss",
            response={
                "scale": "nrs_pain",
                "rule": "points_reduction",
                "value": 2,
                "source": "clinical.md §4 NRS [S74] (a change of ≥2 is meaningful)",
            },
            sources=(
                "Cohen et al. 2018, Reg Anesth Pain Med 43:521 (secondary summary)",
                "clinical.md §4 [S74]",
            ),
            flags=(
                "The chronic-pain regimen is not in reference/clinical.md; its source was read only in a "
                "secondary summary (unconfirmed).",
                "Titration start, step and interval are assumed local defaults.",
            ),
        ),
    )
}


def _lim(
    *,
    source: str,
    soft_min: str | None = None,
    hard_min: str | None = None,
    soft_max: str | None = None,
    hard_max: str | None = None,
) -> Limit:
    def d(v: str | None) -> Decimal | None:
        return None if v is None else Decimal(v)

    return Limit(d(soft_min), d(hard_min), d(soft_max), d(hard_max), source=source)


def _entry(overrides: dict[str, Limit]) -> dict[str, Limit]:
    missing = set(KINDS) - set(overrides)
    assert not missing, f"default library entry lacks {missing}"  # noqa: S101 - a programming error
    return overrides


# The starting library, one entry per protocol key. Bounds are cited or marked assumed.
DEFAULT_LIBRARY: dict[str, dict[str, Any]] = {
    "iv-depression": {
        "name": "IV ketamine, depression (0.5 mg/kg over 40 min)",
        "route": "iv",
        "product_code": "ketamine-10",
        "limits": _entry(
            {
                "dose_mg_per_kg": _lim(
                    soft_max="0.75",
                    hard_max="1.0",
                    source="soft: top of published practice range 0.1–0.75 mg/kg, clinical.md §1.1 [S4]; "
                    "hard: " + ASSUMED,
                ),
                "dose_mg": _lim(soft_max="75", hard_max="100", source=ASSUMED + " (weight-independent cap)"),
                "rate_mg_per_kg_per_h": _lim(
                    soft_max="1.125",
                    hard_max="1.5",
                    source="soft: 0.75 mg/kg over 40 min (§1.1 [S4] upper dose at the conventional duration); "
                    "hard: " + ASSUMED,
                ),
                "duration_min": _lim(
                    soft_min="40",
                    hard_min="20",
                    soft_max="100",
                    source="soft min 40 min: conventional regimen §1.1; soft max 100 min: published range "
                    "2–100 min §1.1 [S4]; hard min: " + ASSUMED,
                ),
                "cumulative_session_mg": _lim(soft_max="75", hard_max="100", source=ASSUMED),
                "bolus_mg": _lim(
                    hard_max="0", source="no bolus in this protocol (§1.1 regimen is an infusion)"
                ),
                "interval_since_last_h": _lim(
                    soft_min="44",
                    hard_min="20",
                    source="soft: 3×/week schedules leave ≥2 days (§1.2 [S8][S10]), less 4 h of scheduling "
                    "slack; hard: " + ASSUMED,
                ),
                "sessions_per_week": _lim(
                    soft_max="3", hard_max="4", source="soft: 3×/week, §1.2 [S8][S10]; hard: " + ASSUMED
                ),
            }
        ),
    },
    "esketamine-nasal": {
        "name": "Esketamine nasal spray (28 mg devices)",
        "route": "nasal",
        "product_code": "esketamine-28",
        "limits": _entry(
            {
                "dose_mg_per_kg": Limit.open("fixed-dose product; mg/kg does not apply"),
                "dose_mg": _lim(
                    soft_min="56",
                    hard_min="28",
                    hard_max="84",
                    source="56 or 84 mg per session, clinical.md §2.1 [S20][S21][S22]; 28 mg only as the "
                    "≥65 start in a non-US label (§2.1 [S20], unconfirmed for the US)",
                ),
                "rate_mg_per_kg_per_h": Limit.open("not an infusion"),
                "duration_min": Limit.open("not an infusion"),
                "cumulative_session_mg": _lim(
                    hard_max="84", source="clinical.md §2.1 (84 mg is the highest dose)"
                ),
                "bolus_mg": Limit.open("not an infusion"),
                "interval_since_last_h": _lim(
                    soft_min="68",
                    hard_min="20",
                    source="soft: twice weekly (§2.1) spaced ≥3 days less 4 h of slack: derived, assumed; "
                    "hard: " + ASSUMED,
                ),
                "sessions_per_week": _lim(
                    hard_max="2", source="at most twice weekly, clinical.md §2.1 [S20][S22]"
                ),
            }
        ),
    },
    "im-depression": {
        "name": "IM ketamine, depression (assumed defaults)",
        "route": "im",
        "product_code": "ketamine-50",
        "limits": _entry(
            {
                "dose_mg_per_kg": _lim(soft_max="0.75", hard_max="1.0", source=ASSUMED),
                "dose_mg": _lim(soft_max="75", hard_max="100", source=ASSUMED),
                "rate_mg_per_kg_per_h": Limit.open("not an infusion"),
                "duration_min": Limit.open("not an infusion"),
                "cumulative_session_mg": _lim(hard_max="100", source=ASSUMED),
                "bolus_mg": Limit.open("not an infusion"),
                "interval_since_last_h": _lim(soft_min="68", hard_min="20", source=ASSUMED),
                "sessions_per_week": _lim(soft_max="2", hard_max="3", source=ASSUMED),
            }
        ),
    },
    "iv-chronic-pain": {
        "name": "IV ketamine, chronic pain (titrated)",
        "route": "iv",
        "product_code": "ketamine-10",
        "limits": _entry(
            {
                "dose_mg_per_kg": _lim(
                    soft_max="1.4",
                    hard_max="2.0",
                    source="soft: 0.35 mg/kg/h × 4 h (Cohen 2018 CRPS regimen, unconfirmed); hard: "
                    + ASSUMED,
                ),
                "dose_mg": _lim(soft_max="140", hard_max="200", source=ASSUMED),
                "rate_mg_per_kg_per_h": _lim(
                    soft_max="0.35",
                    hard_max="0.5",
                    source="soft: Cohen 2018 CRPS 0.35 mg/kg/h (unconfirmed); hard: " + ASSUMED,
                ),
                "duration_min": _lim(
                    soft_max="240",
                    hard_max="300",
                    source="soft: 4 h (Cohen 2018 CRPS); hard: 5 h (Cohen 2018 spinal-cord-injury range, "
                    "secondary summary; unconfirmed)",
                ),
                "cumulative_session_mg": _lim(soft_max="150", hard_max="220", source=ASSUMED),
                "bolus_mg": _lim(soft_max="10", hard_max="20", source=ASSUMED),
                "interval_since_last_h": _lim(soft_min="20", hard_min="12", source=ASSUMED),
                "sessions_per_week": _lim(
                    soft_max="5", hard_max="7", source="daily course (Cohen 2018, unconfirmed)"
                ),
            }
        ),
    },
}
