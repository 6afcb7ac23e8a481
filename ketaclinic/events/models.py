"""The durable event log behind the live views: one row per published event."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class Event(models.Model):
    """An event on a channel (``session:12``, ``floor:3``). Its id is the SSE ``id:`` a client resumes from.

    Rows are written in the same transaction as the change they announce, so an event exists if and
    only if that change was committed.
    """

    id = models.BigAutoField(primary_key=True)
    channel = models.CharField(max_length=100)
    clinic = models.ForeignKey(
        "accounts.Clinic", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    type = models.CharField(max_length=60, default="message")
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["channel", "id"], name="event_channel_id")]

    def __str__(self) -> str:
        return f"#{self.id} {self.channel} {self.type}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "type": self.type,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }
