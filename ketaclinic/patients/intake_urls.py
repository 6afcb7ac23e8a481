"""Intake and eligibility screening, mounted under patients/ (see patients/urls.py)."""

from __future__ import annotations

from django.urls import path

from ketaclinic.patients import intake_views as views

urlpatterns = [
    path("<int:patient_id>/intake/", views.intake_form, name="patients-intake"),
    path("<int:patient_id>/intake/v<int:version>/", views.intake_detail, name="patients-intake-detail"),
    path("intake/medication-row/", views.medication_row, name="patients-intake-medication-row"),
    path("intake/formulary-lookup/", views.formulary_lookup, name="patients-formulary-lookup"),
    path("<int:patient_id>/screening/", views.screening, name="patients-screening"),
    path("<int:patient_id>/screening/sign/", views.screening_sign, name="patients-screening-sign"),
    path(
        "<int:patient_id>/screening/<int:screening_id>/",
        views.screening_detail,
        name="patients-screening-detail",
    ),
]
