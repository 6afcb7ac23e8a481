"""Patient pages: list and search, registration, demographics, weights, the chart, consent.

Views stay thin: parse the form, call the action, show its errors next to the fields.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from ketaclinic.accounts.access import ClinicRequest, clinic_view, has_permission
from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients import actions, units
from ketaclinic.patients.clinical import clinical_summary
from ketaclinic.patients.forms import (
    ConsentForm,
    ConsentTextForm,
    PatientForm,
    RegisterForm,
    WeightCorrectionForm,
    WeightForm,
    now_local,
)
from ketaclinic.patients.models import ConsentText, Patient, PregnancyStatus, WeightMeasurement
from ketaclinic.web import is_htmx, show_errors

PAGE_SIZE = 25
CHART_AUDIT_ROWS = 50


@clinic_view("patients.list")
def patients_list(request: ClinicRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    found = actions.search_patients(user=request.user, clinic=request.clinic, query=query)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    page.object_list = list(page.object_list)
    for patient in page.object_list:
        patient.age = patient.age_on(today)  # type: ignore[attr-defined]
    ctx = {"page": page, "query": query}
    if is_htmx(request):
        return render(request, "patients/_results.html", ctx)
    return render(request, "patients/list.html", ctx)


@clinic_view("patients.register")
def patients_register(request: ClinicRequest) -> HttpResponse:
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            patient = actions.register_patient(
                user=request.user, clinic=request.clinic, data=form.cleaned_data
            )
        except ValidationError as exc:
            show_errors(form, exc)
        else:
            messages.success(request, f"Registered {patient.full_name} ({patient.mrn}).")
            return redirect("patients-detail", patient_id=patient.pk)
    ctx = {"form": form, "editing": False}
    return render(request, "patients/register.html", ctx, status=400 if form.errors else 200)


@clinic_view("patients.edit_demographics", load={"patient": Patient})
def patients_edit(request: ClinicRequest, patient: Patient) -> HttpResponse:
    initial = {name: getattr(patient, name) for name in actions.DEMOGRAPHIC_FIELDS if name != "height_cm"}
    initial |= {"height": patient.height_cm, "height_unit": "cm"}
    form = PatientForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_demographics(
                user=request.user,
                clinic=request.clinic,
                patient=patient,
                data=form.cleaned_data,
            )
        except ValidationError as exc:
            show_errors(form, exc)
        else:
            messages.success(request, "Demographics saved.")
            return redirect("patients-detail", patient_id=patient.pk)
    ctx = {"form": form, "patient": patient, "editing": True}
    return render(request, "patients/register.html", ctx, status=400 if form.errors else 200)


@clinic_view("patients.view", load={"patient": Patient})
def patients_detail(request: ClinicRequest, patient: Patient) -> HttpResponse:
    actions.view_chart(user=request.user, clinic=request.clinic, patient=patient)
    ctx = chart_context(request, patient)
    return render(request, "patients/detail.html", ctx)


def chart_context(request: ClinicRequest, patient: Patient) -> dict[str, Any]:
    weights = list(
        WeightMeasurement.objects.filter(patient=patient)
        .select_related("recorded_by", "corrected_by")
        .order_by("-measured_at", "-id")
    )
    valid = [w for w in weights if not _is_corrected(w)]
    current = valid[0] if valid else None
    consents = patient.consents.select_related("text", "witness", "recorded_by").order_by("-signed_at")
    history = (
        AuditEntry.objects.filter(clinic=request.clinic, patient_id=patient.pk)
        .select_related("user")
        .order_by("-seq")[:CHART_AUDIT_ROWS]
    )
    clinical = None
    if has_permission(request.membership, "patients.view_clinical"):
        clinical = clinical_summary(patient)
    return {
        "patient": patient,
        "age": patient.age_on(timezone.localdate()),
        "weights": weights,
        "current_weight": current,
        "current_weight_lb": units.kg_to_lb(current.weight_kg) if current else None,
        "trend": weight_trend(list(reversed(valid))),
        "consents": consents,
        "history": history,
        "clinical": clinical,
        "pregnancy_flag": patient.pregnancy_status
        in (PregnancyStatus.PREGNANT, PregnancyStatus.BREASTFEEDING),
    }


def _is_corrected(weight: WeightMeasurement) -> bool:
    try:
        return weight.corrected_by is not None
    except WeightMeasurement.DoesNotExist:
        return False


def weight_trend(
    weights: list[WeightMeasurement], width: int = 560, height: int = 170
) -> dict[str, Any] | None:
    """Coordinates for a small inline SVG line chart of weight (kg) over time, oldest first."""
    if not weights:
        return None
    left, right, top, bottom = 64, 16, 14, 30  # room for the kg labels and the date labels
    times = [w.measured_at.timestamp() for w in weights]
    kgs = [float(w.weight_kg) for w in weights]
    t0, t1 = min(times), max(times)
    low, high = min(kgs), max(kgs)
    if high - low < 2:  # keep a flat series from filling the chart with noise
        mid = (high + low) / 2
        low, high = mid - 1, mid + 1
    points = []
    for w, t, kg in zip(weights, times, kgs, strict=True):
        x = left + (t - t0) / (t1 - t0) * (width - left - right) if t1 > t0 else (left + width - right) / 2
        y = top + (high - kg) / (high - low) * (height - top - bottom)
        points.append({"x": round(x, 1), "y": round(y, 1), "w": w})
    return {
        "width": width,
        "height": height,
        "left": left,
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "low": f"{low:.1f}",
        "high": f"{high:.1f}",
        "low_y": height - bottom,
        "high_y": top,
        "date_y": height - 8,
        "first": weights[0].measured_at,
        "last": weights[-1].measured_at,
        "last_x": width - right,
    }


@clinic_view("patients.record_weight", load={"patient": Patient})
def patients_weight_add(request: ClinicRequest, patient: Patient) -> HttpResponse:
    form = WeightForm(request.POST or None, initial={"measured_at": now_local(), "unit": "kg"})
    if request.method == "POST" and form.is_valid():
        try:
            actions.record_weight(
                user=request.user,
                clinic=request.clinic,
                patient=patient,
                value=form.cleaned_data["value"],
                unit=form.cleaned_data["unit"],
                measured_at=form.cleaned_data["measured_at"],
            )
        except ValidationError as exc:
            show_errors(form, exc)
        else:
            messages.success(request, "Weight recorded.")
            return redirect("patients-detail", patient_id=patient.pk)
    ctx = {"form": form, "patient": patient}
    return render(request, "patients/weight_form.html", ctx, status=400 if form.errors else 200)


@clinic_view("patients.record_weight", load={"patient": Patient, "weight": WeightMeasurement})
def patients_weight_correct(
    request: ClinicRequest, patient: Patient, weight: WeightMeasurement
) -> HttpResponse:
    if weight.patient_id != patient.pk:
        raise Http404("No such weight for this patient.")
    initial = {
        "value": weight.entered_value,
        "unit": weight.entered_unit,
        "measured_at": timezone.localtime(weight.measured_at).strftime("%Y-%m-%dT%H:%M"),
    }
    form = WeightCorrectionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.correct_weight(
                user=request.user,
                clinic=request.clinic,
                weight=weight,
                value=form.cleaned_data["value"],
                unit=form.cleaned_data["unit"],
                measured_at=form.cleaned_data["measured_at"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            show_errors(form, exc)
        else:
            messages.success(request, "Weight corrected; the original stays on the chart.")
            return redirect("patients-detail", patient_id=patient.pk)
    ctx = {"form": form, "patient": patient, "weight": weight}
    return render(request, "patients/weight_form.html", ctx, status=400 if form.errors else 200)


@clinic_view("patients.consent", load={"patient": Patient})
def patients_consent_add(request: ClinicRequest, patient: Patient) -> HttpResponse:
    initial = {"signed_at": now_local(), "signed_by_name": patient.full_name, "signer_relation": "self"}
    form = ConsentForm(request.POST or None, initial=initial, clinic=request.clinic)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            actions.record_consent(
                user=request.user,
                clinic=request.clinic,
                patient=patient,
                text=data["text"],
                signed_by_name=data["signed_by_name"],
                signer_relation=data["signer_relation"],
                signed_at=data["signed_at"],
                witness=data["witness"],
            )
        except ValidationError as exc:
            show_errors(form, exc)
        else:
            messages.success(request, "Consent recorded.")
            return redirect("patients-detail", patient_id=patient.pk)
    ctx = {"form": form, "patient": patient}
    return render(request, "patients/consent_form.html", ctx, status=400 if form.errors else 200)


@clinic_view("consent.manage_texts")
def consent_texts(request: ClinicRequest) -> HttpResponse:
    texts = (
        ConsentText.in_clinic(request.clinic).annotate(signed=Count("consents")).select_related("created_by")
    )
    initial: dict[str, Any] = {"effective_from": timezone.localdate()}
    from_id = request.GET.get("from", "")
    base = texts.filter(pk=int(from_id)).first() if from_id.isdigit() else None
    if base is not None:
        # A new version starts from the old wording; the old version itself is never edited.
        initial |= {"title": base.title, "body": base.body}
    form = ConsentTextForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            text = actions.create_consent_text(user=request.user, clinic=request.clinic, **form.cleaned_data)
        except ValidationError as exc:
            show_errors(form, exc)
        else:
            messages.success(request, f"Published {text}.")
            return redirect("patients-consent-texts")
    ctx = {"texts": texts, "form": form, "base": base}
    return render(request, "patients/consent_texts.html", ctx, status=400 if form.errors else 200)


@clinic_view("patients.view", load={"text": ConsentText})
def consent_text_detail(request: ClinicRequest, text: ConsentText) -> HttpResponse:
    versions = (
        ConsentText.in_clinic(request.clinic).filter(title=text.title).order_by("-effective_from", "-id")
    )
    ctx = {"text": text, "versions": versions}
    return render(request, "patients/consent_text.html", ctx)
