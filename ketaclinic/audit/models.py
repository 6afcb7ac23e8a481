"""The audit trail: append-only, hash-chained. See ``chain.py`` for the hashing rule."""

from __future__ import annotations

from typing import Any

from django.db import models


class AuditEntry(models.Model):
    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField(db_index=True)
    user = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT)
    username = models.CharField(max_length=150, blank=True)
    clinic = models.ForeignKey("accounts.Clinic", null=True, blank=True, on_delete=models.PROTECT)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    patient_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    detail = models.JSONField(default=dict, blank=True)
    client_addr = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # HMAC of ``hash`` with the audit key (seal.py); empty on entries written before seals existed.
    seal = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["seq"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["clinic", "at"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

    def chain_fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "user_id": self.user_id,
            "username": self.username,
            "clinic_id": self.clinic_id,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "patient_id": self.patient_id,
            "detail": self.detail,
            "client_addr": self.client_addr,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "seal": self.seal,
        }


class AuditHead(models.Model):
    """One row holding the newest entry's seq and hash; locking it serializes appends."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"audit head #{self.seq}"


class RowSeal(models.Model):
    """The seal of one clinical row as the application last wrote it (``rows.py``).

    ``fields`` names the columns sealed, so a column added later does not break old seals.
    """

    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    fields = models.TextField()
    seal = models.CharField(max_length=64)
    sealed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["object_type", "object_id"], name="row_seal_unique")]

    def __str__(self) -> str:
        return f"seal of {self.object_type}:{self.object_id}"
