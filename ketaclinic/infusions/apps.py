from __future__ import annotations

from django.apps import AppConfig


class InfusionsConfig(AppConfig):
    name = "ketaclinic.infusions"
    label = "infusions"
    verbose_name = "Infusion sessions"
