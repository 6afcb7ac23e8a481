from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InfusionsConfig(AppConfig):
    name = "ketaclinic.infusions"
    label = "infusions"
    verbose_name = "Infusion sessions"

    def ready(self) -> None:
        from ketaclinic.infusions.tasks import ensure_schedule_after_migrate

        # The periodic checks' schedule follows the settings (not a data migration, which would
        # freeze the interval); `ketaclinic worker` also ensures it at start.
        post_migrate.connect(ensure_schedule_after_migrate, sender=self, dispatch_uid="infusions-schedule")
