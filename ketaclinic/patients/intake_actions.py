"""Intake and eligibility-screening actions: every write here, checked, in one transaction, audited.

Pages and the JSON API call these with plain values. Bad input raises
``django.core.exceptions.ValidationError`` whose ``message_dict`` keys name the field
(``baseline_systolic_mmhg``, ``medications[2].name``, ``item_reasons.bp_elevated``); a user without
the role, or a patient of another clinic, raises ``PermissionDenied``. Nothing is written then.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.actions import record
from ketaclinic.audit.rows import seal_rows
from ketaclinic.patients import clinical, dast, eligibility, history
from ketaclinic.patients import formulary as fx
from ketaclinic.patients.eligibility import Finding
from ketaclinic.patients.models import Decision, Intake, IntakeMedication, Patient, Screening

# Plausible resting values; outside them an entry is almost certainly a typing error.
SYSTOLIC_RANGE = (60, 260)
DIASTOLIC_RANGE = (30, 160)
HEART_RATE_RANGE = (30, 220)
MAX_DAILY_DOSE_MG = Decimal(100000)
MAX_MEDICATIONS = 40


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later, clamped to the month's last day."""
    years, month0 = divmod(moment.month - 1 + months, 12)
    year, month = moment.year + years, month0 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


# --- Intake ---------------------------------------------------------------------------------------


def _int_in(
    errors: dict[str, str], data: dict[str, Any], name: str, bounds: tuple[int, int], unit: str
) -> int | None:
    lo, hi = bounds
    raw = data.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        errors[name] = "Enter a whole number."
        return None
    if not lo <= value <= hi:
        errors[name] = f"Enter a value between {lo} and {hi} {unit}."
        return None
    return value


def _clean_history(errors: dict[str, str], raw: Any) -> dict[str, dict[str, Any]]:
    raw = raw or {}
    if not isinstance(raw, dict):
        errors["history"] = "History must map item codes to answers."
        return {}
    for code in raw:
        if code not in history.ITEMS_BY_CODE or history.ITEMS_BY_CODE[code].from_patient:
            errors[f"history.{code}"] = "Not a history item asked at intake."
    cleaned = {}
    for item in history.ASKED_ITEMS:
        answer = raw.get(item.code) or {}
        if not isinstance(answer, dict):
            errors[f"history.{item.code}"] = "Give present (yes/no) and an optional note."
            continue
        present = answer.get("present", False)
        if not isinstance(present, bool):
            errors[f"history.{item.code}"] = "Present must be yes or no."
            continue
        note = str(answer.get("note") or "").strip()
        if len(note) > 500:
            errors[f"history.{item.code}"] = "Keep the note under 500 characters."
        grade = str(answer.get("grade") or "") if present else ""
        if grade and grade not in dict(item.grades):
            errors[f"history.{item.code}"] = f"Choose one of {', '.join(dict(item.grades))}."
        entry: dict[str, Any] = {"present": present, "note": note}
        if item.grades:
            entry["grade"] = grade
        cleaned[item.code] = entry
    return cleaned


def _clean_medications(errors: dict[str, str], raw: Any) -> list[dict[str, Any]]:
    rows = raw or []
    if not isinstance(rows, list):
        errors["medications"] = "Medications must be a list."
        return []
    if len(rows) > MAX_MEDICATIONS:
        errors["medications"] = f"At most {MAX_MEDICATIONS} medications."
        return []
    cleaned = []
    for i, row in enumerate(rows):
        field = f"medications[{i}]"
        if not isinstance(row, dict):
            errors[field] = "Each medication needs a name."
            continue
        name = str(row.get("name") or "").strip()
        dose_text = str(row.get("dose_text") or "").strip()
        raw_mg = row.get("daily_dose_mg")
        if not name and not dose_text and raw_mg in (None, ""):
            continue  # a blank row of the form
        if not name:
            errors[f"{field}.name"] = "Give the medication's name."
        elif len(name) > 120:
            errors[f"{field}.name"] = "Keep the name under 120 characters."
        if len(dose_text) > 120:
            errors[f"{field}.dose_text"] = "Keep the dose under 120 characters."
        daily_mg: Decimal | None = None
        if raw_mg not in (None, ""):
            try:
                daily_mg = Decimal(str(raw_mg)).quantize(Decimal("0.01"))
            except InvalidOperation:
                errors[f"{field}.daily_dose_mg"] = "Enter the daily dose as a number of mg."
            else:
                if not Decimal(0) < daily_mg <= MAX_DAILY_DOSE_MG:
                    errors[f"{field}.daily_dose_mg"] = (
                        f"Enter a daily dose above 0 and at most {MAX_DAILY_DOSE_MG} mg."
                    )
        cleaned.append({"name": name, "dose_text": dose_text, "daily_dose_mg": daily_mg})
    return cleaned


def clean_intake_data(data: dict[str, Any], *, supersedes: Intake | None) -> dict[str, Any]:
    """Validate plain intake data; raise ValidationError naming each bad field."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {
        "history": _clean_history(errors, data.get("history")),
        "medications": _clean_medications(errors, data.get("medications")),
        "substance_use_notes": str(data.get("substance_use_notes") or "").strip(),
        "notes": str(data.get("notes") or "").strip(),
        "change_reason": str(data.get("change_reason") or "").strip(),
        "baseline_systolic_mmhg": _int_in(errors, data, "baseline_systolic_mmhg", SYSTOLIC_RANGE, "mmHg"),
        "baseline_diastolic_mmhg": _int_in(errors, data, "baseline_diastolic_mmhg", DIASTOLIC_RANGE, "mmHg"),
        "baseline_heart_rate_bpm": _int_in(errors, data, "baseline_heart_rate_bpm", HEART_RATE_RANGE, "/min"),
    }
    sys_, dia = cleaned["baseline_systolic_mmhg"], cleaned["baseline_diastolic_mmhg"]
    raw_sys, raw_dia = data.get("baseline_systolic_mmhg"), data.get("baseline_diastolic_mmhg")
    if (raw_sys in (None, "")) != (raw_dia in (None, "")):
        missing = "baseline_diastolic_mmhg" if raw_dia in (None, "") else "baseline_systolic_mmhg"
        errors.setdefault(missing, "Enter both systolic and diastolic pressure.")
    elif sys_ is not None and dia is not None and sys_ <= dia:
        errors["baseline_systolic_mmhg"] = f"Systolic ({sys_}) must be higher than diastolic ({dia})."
    answers = data.get("dast10_answers")
    cleaned["dast10_answers"] = None
    cleaned["dast10_score"] = None
    if answers is not None:
        try:
            cleaned["dast10_score"] = dast.score(answers)
            cleaned["dast10_answers"] = list(answers)
        except (TypeError, ValueError) as exc:
            errors["dast10_answers"] = str(exc).removeprefix("answers: ")
    if len(cleaned["change_reason"]) > 200:
        errors["change_reason"] = "Keep the reason under 200 characters."
    elif supersedes is not None and not cleaned["change_reason"]:
        errors["change_reason"] = f"Say why this intake replaces version {supersedes.version}."
    if errors:
        raise ValidationError(errors)
    return cleaned


def _comparable(cleaned: dict[str, Any]) -> dict[str, Any]:
    keep = {k: v for k, v in cleaned.items() if k != "change_reason"}
    keep["medications"] = [
        (m["name"], m["dose_text"], str(m["daily_dose_mg"]) if m["daily_dose_mg"] is not None else "")
        for m in cleaned["medications"]
    ]
    return keep


def _unchanged(previous: Intake, cleaned: dict[str, Any]) -> bool:
    try:
        before = clean_intake_data(intake_as_data(previous), supersedes=None)
    except ValidationError:
        return False  # stored under older rules (e.g. a retired history item): treat as changed
    return _comparable(before) == _comparable(cleaned)


def intake_as_data(intake: Intake) -> dict[str, Any]:
    """An intake as the plain data ``save_intake`` takes: to prefill the next version, or compare."""
    return {
        "history": intake.history,
        "medications": [
            {"name": m.name, "dose_text": m.dose_text, "daily_dose_mg": m.daily_dose_mg}
            for m in intake.medications.all()
        ],
        "substance_use_notes": intake.substance_use_notes,
        "notes": intake.notes,
        "dast10_answers": intake.dast10_answers,
        "baseline_systolic_mmhg": intake.baseline_systolic_mmhg,
        "baseline_diastolic_mmhg": intake.baseline_diastolic_mmhg,
        "baseline_heart_rate_bpm": intake.baseline_heart_rate_bpm,
    }


def save_intake(*, user: Any, clinic: Clinic, patient: Patient, data: dict[str, Any]) -> Intake:
    """Record a new intake version, a full snapshot; earlier versions stay as they were.

    Medications are matched to the built-in formulary; unknown names are kept, marked unrecognised.
    A daily dose not given in mg is parsed from the dose text where that is unambiguous.
    """
    require(user, clinic, "patients.intake")
    same_clinic(patient.clinic_id, clinic, "patient")
    with transaction.atomic():
        # Lock the patient row so two nurses saving at once get consecutive versions.
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        previous = patient.intakes.order_by("-version").first()
        cleaned = clean_intake_data(data, supersedes=previous)
        if previous is not None and _unchanged(previous, cleaned):
            raise ValidationError(
                {"__all__": f"Nothing changed since version {previous.version}; no new version saved."}
            )
        intake = Intake.objects.create(
            patient=patient,
            version=(previous.version + 1) if previous else 1,
            taken_at=timezone.now(),
            taken_by=user,
            history=cleaned["history"],
            substance_use_notes=cleaned["substance_use_notes"],
            dast10_answers=cleaned["dast10_answers"],
            dast10_score=cleaned["dast10_score"],
            baseline_systolic_mmhg=cleaned["baseline_systolic_mmhg"],
            baseline_diastolic_mmhg=cleaned["baseline_diastolic_mmhg"],
            baseline_heart_rate_bpm=cleaned["baseline_heart_rate_bpm"],
            notes=cleaned["notes"],
            change_reason=cleaned["change_reason"] if previous else "",
        )
        meds = [_medication(intake, row) for row in cleaned["medications"]]
        IntakeMedication.objects.bulk_create(meds)
        seal_rows(IntakeMedication, [med.pk for med in meds])  # bulk_create sends no post_save
        findings = clinical.findings_for(intake, meds)
        record(
            "intake.create",
            user=user,
            clinic=clinic,
            obj=intake,
            patient_id=patient.pk,
            detail={
                "version": intake.version,
                "supersedes": previous.version if previous else None,
                "change_reason": intake.change_reason,
                "medications": [m.name for m in meds],
                "unrecognised": [m.name for m in meds if not m.recognised],
                "history_present": sorted(history.present_codes(intake.history)),
                "dast10_score": intake.dast10_score,
                "findings": [f.code for f in findings],
            },
        )
    return intake


def _medication(intake: Intake, row: dict[str, Any]) -> IntakeMedication:
    match = fx.match(row["name"])
    daily_mg = row["daily_dose_mg"]
    if daily_mg is None and row["dose_text"]:
        daily_mg = fx.parse_daily_dose_mg(row["dose_text"])
    return IntakeMedication(
        intake=intake,
        name=row["name"],
        dose_text=row["dose_text"],
        daily_dose_mg=daily_mg,
        generic_name=match.generic,
        interaction_classes=list(match.classes),
        diazepam_equivalent_mg=fx.diazepam_equivalent_mg(match, daily_mg),
        recognised=match.recognised,
    )


# --- Screening ------------------------------------------------------------------------------------


def evaluate_current(patient: Patient, *, user: Any, clinic: Clinic) -> list[Finding]:
    """Findings of the patient's current intake (empty without one); the read is audited."""
    require(user, clinic, "patients.view_clinical")
    same_clinic(patient.clinic_id, clinic, "patient")
    intake = patient.current_intake()
    findings = clinical.findings_for(intake) if intake is not None else []
    with transaction.atomic():
        record(
            "patient.screening_evaluate",
            user=user,
            clinic=clinic,
            obj=intake,
            patient_id=patient.pk,
            detail={
                "intake_version": intake.version if intake else None,
                "rules_version": eligibility.RULES_VERSION,
                "findings": [f.code for f in findings],
            },
        )
    return findings


def sign_screening(
    *,
    user: Any,
    clinic: Clinic,
    patient: Patient,
    decision: str,
    item_reasons: dict[str, str],
    reason: str,
    intake_version: int | None = None,
) -> Screening:
    """Sign an eligibility decision over the current intake's findings.

    Each absolute, review and interaction finding needs its own reason. "Eligible" is refused while an
    absolute contraindication is present ("eligible with precautions", with the reasons, or
    "not eligible" remain). Pass ``intake_version`` (the version the prescriber reviewed) to refuse
    signing if the intake changed meanwhile.
    """
    require(user, clinic, "patients.sign_screening")
    same_clinic(patient.clinic_id, clinic, "patient")
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        intake = patient.current_intake()
        errors: dict[str, str] = {}
        if intake is None:
            raise ValidationError({"intake": "Record an intake before screening."})
        if intake_version is not None and intake_version != intake.version:
            raise ValidationError(
                {
                    "intake_version": f"The intake changed (now version {intake.version}) while you were "
                    "reviewing it. Review the findings again."
                }
            )
        findings = clinical.findings_for(intake)
        by_code = {f.code: f for f in findings}
        reasons = {str(k): str(v or "").strip() for k, v in (item_reasons or {}).items()}
        for code in reasons:
            if code not in by_code:
                errors[f"item_reasons.{code}"] = "No such finding on the current intake."
        for f in findings:
            if f.needs_reason and not reasons.get(f.code):
                errors[f"item_reasons.{f.code}"] = f"Give your reason for: {f.title}."
        if decision not in Decision.values:
            errors["decision"] = "Choose eligible, eligible with precautions, or not eligible."
        elif decision == Decision.ELIGIBLE and any(f.severity == eligibility.ABSOLUTE for f in findings):
            errors["decision"] = (
                "An absolute contraindication is present: choose 'not eligible', or 'eligible with "
                "precautions' and explain why it does not apply."
            )
        reason = (reason or "").strip()
        if not reason:
            errors["reason"] = "Give the overall reason for your decision."
        if errors:
            raise ValidationError(errors)
        signed_at = timezone.now()
        screening = Screening.objects.create(
            patient=patient,
            intake=intake,
            findings=[f.to_dict() for f in findings],
            item_reasons={code: text for code, text in reasons.items() if text},
            decision=decision,
            reason=reason,
            signed_by=user,
            signed_at=signed_at,
            expires_at=add_months(signed_at, settings.SCREENING_VALID_MONTHS),
            rules_version=eligibility.RULES_VERSION,
        )
        record(
            "screening.sign",
            user=user,
            clinic=clinic,
            obj=screening,
            patient_id=patient.pk,
            detail={
                "decision": decision,
                "intake_version": intake.version,
                "rules_version": eligibility.RULES_VERSION,
                "findings": [f.code for f in findings],
                "expires_at": screening.expires_at,
            },
        )
    return screening


def record_read(
    action: str,
    *,
    user: Any,
    clinic: Clinic,
    patient: Patient,
    obj: Any = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit a read of part of a patient's record (intake pages, a signed screening)."""
    with transaction.atomic():
        record(action, user=user, clinic=clinic, obj=obj, patient_id=patient.pk, detail=detail)
