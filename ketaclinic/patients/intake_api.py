"""Intake and eligibility screening over the API, through ``ketaclinic.patients.intake_actions``."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import Router, Status

from ketaclinic.accounts.api_access import api_access, current_membership
from ketaclinic.patients import intake_actions
from ketaclinic.patients.models import Patient
from ketaclinic.patients.schemas import IntakeIn, IntakeOut, ScreeningIn, ScreeningOut, ScreeningState

router = Router(tags=["intake and screening"])


@router.get("/patients/{patient_id}/intake", response=IntakeOut, summary="Current intake (audited)")
@api_access("patients.view_clinical", load={"patient": Patient})
def get_intake(request: HttpRequest, patient: Patient) -> Any:
    """The newest intake version; 404 when none has been taken."""
    m = current_membership(request)
    intake = patient.current_intake()
    if intake is None:
        raise Http404("No intake recorded for this patient yet.")
    intake_actions.record_read(
        "patient.intake_view",
        user=m.user,
        clinic=m.clinic,
        patient=patient,
        obj=intake,
        detail={"version": intake.version, "via": "api"},
    )
    return intake


@router.post(
    "/patients/{patient_id}/intake", response={201: IntakeOut}, summary="Record a new intake version"
)
@api_access("patients.intake", load={"patient": Patient})
def post_intake(request: HttpRequest, patient: Patient, payload: IntakeIn) -> Any:
    """A full snapshot: it supersedes the previous version (give `change_reason` then) and
    invalidates a screening signed over the previous one."""
    m = current_membership(request)
    data = payload.dict()
    data["medications"] = [dict(row) for row in data["medications"]]
    intake = intake_actions.save_intake(user=m.user, clinic=m.clinic, patient=patient, data=data)
    return Status(201, intake)


@router.get(
    "/patients/{patient_id}/screening", response=ScreeningState, summary="Findings and latest screening"
)
@api_access("patients.view_clinical", load={"patient": Patient})
def get_screening(request: HttpRequest, patient: Patient) -> Any:
    """The eligibility findings of the current intake (evaluated now; audited) and the latest signed
    screening with its status (current, expired, or invalidated by a changed intake)."""
    m = current_membership(request)
    findings = intake_actions.evaluate_current(patient, user=m.user, clinic=m.clinic)
    intake = patient.current_intake()
    return {
        "intake_version": intake.version if intake else None,
        "findings": [f.to_dict() | {"needs_reason": f.needs_reason} for f in findings],
        "latest": patient.latest_screening(),
    }


@router.post("/patients/{patient_id}/screening", response={201: ScreeningOut}, summary="Sign eligibility")
@api_access("patients.sign_screening", load={"patient": Patient})
def sign_screening(request: HttpRequest, patient: Patient, payload: ScreeningIn) -> Any:
    """Prescribers only. Each absolute, review and interaction finding needs its own reason in
    `item_reasons`; "eligible" is refused while an absolute contraindication is present."""
    m = current_membership(request)
    screening = intake_actions.sign_screening(
        user=m.user,
        clinic=m.clinic,
        patient=patient,
        decision=payload.decision,
        item_reasons=payload.item_reasons,
        reason=payload.reason,
        intake_version=payload.intake_version,
    )
    return Status(201, screening)
