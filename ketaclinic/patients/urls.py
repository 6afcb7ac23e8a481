from __future__ import annotations

from django.urls import include, path

urlpatterns: list = [
    # Intake, eligibility screening: see intake_urls.py
    path("", include("ketaclinic.patients.intake_urls")),
]
