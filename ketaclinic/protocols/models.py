"""Drug library, protocols, treatment plans, dose orders, double checks and limit events.

Nothing here is edited in place once it matters: a library edit writes a new library version, a
protocol is adjusted by copying it, a signed plan or order never changes (a correcting order
supersedes the old one), and double checks and limit events are append-only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketaclinic.accounts.models import Clinic
from ketaclinic.patients.models import Indication, Patient, Screening, WeightMeasurement
from ketaclinic.protocols import limits as limits_mod
from ketaclinic.protocols.dose_calc import DoseComputation, Step


class ImmutableRecordError(Exception):
    """Raised when code tries to change a signed record; corrections are new records."""


class Drug(models.TextChoices):
    RACEMIC = "racemic", "Ketamine (racemic)"
    ESKETAMINE = "esketamine", "Esketamine"


class Basis(models.TextChoices):
    BASE = "base", "as ketamine base"
    SALT = "salt", "as ketamine HCl (salt)"


class Route(models.TextChoices):
    IV = "iv", "IV infusion"
    IM = "im", "IM injection"
    NASAL = "nasal", "Nasal spray"


class Product(models.Model):
    """A stocked product with its units. Shared by every clinic (seeded by migration 0002)."""

    code = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    drug = models.CharField(max_length=12, choices=Drug.choices)
    form = models.CharField(max_length=40)
    concentration_mg_per_ml = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    concentration_basis = models.CharField(max_length=4, choices=Basis.choices, default=Basis.BASE)
    device_mg = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["drug", "concentration_mg_per_ml", "name"]

    def __str__(self) -> str:
        return self.label

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Product]:
        return cls.objects.filter(is_active=True)

    @property
    def label(self) -> str:
        if self.device_mg is not None:
            return f"{self.name}"
        conc = f"{self.concentration_mg_per_ml.normalize():f}" if self.concentration_mg_per_ml else "?"
        return f"{self.name} ({conc} mg/mL {self.get_concentration_basis_display()})"

    def base_mg_per_ml(self) -> Decimal | None:
        from ketaclinic.protocols.units import base_mg_per_ml

        if self.concentration_mg_per_ml is None:
            return None
        return base_mg_per_ml(self.concentration_mg_per_ml, self.concentration_basis)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "drug": self.drug,
            "form": self.form,
            "concentration_mg_per_ml": None
            if self.concentration_mg_per_ml is None
            else str(self.concentration_mg_per_ml),
            "concentration_basis": self.concentration_basis,
            "device_mg": None if self.device_mg is None else str(self.device_mg),
        }


class LibraryStatus(models.TextChoices):
    PROPOSED = "proposed", "awaiting review"
    APPROVED = "approved", "approved"
    REJECTED = "rejected", "rejected"
    WITHDRAWN = "withdrawn", "withdrawn"


class DrugLibrary(models.Model):
    """One version of a clinic's drug library. Every edit writes the next version, with who and why.

    A version is proposed by one person and put in force by another (the two-person rule,
    ``actions.library``): orders are checked against the newest *approved* version only."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="drug_libraries")
    version = models.PositiveIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=300)
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=LibraryStatus.choices, default=LibraryStatus.PROPOSED)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clinic", "version"], name="library_version_unique")]
        ordering = ["-version"]
        verbose_name_plural = "drug libraries"

    def __str__(self) -> str:
        return f"drug library v{self.version} ({self.clinic})"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[DrugLibrary]:
        return cls.objects.filter(clinic=clinic)

    @classmethod
    def current_for(cls, clinic: Clinic) -> DrugLibrary | None:
        """The version in force: the newest approved one."""
        return cls.objects.filter(clinic=clinic, status=LibraryStatus.APPROVED).order_by("-version").first()

    @classmethod
    def pending_for(cls, clinic: Clinic) -> DrugLibrary | None:
        """The change awaiting a second person's review (at most one at a time)."""
        return cls.objects.filter(clinic=clinic, status=LibraryStatus.PROPOSED).order_by("-version").first()

    def entries_by_key(self) -> dict[str, dict[str, Any]]:
        """{key: entry dict}; reads prefetched entries (``prefetch_related("entries__product")``)."""
        return {e.key: e.to_dict() for e in self.entries.all()}


class LibraryEntry(models.Model):
    """Limits for one care area / protocol key in one library version. Never edited after creation."""

    library = models.ForeignKey(DrugLibrary, on_delete=models.PROTECT, related_name="entries")
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=200)
    route = models.CharField(max_length=8, choices=Route.choices)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # {kind: Limit.to_dict()} for every kind in limits.KINDS; open limits say so explicitly.
    limits = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["library", "key"], name="library_entry_key_unique")]
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.name} (v{self.library.version})"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[LibraryEntry]:
        return cls.objects.filter(library__clinic=clinic)

    def parsed_limits(self) -> dict[str, limits_mod.Limit]:
        return limits_mod.parse_limits(self.limits)

    def rows(self) -> list[dict[str, Any]]:
        """One row per kind for display: label, unit, summary, source."""
        parsed = self.parsed_limits()
        return [
            {
                "key": key,
                "label": kind.label,
                "unit": kind.unit,
                "limit": parsed[key],
                "text": parsed[key].describe(kind.unit),
                "source": parsed[key].source,
            }
            for key, kind in limits_mod.KINDS.items()
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "route": self.route,
            "product": self.product.code if self.product else None,
            "library_version": self.library.version,
            "limits": self.limits,
        }


class Protocol(models.Model):
    """A clinic's copy of a template (or of another protocol), adjusted. Retired, never edited."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="protocols")
    code = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    template_code = models.CharField(max_length=60)
    copied_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="copies"
    )
    route = models.CharField(max_length=8, choices=Route.choices)
    drug = models.CharField(max_length=12, choices=Drug.choices)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    library_key = models.SlugField(max_length=60)
    # Dose rule, titration, windows, schedule, monitoring, gates, discharge, response, sources, flags:
    # catalog.Template.to_config() with the clinic's adjustments.
    config = models.JSONField(default=dict)
    adjustments = models.JSONField(default=list, blank=True)  # [{field, from, to}]
    adjustment_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clinic", "code"], name="protocol_code_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Protocol]:
        return cls.objects.filter(clinic=clinic)

    @property
    def is_active(self) -> bool:
        return self.retired_at is None

    @property
    def dose(self) -> dict[str, Any]:
        return dict(self.config.get("dose") or {})

    @property
    def titration(self) -> dict[str, Any] | None:
        titration = self.config.get("titration")
        return dict(titration) if titration else None

    @property
    def weight_window_days(self) -> int:
        return int(self.config.get("weight_window_days", 30))

    @property
    def observation_min(self) -> int:
        return int(self.config.get("observation_min", 120))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "code": self.code,
            "name": self.name,
            "template_code": self.template_code,
            "route": self.route,
            "drug": self.drug,
            "product": self.product.to_dict(),
            "library_key": self.library_key,
            "config": self.config,
            "active": self.is_active,
        }


class PlanStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"


class ResponseRule(models.TextChoices):
    PCT_REDUCTION = "pct_reduction", "% reduction from baseline"
    POINTS_REDUCTION = "points_reduction", "points reduction from baseline"


class TreatmentPlan(models.Model):
    """A patient, a protocol and an indication, with goals. Signed by a prescriber, then fixed."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="treatment_plans")
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="plans")
    indication = models.CharField(max_length=20, choices=Indication.choices)
    goal_scale = models.CharField(max_length=20)
    response_rule = models.CharField(max_length=20, choices=ResponseRule.choices)
    response_value = models.DecimalField(max_digits=6, decimal_places=2)
    baseline_score = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    sessions_planned = models.PositiveSmallIntegerField()
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    screening = models.ForeignKey(
        Screening, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.protocol.name} for {self.patient}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[TreatmentPlan]:
        return cls.objects.filter(patient__clinic=clinic)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding and self.status == PlanStatus.SIGNED:
            stored = TreatmentPlan.objects.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored == PlanStatus.SIGNED:
                raise ImmutableRecordError("A signed treatment plan cannot change; write a new plan.")
        super().save(*args, **kwargs)

    @property
    def goal_text(self) -> str:
        from ketaclinic.protocols.catalog import SCALES

        value = f"{self.response_value.normalize():f}"
        unit = "%" if self.response_rule == ResponseRule.PCT_REDUCTION else " points"
        return f"Response: ≥{value}{unit} reduction on {SCALES.get(self.goal_scale, self.goal_scale)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "patient_id": self.patient_id,
            "protocol_id": self.protocol_id,
            "indication": self.indication,
            "goal_scale": self.goal_scale,
            "response_rule": self.response_rule,
            "response_value": str(self.response_value),
            "baseline_score": None if self.baseline_score is None else str(self.baseline_score),
            "sessions_planned": self.sessions_planned,
            "status": self.status,
            "screening_id": self.screening_id,
            "signed_by": self.signed_by.username if self.signed_by else None,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
        }


class OrderStatus(models.TextChoices):
    SIGNED = "signed", "Signed, awaiting double check"
    BLOCKED = "blocked", "Blocked: double check mismatch"
    VERIFIED = "verified", "Verified"
    SUPERSEDED = "superseded", "Superseded by a correction"


# After signing, only the workflow state may move; every clinical number is fixed.
ORDER_MUTABLE_FIELDS = frozenset({"status", "verified_by", "verified_at"})


class DoseOrder(models.Model):
    """A signed dose for one session: every number the session needs, with its units.

    The live session (``infusions``) reads: ``route``, ``product``, ``dose_mg``, ``volume_ml``,
    ``concentration_base_mg_per_ml``, ``rate_ml_per_h``, ``duration_min``, ``titration_steps``,
    ``bolus_mg``, ``devices``, ``protocol_snapshot`` (monitoring, gates, observation, discharge),
    ``library`` (the version checked), ``signed_by/at``, ``verified_by/at`` and ``status``;
    ``is_ready`` says whether the dose may be given.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="dose_orders")
    plan = models.ForeignKey(TreatmentPlan, on_delete=models.PROTECT, related_name="orders")
    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="+")
    protocol_snapshot = models.JSONField()
    library = models.ForeignKey(DrugLibrary, on_delete=models.PROTECT, related_name="orders")
    library_entry = models.ForeignKey(LibraryEntry, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    route = models.CharField(max_length=8, choices=Route.choices)
    drug = models.CharField(max_length=12, choices=Drug.choices)
    scheduled_for = models.DateTimeField()
    session_number = models.PositiveSmallIntegerField()

    weight = models.ForeignKey(WeightMeasurement, on_delete=models.PROTECT, related_name="+")
    weight_kg = models.DecimalField(max_digits=6, decimal_places=2)
    weight_entered_value = models.DecimalField(max_digits=7, decimal_places=2)
    weight_entered_unit = models.CharField(max_length=2)
    weight_measured_at = models.DateTimeField()

    dose_mg_per_kg = models.DecimalField(max_digits=8, decimal_places=4)
    dose_mg = models.DecimalField("dose (mg base)", max_digits=8, decimal_places=1)
    dose_mg_salt = models.DecimalField(
        "HCl equivalent (mg)", max_digits=8, decimal_places=1, null=True, blank=True
    )
    concentration_mg_per_ml = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    concentration_basis = models.CharField(max_length=4, choices=Basis.choices, default=Basis.BASE)
    concentration_base_mg_per_ml = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    volume_ml = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    duration_min = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    rate_mg_per_kg_per_h = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    rate_ml_per_h = models.DecimalField(
        "starting pump rate (mL/h)", max_digits=8, decimal_places=1, null=True, blank=True
    )
    bolus_mg = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    bolus_ml = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    cumulative_mg = models.DecimalField(max_digits=8, decimal_places=1)
    devices = models.PositiveSmallIntegerField(null=True, blank=True)
    titration_steps = models.JSONField(default=list, blank=True)
    regimen_text = models.CharField(max_length=400)

    # {"breaches": [...], "not_applicable": [...], "open": [...], "values": {...}}
    limit_check = models.JSONField(default=dict)
    override_reason = models.TextField(blank=True)
    prediction_summary = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=12, choices=OrderStatus.choices, default=OrderStatus.SIGNED)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(default=timezone.now)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    correction_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        indexes = [models.Index(fields=["patient", "scheduled_for"])]

    def __str__(self) -> str:
        return f"order #{self.pk}: {self.dose_mg} mg {self.get_route_display()} for {self.patient}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[DoseOrder]:
        return cls.objects.filter(patient__clinic=clinic)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is None or not set(fields) <= ORDER_MUTABLE_FIELDS:
                raise ImmutableRecordError(
                    "A signed dose order cannot change; write a correcting order that supersedes it."
                )
        super().save(*args, **kwargs)

    @property
    def is_ready(self) -> bool:
        """Signed and independently double-checked: the dose may be prepared and given."""
        return self.status == OrderStatus.VERIFIED

    def computation(self) -> DoseComputation:
        """The order's numbers as the pure ``dosing.DoseComputation`` (for the engine and the handout)."""
        steps = tuple(
            Step(
                start_min=Decimal(s["start_min"]),
                end_min=Decimal(s["end_min"]),
                rate_mg_per_kg_per_h=Decimal(s["rate_mg_per_kg_per_h"]),
                rate_mg_per_h=Decimal(s["rate_mg_per_h"]),
                rate_ml_per_h=None if s.get("rate_ml_per_h") is None else Decimal(s["rate_ml_per_h"]),
                mg=Decimal(s["mg"]),
            )
            for s in self.titration_steps
        )
        return DoseComputation(
            route=self.route,  # type: ignore[arg-type]
            drug=self.drug,
            weight_kg=self.weight_kg,
            dose_mg_per_kg=self.dose_mg_per_kg,
            dose_mg=self.dose_mg,
            dose_mg_salt=self.dose_mg_salt,
            volume_ml=self.volume_ml,
            concentration_base_mg_per_ml=self.concentration_base_mg_per_ml,
            duration_min=self.duration_min,
            rate_mg_per_kg_per_h=self.rate_mg_per_kg_per_h,
            rate_ml_per_h=self.rate_ml_per_h,
            bolus_mg=self.bolus_mg,
            bolus_ml=self.bolus_ml,
            cumulative_mg=self.cumulative_mg,
            devices=self.devices,
            steps=steps,
        )

    @property
    def breaches(self) -> list[dict[str, Any]]:
        return list(self.limit_check.get("breaches", []))

    @property
    def overridden(self) -> list[dict[str, Any]]:
        return [b for b in self.breaches if b.get("severity") == "soft"]

    def to_dict(self) -> dict[str, Any]:
        def s(v: Any) -> Any:
            return None if v is None else str(v)

        return {
            "id": self.pk,
            "patient_id": self.patient_id,
            "plan_id": self.plan_id,
            "protocol_id": self.protocol_id,
            "library_version": self.library.version,
            "product": self.product.to_dict(),
            "route": self.route,
            "drug": self.drug,
            "scheduled_for": self.scheduled_for.isoformat(),
            "session_number": self.session_number,
            "weight": {
                "kg": s(self.weight_kg),
                "entered_value": s(self.weight_entered_value),
                "entered_unit": self.weight_entered_unit,
                "measured_at": self.weight_measured_at.isoformat(),
            },
            "dose_mg_per_kg": s(self.dose_mg_per_kg),
            "dose_mg_base": s(self.dose_mg),
            "dose_mg_hcl_salt": s(self.dose_mg_salt),
            "concentration": {
                "label_mg_per_ml": s(self.concentration_mg_per_ml),
                "label_basis": self.concentration_basis,
                "base_mg_per_ml": s(self.concentration_base_mg_per_ml),
            },
            "volume_ml": s(self.volume_ml),
            "duration_min": s(self.duration_min),
            "rate_mg_per_kg_per_h": s(self.rate_mg_per_kg_per_h),
            "rate_ml_per_h": s(self.rate_ml_per_h),
            "bolus_mg": s(self.bolus_mg),
            "cumulative_mg": s(self.cumulative_mg),
            "devices": self.devices,
            "titration_steps": self.titration_steps,
            "regimen": self.regimen_text,
            "limit_check": self.limit_check,
            "override_reason": self.override_reason,
            "status": self.status,
            "signed_by": self.signed_by.username,
            "signed_at": self.signed_at.isoformat(),
            "verified_by": self.verified_by.username if self.verified_by else None,
            "verified_at": self.verified_at.isoformat() if self.verified_at else None,
            "supersedes": self.supersedes_id,
            "correction_reason": self.correction_reason,
        }


class DoubleCheck(models.Model):
    """A nurse's independent re-entry of weight and dose for an order. Append-only."""

    order = models.ForeignKey(DoseOrder, on_delete=models.PROTECT, related_name="double_checks")
    checked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    checked_at = models.DateTimeField(default=timezone.now)
    entered_weight_value = models.DecimalField(max_digits=7, decimal_places=2)
    entered_weight_unit = models.CharField(max_length=2)
    entered_weight_kg = models.DecimalField(max_digits=6, decimal_places=2)
    entered_dose_mg = models.DecimalField(max_digits=8, decimal_places=1)
    entered_rate_ml_per_h = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    matched = models.BooleanField()
    mismatches = models.JSONField(default=list, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return f"double check of order {self.order_id}: {'match' if self.matched else 'MISMATCH'}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[DoubleCheck]:
        return cls.objects.filter(order__patient__clinic=clinic)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecordError("A double check is a record of what was entered; it cannot change.")
        super().save(*args, **kwargs)


class LimitEventKind(models.TextChoices):
    OVERRIDE = "override", "Soft limit overridden"
    REFUSAL = "refusal", "Hard limit refused"


class LimitEvent(models.Model):
    """One soft-limit override or hard-limit refusal, for the limits report. Append-only."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    event = models.CharField(max_length=10, choices=LimitEventKind.choices)
    patient = models.ForeignKey(Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    protocol = models.ForeignKey(Protocol, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    library = models.ForeignKey(
        DrugLibrary, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    order = models.ForeignKey(
        DoseOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="limit_events"
    )
    kind = models.CharField(max_length=40)
    severity = models.CharField(max_length=4)
    limit_value = models.DecimalField(max_digits=10, decimal_places=4)
    value = models.DecimalField(max_digits=10, decimal_places=4)
    unit = models.CharField(max_length=20)
    message = models.CharField(max_length=300)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["clinic", "at"])]

    def __str__(self) -> str:
        return f"{self.event} {self.kind} at {self.at:%Y-%m-%d}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[LimitEvent]:
        return cls.objects.filter(clinic=clinic)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecordError("Limit events are append-only.")
        super().save(*args, **kwargs)
