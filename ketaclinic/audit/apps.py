from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "ketaclinic.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from ketaclinic.audit import rows

        rows.connect()  # every save of a clinical row seals it (rows.py)
