from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from ketaclinic.patients import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.patients_list, name="patients-list"),
    path("register/", views.patients_register, name="patients-register"),
    path("<int:patient_id>/", views.patients_detail, name="patients-detail"),
    path("<int:patient_id>/edit/", views.patients_edit, name="patients-edit"),
    path("<int:patient_id>/weights/add/", views.patients_weight_add, name="patients-weight-add"),
    path(
        "<int:patient_id>/weights/<int:weight_id>/correct/",
        views.patients_weight_correct,
        name="patients-weight-correct",
    ),
    path("<int:patient_id>/consents/add/", views.patients_consent_add, name="patients-consent-add"),
    path("consent-texts/", views.consent_texts, name="patients-consent-texts"),
    path("consent-texts/<int:text_id>/", views.consent_text_detail, name="patients-consent-text"),
    # Intake, eligibility screening: see intake_urls.py
    path("", include("ketaclinic.patients.intake_urls")),
]
