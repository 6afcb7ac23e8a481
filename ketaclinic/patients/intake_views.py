"""Intake and eligibility-screening pages. Thin: parse, call an action, render."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from ketaclinic.accounts.access import ClinicRequest, clinic_view
from ketaclinic.patients import clinical, dast, eligibility, intake_actions
from ketaclinic.patients import formulary as fx
from ketaclinic.patients.intake_forms import (
    BLANK_MEDICATION_ROWS,
    IntakeForm,
    ScreeningForm,
    apply_intake_errors,
    initial_from,
    medication_form_rows,
    medications_from_post,
)
from ketaclinic.patients.models import Patient, Screening


@clinic_view("patients.intake", load={"patient": Patient})
def intake_form(request: ClinicRequest, patient: Patient) -> HttpResponse:
    current = patient.current_intake()
    status = 200
    if request.method == "POST":
        form = IntakeForm(request.POST)
        meds = medications_from_post(request.POST)
        med_errors: dict[int, dict[str, str]] = {}
        if form.is_valid():
            try:
                intake = intake_actions.save_intake(
                    user=request.user,
                    clinic=request.clinic,
                    patient=patient,
                    data=form.to_data(meds),
                )
            except ValidationError as exc:
                med_errors = apply_intake_errors(form, exc)
            else:
                messages.success(request, f"Intake version {intake.version} saved.")
                return redirect("patients-intake-detail", patient_id=patient.pk, version=intake.version)
        status = 400
        med_rows = medication_form_rows(meds, med_errors)
    else:
        data = intake_actions.intake_as_data(current) if current else {}
        form = IntakeForm(initial=initial_from(data))
        med_rows = medication_form_rows(data.get("medications", []), blanks=BLANK_MEDICATION_ROWS)
        if current is not None:
            intake_actions.record_read(
                "patient.intake_view",
                user=request.user,
                clinic=request.clinic,
                patient=patient,
                obj=current,
                detail={"version": current.version, "page": "form"},
            )
    ctx = {
        "patient": patient,
        "form": form,
        "med_rows": med_rows,
        "current": current,
        "dast_lead_in": dast.LEAD_IN,
    }
    return render(request, "patients/intake_form.html", ctx, status=status)


@clinic_view("patients.view_clinical", load={"patient": Patient})
def intake_detail(request: ClinicRequest, patient: Patient, version: int) -> HttpResponse:
    versions = list(patient.intakes.select_related("taken_by").order_by("-version"))
    intake = next((i for i in versions if i.version == version), None)
    if intake is None:
        raise Http404("No such intake version for this patient.")
    meds = list(intake.medications.all())
    intake_actions.record_read(
        "patient.intake_view",
        user=request.user,
        clinic=request.clinic,
        patient=patient,
        obj=intake,
        detail={"version": intake.version},
    )
    ctx = {
        "patient": patient,
        "intake": intake,
        "is_current": intake.pk == versions[0].pk,
        "versions": versions,
        "medications": clinical.medication_rows(meds),
        "history_rows": clinical.history_rows(intake),
        "dast": clinical.dast_summary(intake),
        "dast_items": _dast_answers(intake),
        "groups": eligibility.grouped(clinical.findings_for(intake, meds)),
    }
    return render(request, "patients/intake_detail.html", ctx)


def _dast_answers(intake: object) -> list[tuple[str, str]]:
    answers = getattr(intake, "dast10_answers", None) or []
    return [(text, "Yes" if a else "No") for text, a in zip(dast.ITEMS, answers, strict=False)]


@require_GET
@clinic_view("patients.intake")
def medication_row(request: ClinicRequest) -> HttpResponse:
    """One blank medication row, appended to the intake form by htmx."""
    row: dict[str, object] = {"name": "", "dose_text": "", "daily_dose_mg": None, "errors": {}}
    return render(request, "patients/intake_med_row.html", {"row": row})


@require_GET
@clinic_view("patients.intake")
def formulary_lookup(request: ClinicRequest) -> HttpResponse:
    """What the formulary makes of a name, shown beside the medication row as the nurse types."""
    name = request.GET.get("med_name", "").strip()[:120]
    match = fx.match(name) if name else None
    return render(request, "patients/intake_formulary_match.html", {"match": match})


def _screening_ctx(request: ClinicRequest, patient: Patient, form: ScreeningForm | None) -> dict[str, object]:
    latest = patient.latest_screening()
    return {
        "patient": patient,
        "intake": patient.current_intake(),
        "form": form,
        "groups": eligibility.grouped(form.findings) if form else [],
        "latest": latest,
        "latest_status": latest.status() if latest else None,
        "previous": patient.screenings.select_related("signed_by", "intake").order_by("-signed_at", "-id")[
            :10
        ],
        "rules_version": eligibility.RULES_VERSION,
        "valid_months": settings.SCREENING_VALID_MONTHS,
    }


@clinic_view("patients.view_clinical", load={"patient": Patient})
def screening(request: ClinicRequest, patient: Patient) -> HttpResponse:
    findings = intake_actions.evaluate_current(patient, user=request.user, clinic=request.clinic)
    intake = patient.current_intake()
    form = ScreeningForm(
        findings=findings,
        user=request.user,
        initial={"intake_version": intake.version if intake else None},
    )
    return render(request, "patients/screening.html", _screening_ctx(request, patient, form))


@clinic_view("patients.sign_screening", load={"patient": Patient})
@require_POST
def screening_sign(request: ClinicRequest, patient: Patient) -> HttpResponse:
    # Not audited as a read: the signature (or the refusal shown) is the event.
    intake = patient.current_intake()
    findings = clinical.findings_for(intake) if intake is not None else []
    form = ScreeningForm(request.POST, findings=findings, user=request.user)
    if form.is_valid():
        try:
            signed = intake_actions.sign_screening(
                user=request.user,
                clinic=request.clinic,
                patient=patient,
                decision=form.cleaned_data["decision"],
                item_reasons=form.item_reasons(),
                reason=form.cleaned_data["reason"],
                intake_version=form.cleaned_data["intake_version"],
            )
        except ValidationError as exc:
            form.apply_errors(exc)
        else:
            messages.success(request, f"Screening signed: {signed.get_decision_display()}.")
            return redirect("patients-screening-detail", patient_id=patient.pk, screening_id=signed.pk)
    return render(request, "patients/screening.html", _screening_ctx(request, patient, form), status=400)


@clinic_view("patients.view_clinical", load={"patient": Patient, "screening": Screening})
def screening_detail(request: ClinicRequest, patient: Patient, screening: Screening) -> HttpResponse:
    if screening.patient_id != patient.pk:
        raise Http404("No such screening for this patient.")
    intake_actions.record_read(
        "patient.screening_view",
        user=request.user,
        clinic=request.clinic,
        patient=patient,
        obj=screening,
    )
    findings = clinical.snapshot_findings(screening)
    ctx = {
        "patient": patient,
        "screening": screening,
        "status": screening.status(),
        "rows": [(f, screening.item_reasons.get(f.code, "")) for f in findings],
        "groups": eligibility.grouped(findings),
    }
    return render(request, "patients/screening_detail.html", ctx)
