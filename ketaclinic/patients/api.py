"""Patients over the API: search, register, read, edit demographics, weights, consents.

Every operation calls the action the pages call (``ketaclinic.patients.actions``); reads of a
patient's record are audited there or through ``intake_actions.record_read``.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status

from ketaclinic.accounts.api_access import MAX_OFFSET, api_access, current_membership
from ketaclinic.patients import actions, intake_actions
from ketaclinic.patients.models import ConsentText, Patient, WeightMeasurement
from ketaclinic.patients.schemas import (
    ConsentIn,
    ConsentOut,
    ConsentTextOut,
    PatientIn,
    PatientOut,
    PatientPatch,
    PatientSummary,
    WeightCorrectionIn,
    WeightIn,
    WeightOut,
)
from ketaclinic.web import StrictSchema

router = Router(tags=["patients"])


class SearchQuery(StrictSchema):
    q: str = Field("", max_length=100, description="Date of birth, MRN prefix, or name parts")
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class PatientPage(Schema):
    count: int
    items: list[PatientSummary]


@router.get("/patients", response=PatientPage, summary="List or search patients")
@api_access("patients.list")
def list_patients(request: HttpRequest, filters: Query[SearchQuery]) -> Any:
    """`q` matches a date of birth (YYYY-MM-DD or MM/DD/YYYY), the start of an MRN, or name parts.
    A search with terms is audited."""
    m = current_membership(request)
    found = actions.search_patients(user=m.user, clinic=m.clinic, query=filters.q)
    found = found.order_by("family_name", "given_name", "pk")
    return {"count": found.count(), "items": list(found[filters.offset : filters.offset + filters.limit])}


@router.post("/patients", response={201: PatientOut}, summary="Register a patient")
@api_access("patients.register")
def register_patient(request: HttpRequest, payload: PatientIn) -> Any:
    m = current_membership(request)
    data = payload.dict()
    if data["weight"] is None:
        data.pop("weight")
    patient = actions.register_patient(user=m.user, clinic=m.clinic, data=data)
    return Status(201, patient)


@router.get("/patients/{patient_id}", response=PatientOut, summary="Read a patient (audited)")
@api_access("patients.view", load={"patient": Patient})
def get_patient(request: HttpRequest, patient: Patient) -> Any:
    m = current_membership(request)
    actions.view_chart(user=m.user, clinic=m.clinic, patient=patient)
    return patient


def demographics_of(patient: Patient) -> dict[str, Any]:
    """A patient's current demographics in the shape ``update_demographics`` takes."""
    data = {name: getattr(patient, name) for name in actions.TEXT_FIELDS}
    data |= {
        "date_of_birth": patient.date_of_birth,
        "sex": patient.sex,
        "height": patient.height_cm,
        "height_unit": "cm",
        "indications": list(patient.indications),
        "pregnancy_status": patient.pregnancy_status,
    }
    return data


@router.patch("/patients/{patient_id}", response=PatientOut, summary="Change demographics")
@api_access("patients.edit_demographics", load={"patient": Patient})
def update_patient(request: HttpRequest, patient: Patient, payload: PatientPatch) -> Any:
    """Send only the fields that change; the audit entry lists each change as [old, new]."""
    m = current_membership(request)
    changes = payload.dict(exclude_unset=True)
    if "height" in changes and "height_unit" not in changes:
        changes["height_unit"] = "cm"
    data = demographics_of(patient) | changes
    return actions.update_demographics(user=m.user, clinic=m.clinic, patient=patient, data=data)


@router.get("/patients/{patient_id}/weights", response=list[WeightOut], summary="Weight history (audited)")
@api_access("patients.view", load={"patient": Patient})
def list_weights(request: HttpRequest, patient: Patient) -> Any:
    """All measurements, newest first, corrections included; `superseded` marks corrected ones."""
    m = current_membership(request)
    weights = list(
        WeightMeasurement.objects.filter(patient=patient).select_related("recorded_by", "corrected_by")
    )
    intake_actions.record_read("patient.weights_view", user=m.user, clinic=m.clinic, patient=patient)
    return weights


@router.post("/patients/{patient_id}/weights", response={201: WeightOut}, summary="Record a weight")
@api_access("patients.record_weight", load={"patient": Patient})
def add_weight(request: HttpRequest, patient: Patient, payload: WeightIn) -> Any:
    m = current_membership(request)
    weight = actions.record_weight(
        user=m.user,
        clinic=m.clinic,
        patient=patient,
        value=payload.value,
        unit=payload.unit,
        measured_at=payload.measured_at,
    )
    return Status(201, weight)


@router.post(
    "/patients/{patient_id}/weights/{weight_id}/corrections",
    response={201: WeightOut},
    summary="Correct a weight (the original is kept)",
)
@api_access("patients.record_weight", load={"patient": Patient, "weight": WeightMeasurement})
def correct_weight(
    request: HttpRequest, patient: Patient, weight: WeightMeasurement, payload: WeightCorrectionIn
) -> Any:
    if weight.patient_id != patient.pk:
        raise Http404("No such weight of this patient.")
    m = current_membership(request)
    correction = actions.correct_weight(
        user=m.user,
        clinic=m.clinic,
        weight=weight,
        value=payload.value,
        unit=payload.unit,
        reason=payload.reason,
        measured_at=payload.measured_at,
    )
    return Status(201, correction)


@router.get("/consent-texts", response=list[ConsentTextOut], summary="Consent texts of the clinic")
@api_access("patients.list")
def list_consent_texts(request: HttpRequest) -> Any:
    return ConsentText.in_clinic(current_membership(request).clinic).order_by("title", "-effective_from")


@router.get("/patients/{patient_id}/consents", response=list[ConsentOut], summary="Consents (audited)")
@api_access("patients.view", load={"patient": Patient})
def list_consents(request: HttpRequest, patient: Patient) -> Any:
    m = current_membership(request)
    consents = list(patient.consents.select_related("text", "witness", "recorded_by"))
    intake_actions.record_read("patient.consents_view", user=m.user, clinic=m.clinic, patient=patient)
    return consents


@router.post("/patients/{patient_id}/consents", response={201: ConsentOut}, summary="Record a consent")
@api_access("patients.consent", load={"patient": Patient})
def record_consent(request: HttpRequest, patient: Patient, payload: ConsentIn) -> Any:
    m = current_membership(request)
    consent = actions.record_consent(
        user=m.user,
        clinic=m.clinic,
        patient=patient,
        text=payload.text_id,
        signed_by_name=payload.signed_by_name,
        signer_relation=payload.signer_relation,
        signed_at=payload.signed_at,
        witness=payload.witness_id,
    )
    return Status(201, consent)
