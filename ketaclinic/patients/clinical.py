"""The clinical picture of a patient, read from the database into plain values for pages and the API.

``facts_for(intake)`` builds the eligibility facts of one intake version; ``findings_for(intake)``
evaluates them with the clinic's configured thresholds; ``clinical_summary(patient)`` gathers what
the chart's clinical section shows. Reads only: auditing the read is the caller's job.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from ketaclinic.patients import dast, eligibility, history
from ketaclinic.patients import formulary as fx
from ketaclinic.patients.eligibility import Facts, Finding, Medication
from ketaclinic.patients.models import Intake, IntakeMedication, Patient, Screening


def thresholds() -> eligibility.Thresholds:
    return eligibility.thresholds_from(settings)


def medication_facts(med: IntakeMedication) -> Medication:
    return Medication(
        name=med.name,
        recognised=med.recognised,
        generic=med.generic_name,
        classes=tuple(med.interaction_classes or ()),
        daily_dose_mg=float(med.daily_dose_mg) if med.daily_dose_mg is not None else None,
        diazepam_eq_mg=float(med.diazepam_equivalent_mg) if med.diazepam_equivalent_mg is not None else None,
    )


def facts_for(intake: Intake, medications: list[IntakeMedication] | None = None) -> Facts:
    patient = intake.patient
    meds = medications if medications is not None else list(intake.medications.all())
    return Facts(
        age_years=patient.age_on(timezone.localdate(intake.taken_at)),
        sex=patient.sex,
        pregnancy_status=patient.pregnancy_status,
        history=history.present_codes(intake.history),
        hepatic_grade=history.grade_of(intake.history, "hepatic_impairment"),
        medications=tuple(medication_facts(m) for m in meds),
        dast10_score=intake.dast10_score,
        systolic_mmhg=intake.baseline_systolic_mmhg,
        diastolic_mmhg=intake.baseline_diastolic_mmhg,
        heart_rate_bpm=intake.baseline_heart_rate_bpm,
    )


def findings_for(intake: Intake, medications: list[IntakeMedication] | None = None) -> list[Finding]:
    return eligibility.evaluate(facts_for(intake, medications), thresholds())


def medication_rows(meds: list[IntakeMedication]) -> list[dict[str, Any]]:
    """Each medication with its interaction classes as labels, for tables."""
    return [
        {
            "med": m,
            "class_labels": [fx.CLASS_LABELS.get(c, c) for c in (m.interaction_classes or [])],
            "flagged": bool(m.interaction_classes) or not m.recognised,
        }
        for m in meds
    ]


def history_rows(intake: Intake) -> list[dict[str, Any]]:
    """Items answered "present", with note and grade label, in HISTORY_ITEMS order."""
    rows = []
    for item in history.ASKED_ITEMS:
        answer = intake.history.get(item.code) or {}
        if answer.get("present"):
            grade = answer.get("grade") or ""
            rows.append(
                {
                    "item": item,
                    "note": answer.get("note", ""),
                    "grade": dict(item.grades).get(grade, "") if item.grades else "",
                }
            )
    return rows


def dast_summary(intake: Intake) -> dict[str, Any] | None:
    if intake.dast10_score is None:
        return None
    return {
        "score": intake.dast10_score,
        "band": dast.band(intake.dast10_score),
        "label": dast.band_label(intake.dast10_score),
    }


def snapshot_findings(screening: Screening) -> list[Finding]:
    return [Finding.from_dict(d) for d in screening.findings]


def clinical_summary(patient: Patient) -> dict[str, Any]:
    """What the chart's clinical section shows: intake, medications, history, screening and findings."""
    intake = patient.intakes.order_by("-version").first()
    screening = patient.screenings.select_related("intake", "signed_by").order_by("-signed_at", "-id").first()
    summary: dict[str, Any] = {
        "intake": intake,
        "medications": [],
        "history": [],
        "dast": None,
        "screening": screening,
        "screening_status": None,
        "screening_findings": [],
        "live_findings": [],
        "needs_screening": intake is not None,
    }
    if intake is not None:
        meds = list(intake.medications.all())
        summary["medications"] = medication_rows(meds)
        summary["history"] = history_rows(intake)
        summary["dast"] = dast_summary(intake)
    if screening is not None:
        code, text = screening.status()
        summary["screening_status"] = {"code": code, "text": text}
        summary["screening_findings"] = eligibility.grouped(snapshot_findings(screening))
        summary["needs_screening"] = intake is not None and code != "current"
    if intake is not None and (screening is None or screening.intake_id != intake.pk):
        summary["live_findings"] = eligibility.grouped(findings_for(intake, meds))
    return summary
