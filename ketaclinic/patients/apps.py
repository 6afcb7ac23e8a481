from __future__ import annotations

from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "ketaclinic.patients"
    label = "patients"
    verbose_name = "Patients, intake and eligibility"
