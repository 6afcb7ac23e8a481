from __future__ import annotations

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "ketaclinic.events"
    label = "events"
    verbose_name = "Live events"
