from __future__ import annotations

from django.apps import AppConfig


class ProtocolsConfig(AppConfig):
    name = "ketaclinic.protocols"
    label = "protocols"
    verbose_name = "Drug library, protocols, plans and dose orders"
