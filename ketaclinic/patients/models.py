"""Patients, their weights, intake, eligibility screenings and consents.

Clinical records are never overwritten: a new intake supersedes the last, a weight correction
points at the weight it corrects, and a screening is judged against the intake it evaluated.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketaclinic.accounts.models import Clinic


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    INTERSEX = "intersex", "Intersex"
    UNKNOWN = "unknown", "Unknown / not stated"


# What staff write when they asked and there are no allergies (shown as such, not as a warning).
NONE_KNOWN = frozenset({"none known", "none", "nka", "nkda", "no known allergies", "no known drug allergies"})


class PregnancyStatus(models.TextChoices):
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    NOT_PREGNANT = "not_pregnant", "Not pregnant"
    PREGNANT = "pregnant", "Pregnant"
    BREASTFEEDING = "breastfeeding", "Breastfeeding"
    UNKNOWN = "unknown", "Unknown"


class Indication(models.TextChoices):
    TRD = "trd", "Treatment-resistant depression"
    MDD_SI = "mdd_si", "Depression with suicidal ideation"
    GAD = "gad", "Generalized anxiety"
    PTSD = "ptsd", "PTSD"
    CHRONIC_PAIN = "chronic_pain", "Chronic pain"
    OTHER = "other", "Other"


class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=32)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=12, choices=Sex.choices)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    address = models.TextField(blank=True)
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_phone = models.CharField(max_length=40, blank=True)
    emergency_contact_relation = models.CharField(max_length=60, blank=True)
    escort_name = models.CharField("escort who takes them home", max_length=200, blank=True)
    escort_phone = models.CharField(max_length=40, blank=True)
    height_cm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    indications = models.JSONField(default=list, blank=True, help_text="Indication codes")
    chronic_pain_type = models.CharField(max_length=120, blank=True)
    indication_other = models.CharField(max_length=200, blank=True)
    allergies = models.TextField(blank=True, help_text="Free text; 'none known' when asked and none")
    pregnancy_status = models.CharField(
        max_length=20, choices=PregnancyStatus.choices, default=PregnancyStatus.UNKNOWN
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clinic", "mrn"], name="mrn_unique_per_clinic")]
        indexes = [
            models.Index(fields=["clinic", "family_name", "given_name"]),
            models.Index(fields=["clinic", "date_of_birth"]),
        ]
        ordering = ["family_name", "given_name"]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Patient]:
        return cls.objects.filter(clinic=clinic)

    @property
    def no_known_allergies(self) -> bool:
        """Asked, and none: "none known", "NKA", "NKDA", "no known allergies", "none" (any case)."""
        text = " ".join(self.allergies.lower().replace(".", " ").split())
        return text in NONE_KNOWN

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def age_on(self, day: date) -> int:
        dob = self.date_of_birth
        return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))

    def indication_labels(self) -> list[str]:
        labels = dict(Indication.choices)
        out = []
        for code in self.indications:
            label = labels.get(code, code)
            if code == Indication.CHRONIC_PAIN and self.chronic_pain_type:
                label = f"{label} ({self.chronic_pain_type})"
            if code == Indication.OTHER and self.indication_other:
                label = f"{label}: {self.indication_other}"
            out.append(label)
        return out

    def current_weight(self) -> WeightMeasurement | None:
        return WeightMeasurement.current_for(self)

    def current_intake(self) -> Intake | None:
        return self.intakes.order_by("-version").first()

    def latest_screening(self) -> Screening | None:
        return self.screenings.order_by("-signed_at", "-id").first()


class WeightUnit(models.TextChoices):
    KG = "kg", "kg"
    LB = "lb", "lb"


class WeightMeasurement(models.Model):
    """A weight as entered (value and unit) and normalised to kg; corrections point back."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="weights")
    measured_at = models.DateTimeField()
    weight_kg = models.DecimalField(max_digits=6, decimal_places=2)
    entered_value = models.DecimalField(max_digits=7, decimal_places=2)
    entered_unit = models.CharField(max_length=2, choices=WeightUnit.choices)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    corrects = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrected_by"
    )
    correction_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-measured_at", "-id"]

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[WeightMeasurement]:
        return cls.objects.filter(patient__clinic=clinic)

    @classmethod
    def valid_for(cls, patient: Patient) -> models.QuerySet[WeightMeasurement]:
        """Weights not superseded by a correction."""
        return cls.objects.filter(patient=patient, corrected_by__isnull=True)

    @classmethod
    def current_for(cls, patient: Patient) -> WeightMeasurement | None:
        return cls.valid_for(patient).order_by("-measured_at", "-id").first()

    def __str__(self) -> str:
        return f"{self.weight_kg} kg at {self.measured_at:%Y-%m-%d}"


class Intake(models.Model):
    """One complete intake, as taken. A change makes a new version that supersedes this one."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="intakes")
    version = models.PositiveIntegerField()
    taken_at = models.DateTimeField(default=timezone.now)
    taken_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # {item_code: {"present": bool, "note": str}} for every item of patients.history.HISTORY_ITEMS
    history = models.JSONField(default=dict)
    substance_use_notes = models.TextField(blank=True)
    # Ten answers, True = "yes", in DAST-10 order; None when not administered.
    dast10_answers = models.JSONField(null=True, blank=True)
    dast10_score = models.PositiveSmallIntegerField(null=True, blank=True)
    baseline_systolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    baseline_diastolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    baseline_heart_rate_bpm = models.PositiveSmallIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    change_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "version"], name="one_intake_per_version")]
        ordering = ["-version"]

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Intake]:
        return cls.objects.filter(patient__clinic=clinic)

    def __str__(self) -> str:
        return f"intake v{self.version} of patient {self.patient_id}"


class IntakeMedication(models.Model):
    intake = models.ForeignKey(Intake, on_delete=models.PROTECT, related_name="medications")
    name = models.CharField(max_length=120)
    dose_text = models.CharField(
        max_length=120, blank=True, help_text="As the patient takes it, e.g. 1 mg twice daily"
    )
    daily_dose_mg = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    # Filled from the built-in formulary; empty and flagged when the name is not recognised.
    generic_name = models.CharField(max_length=120, blank=True)
    interaction_classes = models.JSONField(default=list, blank=True)
    diazepam_equivalent_mg = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    recognised = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Decision(models.TextChoices):
    ELIGIBLE = "eligible", "Eligible"
    ELIGIBLE_WITH_PRECAUTIONS = "eligible_with_precautions", "Eligible with precautions"
    NOT_ELIGIBLE = "not_eligible", "Not eligible"


class Screening(models.Model):
    """A prescriber's signed eligibility decision over the findings of one intake version."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screenings")
    intake = models.ForeignKey(Intake, on_delete=models.PROTECT, related_name="screenings")
    findings = models.JSONField(default=list)  # snapshot of eligibility.Finding.to_dict() at signing
    item_reasons = models.JSONField(default=dict)  # {finding code: prescriber's reason}
    decision = models.CharField(max_length=30, choices=Decision.choices)
    reason = models.TextField(blank=True)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    rules_version = models.CharField(max_length=20)

    class Meta:
        ordering = ["-signed_at", "-id"]

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Screening]:
        return cls.objects.filter(patient__clinic=clinic)

    def status(self, now: Any = None) -> tuple[str, str]:
        """(code, plain explanation): current, expired, or superseded by a changed intake."""
        now = now or timezone.now()
        latest = self.patient.current_intake()
        if latest is not None and latest.pk != self.intake_id:
            return (
                "invalidated",
                f"Invalidated: the intake changed on {timezone.localtime(latest.taken_at):%Y-%m-%d %H:%M} "
                f"({latest.change_reason or 'medications or history updated'}). Screen again.",
            )
        if now >= self.expires_at:
            return (
                "expired",
                f"Expired on {timezone.localtime(self.expires_at):%Y-%m-%d}. Screen again.",
            )
        return ("current", f"Current until {timezone.localtime(self.expires_at):%Y-%m-%d}.")

    def is_current(self, now: Any = None) -> bool:
        return self.status(now)[0] == "current" and self.decision != Decision.NOT_ELIGIBLE

    def __str__(self) -> str:
        return f"{self.get_decision_display()} ({self.signed_at:%Y-%m-%d})"


class ConsentText(models.Model):
    """A versioned consent document; a signed consent points at the exact version read."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="consent_texts")
    title = models.CharField(max_length=200)
    version = models.CharField(max_length=20)
    body = models.TextField()
    effective_from = models.DateField(default=date.today)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "title", "version"], name="consent_text_version_unique")
        ]
        ordering = ["title", "-effective_from"]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[ConsentText]:
        return cls.objects.filter(clinic=clinic)


class Consent(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    text = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="consents")
    signed_by_name = models.CharField(max_length=200, help_text="The patient, or their legal representative")
    signer_relation = models.CharField(max_length=60, default="self")
    signed_at = models.DateTimeField()
    witness = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-signed_at"]

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Consent]:
        return cls.objects.filter(patient__clinic=clinic)

    def __str__(self) -> str:
        return f"{self.text} signed {self.signed_at:%Y-%m-%d}"
