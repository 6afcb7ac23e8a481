"""Intake and screening over the API, through the intake actions."""

from __future__ import annotations

from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients.models import Intake, Screening
from tests.api.conftest import error_fields

INTAKE = {
    "history": {"uncontrolled_hypertension": {"present": True, "note": "on two drugs"}},
    "medications": [{"name": "lamotrigine", "dose_text": "100 mg twice daily"}, {"name": "zzfoo"}],
    "dast10_answers": [False] * 10,
    "baseline_systolic_mmhg": 150,
    "baseline_diastolic_mmhg": 92,
    "baseline_heart_rate_bpm": 70,
}


def test_intake_round_trip(api_as, nurse, frontdesk, patient):
    api = api_as(nurse)
    assert api.get(f"/api/patients/{patient.pk}/intake").status_code == 404
    response = api.post(f"/api/patients/{patient.pk}/intake", INTAKE)
    assert response.status_code == 201, response.content
    body = response.json()
    # DAST-10 item 3 is reverse-scored: "no" to "always able to stop?" counts one point.
    assert body["version"] == 1 and body["dast10_score"] == 1
    meds = {m["name"]: m for m in body["medications"]}
    assert meds["lamotrigine"]["recognised"] and not meds["zzfoo"]["recognised"]
    intake = Intake.objects.get(patient=patient)
    assert intake.taken_by == nurse and intake.history["uncontrolled_hypertension"]["present"] is True
    assert AuditEntry.objects.get(action="intake.create").patient_id == patient.pk

    got = api.get(f"/api/patients/{patient.pk}/intake")
    assert got.status_code == 200 and got.json()["id"] == intake.pk
    assert AuditEntry.objects.filter(action="patient.intake_view", user=nurse).count() == 1
    # The front desk does not see the clinical record.
    assert api_as(frontdesk).get(f"/api/patients/{patient.pk}/intake").status_code == 403


def test_new_version_needs_a_reason(api_as, nurse, patient):
    api = api_as(nurse)
    api.post(f"/api/patients/{patient.pk}/intake", INTAKE)
    changed = INTAKE | {"baseline_heart_rate_bpm": 75}
    response = api.post(f"/api/patients/{patient.pk}/intake", changed)
    assert response.status_code == 422 and "change_reason" in error_fields(response)
    response = api.post(f"/api/patients/{patient.pk}/intake", changed | {"change_reason": "rechecked"})
    assert response.status_code == 201 and response.json()["version"] == 2
    assert patient.intakes.count() == 2


def test_intake_bad_input(api_as, nurse, patient):
    api = api_as(nurse)
    response = api.post(f"/api/patients/{patient.pk}/intake", INTAKE | {"baseline_systolic_mmhg": "high"})
    assert response.status_code == 422 and "baseline_systolic_mmhg" in error_fields(response)
    response = api.post(f"/api/patients/{patient.pk}/intake", INTAKE | {"baseline_systolic_mmhg": 900})
    assert response.status_code == 422 and "baseline_systolic_mmhg" in error_fields(response)
    response = api.post(
        f"/api/patients/{patient.pk}/intake", INTAKE | {"history": {"flying": {"present": True}}}
    )
    assert response.status_code == 422 and "history.flying" in error_fields(response)
    response = api.post(f"/api/patients/{patient.pk}/intake", INTAKE | {"dast10_answers": [True]})
    assert response.status_code == 422 and "dast10_answers" in error_fields(response)
    assert not patient.intakes.exists()


def test_screening_findings_and_signing(api_as, nurse, prescriber, auditor, patient):
    api_as(nurse).post(f"/api/patients/{patient.pk}/intake", INTAKE)
    state = api_as(prescriber).get(f"/api/patients/{patient.pk}/screening")
    assert state.status_code == 200
    body = state.json()
    assert body["intake_version"] == 1 and body["latest"] is None
    needing = [f["code"] for f in body["findings"] if f["needs_reason"]]
    assert needing, body["findings"]
    assert all(f["source"] for f in body["findings"])
    assert AuditEntry.objects.filter(action="patient.screening_evaluate", user=prescriber).count() == 1

    sign = {"decision": "eligible_with_precautions", "reason": "benefit outweighs risk", "intake_version": 1}
    # Nurses and auditors may read, not sign.
    assert api_as(nurse).post(f"/api/patients/{patient.pk}/screening", sign).status_code == 403
    assert api_as(auditor).post(f"/api/patients/{patient.pk}/screening", sign).status_code == 403
    response = api_as(prescriber).post(f"/api/patients/{patient.pk}/screening", sign)
    assert response.status_code == 422
    assert f"item_reasons.{needing[0]}" in error_fields(response)
    assert not Screening.objects.exists()

    reasons = {code: "reviewed with the patient" for code in needing}
    response = api_as(prescriber).post(
        f"/api/patients/{patient.pk}/screening", sign | {"item_reasons": reasons}
    )
    assert response.status_code == 201, response.content
    screening = Screening.objects.get()
    assert screening.signed_by == prescriber and screening.decision == "eligible_with_precautions"
    assert response.json()["status"] == "current"
    assert AuditEntry.objects.get(action="screening.sign").user == prescriber

    latest = api_as(auditor).get(f"/api/patients/{patient.pk}/screening").json()["latest"]
    assert latest["id"] == screening.pk and latest["signed_by"] == "priya"


def test_sign_refuses_stale_version_and_unknown_decision(api_as, nurse, prescriber, patient):
    api_as(nurse).post(f"/api/patients/{patient.pk}/intake", INTAKE)
    url = f"/api/patients/{patient.pk}/screening"
    response = api_as(prescriber).post(url, {"decision": "maybe", "reason": "x"})
    assert response.status_code == 422 and "decision" in error_fields(response)
    response = api_as(prescriber).post(url, {"decision": "not_eligible", "reason": "x", "intake_version": 7})
    assert response.status_code == 422 and "intake_version" in error_fields(response)
    assert not Screening.objects.exists()
