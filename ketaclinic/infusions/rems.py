"""The Spravato REMS patient monitoring form (outpatient, ©11/2021), built from a session's facts.

Fields follow reference/clinical.md §2.4 [S35]. A newer form also asks about respiratory
depression and opioids ([S36]); the newest field list is unconfirmed, so those two are carried
as extra fields and the export says which form version the field list follows.

Pure: the action layer gathers ``RemsFacts`` from the session; ``build_form`` returns a
``RemsForm`` with the answers and a list of what is missing, and ``to_csv`` / ``to_json`` export it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

FORM_VERSION = "SPRAVATO REMS Patient Monitoring Form, outpatient, ©11/2021 (clinical.md §2.4 [S35])"
MIN_MONITORING = timedelta(hours=2)  # clinical.md §2.2 [S28], §2.3 [S33]
# "BP at about 40 min after dosing" (§2.2 [S23]): the reading nearest to 40 min within this
# tolerance. The tolerance is a local choice, unconfirmed.
BP_40_TARGET = timedelta(minutes=40)
BP_40_TOLERANCE = timedelta(minutes=10)
STANDARD_DOSES_MG = (56, 84)

# Concomitant medication questions of the form, answered from the intake medications (generic
# name and patients.formulary classes). The formulary files Z-drugs under "cns_depressant", so the
# non-benzodiazepine hypnotics are matched by name.
NON_BENZODIAZEPINE_HYPNOTICS = frozenset({"zolpidem", "zaleplon", "zopiclone", "eszopiclone"})
CONCOMITANT_QUESTIONS = (
    "benzodiazepines",
    "non_benzodiazepine_sedative_hypnotics",
    "psychostimulants",
    "maois",
    "opioids",  # newer form only [S36], unconfirmed
)


def concomitant(medications: Iterable[tuple[str, Iterable[str]]]) -> dict[str, bool]:
    """Answers to the form's concomitant-medication questions from (generic name, classes) pairs.

    >>> concomitant([("zolpidem", ["cns_depressant"]), ("lorazepam", ["benzodiazepine"])])["psychostimulants"]
    False
    """
    answers = dict.fromkeys(CONCOMITANT_QUESTIONS, False)
    for generic, classes in medications:
        cls = set(classes)
        answers["benzodiazepines"] |= "benzodiazepine" in cls
        answers["non_benzodiazepine_sedative_hypnotics"] |= generic.lower() in NON_BENZODIAZEPINE_HYPNOTICS
        answers["psychostimulants"] |= "stimulant" in cls
        answers["maois"] |= "maoi" in cls
        answers["opioids"] |= "opioid" in cls
    return answers


@dataclass(frozen=True)
class BP:
    at: datetime
    systolic_mmhg: int
    diastolic_mmhg: int

    def text(self) -> str:
        return f"{self.systolic_mmhg}/{self.diastolic_mmhg}"


@dataclass(frozen=True)
class RemsFacts:
    patient_name: str
    date_of_birth: date
    sex: str
    medications: tuple[tuple[str, frozenset[str]], ...]  # (generic name, formulary classes)
    monitoring_provider: str
    setting: str
    dose_mg: int
    lot_numbers: tuple[str, ...]
    first_device_at: datetime | None
    monitoring_ended_at: datetime | None
    ready_to_leave_at: datetime | None
    blood_pressures: tuple[BP, ...]
    vitals_acceptable_before: bool | None
    vitals_acceptable_at_end: bool | None
    sedation: bool
    dissociation: bool
    respiratory_depression: bool
    other_events: str = ""


@dataclass(frozen=True)
class RemsForm:
    fields: dict[str, Any]
    missing: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        return not self.missing

    def labelled(self) -> list[tuple[str, str]]:
        """(the form's wording, the answer) in the form's order, for the printable page; an answer
        not recorded reads "not recorded", never "None". The CSV and JSON keep the field names."""
        return [
            (LABELS.get(name, name.replace("_", " ")), "not recorded" if value in (None, "") else str(value))
            for name, value in self.fields.items()
        ]


# The form's own wording for each field (clinical.md §2.4 [S35][S36]).
LABELS = {
    "patient_name": "Patient name",
    "date_of_birth": "Date of birth",
    "sex": "Sex",
    "concomitant_benzodiazepines": "Concomitant medications: benzodiazepines",
    "concomitant_non_benzodiazepine_sedative_hypnotics": (
        "Concomitant medications: non-benzodiazepine sedative hypnotics"
    ),
    "concomitant_psychostimulants": "Concomitant medications: psychostimulants",
    "concomitant_maois": "Concomitant medications: monoamine oxidase inhibitors (MAOIs)",
    "concomitant_opioids": "Concomitant medications: opioids",
    "monitoring_provider": "Monitoring health care provider",
    "setting": "Setting",
    "date": "Date of treatment session",
    "dose_mg": "Dose (56 mg / 84 mg / other)",
    "dose_other_mg": "Other dose (mg)",
    "lot_numbers": "Lot number(s)",
    "total_monitoring_minutes": "Total time from the first device to the end of monitoring (min)",
    "ready_to_leave_minutes": (
        "If there were no 2-hour minimum, when would the patient have been ready to leave? (min)"
    ),
    "vitals_acceptable_before_administration": "Vital signs acceptable before administration",
    "vitals_acceptable_before_completion": "Vital signs acceptable before completion of monitoring",
    "bp_before_dose": "Blood pressure before the dose",
    "bp_40_min": "Blood pressure at about 40 minutes after the dose",
    "bp_before_completion": "Blood pressure before completion of monitoring",
    "sedation": "Sedation",
    "dissociation": "Dissociation",
    "respiratory_depression": "Respiratory depression",
    "other_events": "Other adverse events",
}


def _minutes(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds() // 60)


def bp_before(bps: Iterable[BP], first_device_at: datetime) -> BP | None:
    before = [b for b in bps if b.at <= first_device_at]
    return max(before, key=lambda b: b.at) if before else None


def bp_at_40(bps: Iterable[BP], first_device_at: datetime) -> BP | None:
    target = first_device_at + BP_40_TARGET
    near = [b for b in bps if abs(b.at - target) <= BP_40_TOLERANCE]
    return min(near, key=lambda b: abs(b.at - target)) if near else None


def bp_before_end(bps: Iterable[BP], first_device_at: datetime, ended_at: datetime) -> BP | None:
    # Not the 40-min reading itself: the last one after it and before the end of monitoring.
    after = [b for b in bps if first_device_at + BP_40_TARGET + BP_40_TOLERANCE < b.at <= ended_at]
    return max(after, key=lambda b: b.at) if after else None


def _yn(value: bool | None) -> str:
    return "" if value is None else ("Y" if value else "N")


def build_form(f: RemsFacts) -> RemsForm:
    """The form's fields, in the form's order, plus what is missing before it can be submitted.

    >>> from datetime import UTC
    >>> t0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    >>> meds = (("lorazepam", frozenset({"benzodiazepine"})),)
    >>> facts = RemsFacts("Maria Lopez", date(1984, 3, 2), "female", meds,
    ...     "Nate RN", "outpatient clinic", 56, ("L123",), t0, t0 + timedelta(minutes=125),
    ...     t0 + timedelta(minutes=95), (BP(t0 - timedelta(minutes=5), 128, 82),
    ...     BP(t0 + timedelta(minutes=41), 146, 90), BP(t0 + timedelta(minutes=120), 130, 84)),
    ...     True, True, sedation=True, dissociation=True, respiratory_depression=False)
    >>> form = build_form(facts)
    >>> form.complete, form.fields["bp_40_min"], form.fields["total_monitoring_minutes"]
    (True, '146/90', 125)
    """
    missing: list[str] = []
    warnings: list[str] = []
    bps = f.blood_pressures
    start, end = f.first_device_at, f.monitoring_ended_at
    pre = bp_before(bps, start) if start else None
    at40 = bp_at_40(bps, start) if start else None
    last = bp_before_end(bps, start, end) if start and end else None
    total = _minutes(end - start) if start and end else None
    ready = _minutes(f.ready_to_leave_at - start) if start and f.ready_to_leave_at else None
    if f.dose_mg in STANDARD_DOSES_MG:
        dose_choice, dose_other = str(f.dose_mg), ""
    else:
        dose_choice, dose_other = "other", str(f.dose_mg)
    fields: dict[str, Any] = {
        "patient_name": f.patient_name,
        "date_of_birth": f.date_of_birth.isoformat(),
        "sex": f.sex,
        **{f"concomitant_{name}": _yn(yes) for name, yes in concomitant(f.medications).items()},
        "monitoring_provider": f.monitoring_provider,
        "setting": f.setting,
        "date": start.date().isoformat() if start else "",
        "dose_mg": dose_choice,
        "dose_other_mg": dose_other,
        "lot_numbers": " ".join(f.lot_numbers),
        "total_monitoring_minutes": total,
        "ready_to_leave_minutes": ready,
        "vitals_acceptable_before_administration": _yn(f.vitals_acceptable_before),
        "vitals_acceptable_before_completion": _yn(f.vitals_acceptable_at_end),
        "bp_before_dose": pre.text() if pre else "",
        "bp_40_min": at40.text() if at40 else "",
        "bp_before_completion": last.text() if last else "",
        "sedation": _yn(f.sedation),
        "dissociation": _yn(f.dissociation),
        "respiratory_depression": _yn(f.respiratory_depression),
        "other_events": f.other_events,
    }
    checks = [
        ("time of the first device", start is None),
        ("end of monitoring", end is None),
        ("lot number", not f.lot_numbers),
        ("when the patient would have been ready to leave", ready is None),
        ("blood pressure before the dose", pre is None),
        ("blood pressure at about 40 min", at40 is None),
        ("blood pressure before completion", last is None),
        ("vital signs acceptable before administration", f.vitals_acceptable_before is None),
        ("vital signs acceptable before completion", f.vitals_acceptable_at_end is None),
        ("monitoring provider", not f.monitoring_provider.strip()),
    ]
    missing = [name for name, absent in checks if absent]
    if total is not None and total < _minutes(MIN_MONITORING):  # type: ignore[operator]
        warnings.append(f"total monitoring time {total} min is under the required 120 min")
    return RemsForm(fields, tuple(missing), tuple(warnings))


def to_json(forms: Sequence[RemsForm]) -> str:
    return json.dumps(
        {
            "form_version": FORM_VERSION,
            "forms": [{**f.fields, "missing": list(f.missing), "warnings": list(f.warnings)} for f in forms],
        },
        indent=2,
    )


def to_csv(forms: Sequence[RemsForm]) -> str:
    """One header row and one row per form, columns in the form's order."""
    if not forms:
        return ""
    columns = [*forms[0].fields, "missing", "warnings"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for form in forms:
        row = {**form.fields, "missing": "; ".join(form.missing), "warnings": "; ".join(form.warnings)}
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return out.getvalue()
