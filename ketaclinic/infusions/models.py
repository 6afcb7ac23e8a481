"""Infusion sessions, their state history, observations and alerts.

Observations are never edited: a correction is a new observation of the same kind whose
``corrects`` points at the one it replaces, with a reason and its author. A withdrawal (an entry
made in error as a whole) is such a row with ``withdrawn`` set and no values: the withdrawn entry
and the withdrawal both leave ``Observation.current()``. An observation submitted twice with the
same ``idempotency_key`` is stored once.

A session points at the signed dose order it runs (``protocols.DoseOrder``, issue 4).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketaclinic.accounts.models import Clinic
from ketaclinic.infusions.states import LABELS, State


class SessionState(models.TextChoices):
    SCHEDULED = State.SCHEDULED, LABELS[State.SCHEDULED]
    CHECKED_IN = State.CHECKED_IN, LABELS[State.CHECKED_IN]
    PREDOSE_DONE = State.PREDOSE_DONE, LABELS[State.PREDOSE_DONE]
    DOSING = State.DOSING, LABELS[State.DOSING]
    PAUSED = State.PAUSED, LABELS[State.PAUSED]
    RECOVERY = State.RECOVERY, LABELS[State.RECOVERY]
    DISCHARGED = State.DISCHARGED, LABELS[State.DISCHARGED]
    ABORTED = State.ABORTED, LABELS[State.ABORTED]


class Session(models.Model):
    """One visit in a chair, from scheduling to discharge (or abort)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="infusion_sessions")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="infusion_sessions"
    )
    chair = models.CharField(max_length=40)
    # The signed dose order the session runs (issue 4); linked before dosing can start.
    dose_order = models.ForeignKey(
        "protocols.DoseOrder", null=True, blank=True, on_delete=models.PROTECT, related_name="sessions"
    )
    scheduled_at = models.DateTimeField()
    state = models.CharField(max_length=20, choices=SessionState.choices, default=SessionState.SCHEDULED)
    state_changed_at = models.DateTimeField(default=timezone.now)
    escort_confirmed_name = models.CharField(max_length=200, blank=True)
    escort_confirmed_at = models.DateTimeField(null=True, blank=True)
    escort_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    abort_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["scheduled_at", "id"]
        indexes = [
            models.Index(fields=["clinic", "state"], name="session_clinic_state"),
            models.Index(fields=["clinic", "scheduled_at"], name="session_clinic_scheduled"),
        ]

    def __str__(self) -> str:
        return f"session {self.pk} ({self.get_state_display()}, chair {self.chair})"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Session]:
        return cls.objects.filter(clinic=clinic)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "patient_id": self.patient_id,
            "chair": self.chair,
            "scheduled_at": self.scheduled_at.isoformat(),
            "state": self.state,
            "state_label": self.get_state_display(),
            "state_changed_at": self.state_changed_at.isoformat(),
            "abort_reason": self.abort_reason,
        }


class Transition(models.Model):
    """Who moved the session from one state to another, and when."""

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="transitions")
    from_state = models.CharField(max_length=20, choices=SessionState.choices)
    to_state = models.CharField(max_length=20, choices=SessionState.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state} -> {self.to_state}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Transition]:
        return cls.objects.filter(session__clinic=clinic)


class Kind(models.TextChoices):
    VITALS = "vitals", "Vital signs"
    CADSS = "cadss", "CADSS (23 items)"
    CADSS6 = "cadss6", "CADSS-6 short form"
    MOAAS = "moaas", "MOAA/S sedation"
    NAUSEA = "nausea", "Nausea (0-3)"
    PAIN = "pain", "Pain (NRS 0-10)"
    BPRS = "bprs", "BPRS+ positive symptoms"
    ADVERSE_EVENT = "adverse_event", "Adverse event"
    PRN = "prn", "PRN medication"
    SETTING = "setting", "Set and setting"
    NOTE = "note", "Note"
    # Recovery: scored forms and the discharge checklist (scales.py).
    ALDRETE = "aldrete", "Modified Aldrete"
    PADSS = "padss", "PADSS"
    DISCHARGE_CHECK = "discharge_check", "Discharge checklist"


class Source(models.TextChoices):
    MANUAL = "manual", "Manual"
    DEVICE = "device", "Device"


class Observation(models.Model):
    """One timestamped observation. Only the columns of its kind are filled (see ``observations.py``)."""

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="observations")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    observed_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    device_id = models.CharField(max_length=100, blank=True)
    # The session's state when the observation was recorded: tells pre-dose from recovery values.
    phase = models.CharField(max_length=20, choices=SessionState.choices)
    idempotency_key = models.CharField(max_length=100)
    # vital signs
    systolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    heart_rate_bpm = models.PositiveSmallIntegerField(null=True, blank=True)
    spo2_pct = models.PositiveSmallIntegerField(null=True, blank=True)
    on_oxygen = models.BooleanField(null=True, blank=True)
    resp_rate_per_min = models.PositiveSmallIntegerField(null=True, blank=True)
    temperature_c = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    # ratings: the total, and the item values as entered
    score = models.SmallIntegerField(null=True, blank=True)
    items = models.JSONField(default=dict, blank=True)
    # adverse events (CTCAE v5.0 grade 1-5, clinical.md §7.1)
    ae_term = models.CharField(max_length=200, blank=True)
    ctcae_grade = models.PositiveSmallIntegerField(null=True, blank=True)
    action_taken = models.TextField(blank=True)
    # PRN medication
    drug = models.CharField(max_length=120, blank=True)
    dose_value = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True)
    dose_unit = models.CharField(max_length=10, blank=True)
    route = models.CharField(max_length=20, blank=True)
    indication = models.CharField(max_length=200, blank=True)
    # set and setting: {"music": ..., "eye_shade": bool, "lighting": ...}
    setting = models.JSONField(default=dict, blank=True)
    text = models.TextField(blank=True)
    corrects = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrected_by"
    )
    correction_reason = models.CharField(max_length=200, blank=True)
    # A withdrawal: the entry ``corrects`` points at was made in error as a whole (wrong kind, wrong
    # session, recorded twice). This row carries no values, only the reason and its author.
    withdrawn = models.BooleanField(default=False)

    class Meta:
        ordering = ["observed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "idempotency_key"], name="observation_idempotent"),
        ]
        indexes = [models.Index(fields=["session", "kind", "observed_at"], name="observation_timeline")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.observed_at:%H:%M}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Observation]:
        return cls.objects.filter(session__clinic=clinic)

    @classmethod
    def current(cls) -> models.QuerySet[Observation]:
        """Observations not superseded by a correction nor withdrawn, and not themselves a withdrawal."""
        return cls.objects.filter(corrected_by__isnull=True, withdrawn=False)

    def values(self) -> dict[str, Any]:
        from ketaclinic.infusions.observations import FIELDS

        return {name: getattr(self, name) for name in FIELDS[self.kind]}

    @property
    def summary(self) -> str:
        from ketaclinic.infusions.observations import summary

        if self.withdrawn:
            return f"withdraws #{self.corrects_id} (entered in error)"
        return summary(self.kind, self.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "session_id": self.session_id,
            "kind": self.kind,
            "observed_at": self.observed_at.isoformat(),
            "source": self.source,
            "phase": self.phase,
            "recorded_by": self.recorded_by_id,
            "corrects": self.corrects_id,
            "correction_reason": self.correction_reason,
            "withdrawn": self.withdrawn,
            "values": {} if self.withdrawn else self.values(),
        }


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class Alert(models.Model):
    """An alert raised by ``alerts.py``; open until a nurse acknowledges it with the action taken."""

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="alerts")
    observation = models.ForeignKey(
        Observation, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    code = models.CharField(max_length=40)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    message = models.CharField(max_length=300)
    source = models.CharField(max_length=200)
    confirmed = models.BooleanField(
        default=True, help_text="False: threshold is unconfirmed or a local default"
    )
    raised_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action_taken = models.TextField(blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    # Critical first, then warnings, then the rest; newest first within each (the chair view and
    # the floor board list open alerts so).
    WORST_FIRST = (
        models.Case(
            models.When(severity="critical", then=0),
            models.When(severity="warning", then=1),
            default=2,
            output_field=models.IntegerField(),
        ),
        "-raised_at",
        "-id",
    )

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [models.Index(fields=["session", "acknowledged_at"], name="alert_open")]

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Alert]:
        return cls.objects.filter(session__clinic=clinic)

    @classmethod
    def noting_withdrawn(cls, qs: models.QuerySet[Alert]) -> models.QuerySet[Alert]:
        """``qs`` with ``reading_withdrawn``: the observation that raised the alert was withdrawn as
        entered in error (one subquery, no extra query)."""
        withdrawals = Observation.objects.filter(corrects=models.OuterRef("observation_id"), withdrawn=True)
        return qs.annotate(reading_withdrawn=models.Exists(withdrawals))

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "session_id": self.session_id,
            "observation_id": self.observation_id,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "source": self.source,
            "confirmed": self.confirmed,
            "raised_at": self.raised_at.isoformat(),
            "acknowledged_at": self.acknowledged_at.isoformat() if self.acknowledged_at else None,
            "action_taken": self.action_taken,
            # Known where read through ``noting_withdrawn``; a new alert's reading is never withdrawn.
            "reading_withdrawn": bool(getattr(self, "reading_withdrawn", False)),
        }


class DoseKind(models.TextChoices):
    START = "start", "Start"
    RATE = "rate", "Rate change"
    PAUSE = "pause", "Pause"
    RESUME = "resume", "Resume"
    BOLUS = "bolus", "Bolus"
    STOP = "stop", "Stop"
    DEVICE = "device", "Nasal device"


class DosingEvent(models.Model):
    """One thing done to the drug's delivery. Append-only; running totals follow (``dosing.py``).

    start/pause/resume/stop move the session along its state machine in the same transaction.
    ``rate_ml_per_h`` is the pump rate from this event on (start, rate, resume); ``mg``/``ml`` the
    amount given at once (bolus, nasal device). Submitted twice with the same key, it is stored once.

    A wrong entry (rate, time, amount, device lot) is never edited: a correction is a new event of
    the same kind whose ``corrects`` points at it, with a reason and its author; the running totals
    read ``current()`` events only.
    """

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="dosing_events")
    kind = models.CharField(max_length=10, choices=DoseKind.choices)
    at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rate_ml_per_h = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    mg = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    ml = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    device_number = models.PositiveSmallIntegerField(null=True, blank=True)
    lot_number = models.CharField(max_length=60, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=100)
    corrects = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrected_by"
    )
    correction_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "idempotency_key"], name="dosing_event_idempotent"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%H:%M}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[DosingEvent]:
        return cls.objects.filter(session__clinic=clinic)

    @classmethod
    def current(cls) -> models.QuerySet[DosingEvent]:
        """Dosing events not superseded by a correction."""
        return cls.objects.filter(corrected_by__isnull=True)

    @property
    def summary(self) -> str:
        """What was given or set, in one line: "5.3 mL/h", "10 mg (1 mL)", "device 2, lot L1"."""
        parts = []
        if self.rate_ml_per_h is not None:
            parts.append(f"{self.rate_ml_per_h} mL/h")
        if self.mg is not None:
            parts.append(f"{self.mg} mg" + (f" ({self.ml} mL)" if self.ml is not None else ""))
        if self.device_number is not None:
            parts.append(f"device {self.device_number}")
        if self.lot_number:
            parts.append(f"lot {self.lot_number}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        def s(v: Any) -> Any:
            return None if v is None else str(v)

        return {
            "id": self.pk,
            "session_id": self.session_id,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "rate_ml_per_h": s(self.rate_ml_per_h),
            "mg": s(self.mg),
            "ml": s(self.ml),
            "device_number": self.device_number,
            "lot_number": self.lot_number,
            "reason": self.reason,
            "recorded_by": self.recorded_by_id,
            "corrects": self.corrects_id,
            "correction_reason": self.correction_reason,
        }
