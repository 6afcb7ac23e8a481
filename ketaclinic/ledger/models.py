"""The controlled-substance ledger's records.

``LedgerEntry`` is the ledger itself: append-only, hash-chained per clinic (``LedgerHead`` holds
each chain's newest entry, and locking it serialises a clinic's appends). Every other row here is a
record an entry points at (a receipt, a count, a discrepancy, a loss report) or a place and a
product the entries move drug between. A container's balance is kept on the container, updated
under its row lock in the same transaction as the entry that changes it, and ``ledger verify``
checks it against the entries.

Quantities are in mg of ketamine or esketamine base, as the products are labelled, and in mL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketaclinic.accounts.models import Clinic


class Registration(models.Model):
    """The clinic's DEA registration. A renewal is a new row; the newest one is in force."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="registrations")
    number = models.CharField(max_length=9)
    registrant_name = models.CharField(max_length=200)
    address = models.TextField()
    schedules = models.CharField(max_length=40, help_text="for example 2 2N 3 3N 4 5")
    expires_on = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.number} (expires {self.expires_on})"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Registration]:
        return cls.objects.filter(clinic=clinic)

    @property
    def covers_schedule_3(self) -> bool:
        return "3" in self.schedules.split()


class LocationKind(models.TextChoices):
    SAFE = "safe", "Safe"
    CABINET = "cabinet", "Locked cabinet"
    CART = "cart", "Locked cart"
    REFRIGERATOR = "refrigerator", "Locked refrigerator"


class StorageLocation(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="storage_locations")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=LocationKind.choices)
    # Who may open it: draw from, receive into, count and move its containers.
    keyholders = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["clinic", "name"], name="location_name_unique")]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[StorageLocation]:
        return cls.objects.filter(clinic=clinic)


class StockProduct(models.Model):
    """A product the clinic stocks: the drug library's product with its NDC and container size."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="stock_products")
    product = models.ForeignKey("protocols.Product", on_delete=models.PROTECT, related_name="+")
    ndc = models.CharField(max_length=13)
    # Vials: the volume of one container; the mg follow from the labelled concentration (base).
    # Nasal devices: one device per container, its mg from the product; no volume.
    container_ml = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    container_mg = models.DecimalField(max_digits=10, decimal_places=2)
    schedule = models.CharField(max_length=4, default="III")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["product__name", "container_ml"]
        constraints = [models.UniqueConstraint(fields=["clinic", "ndc"], name="stock_product_ndc_unique")]

    def __str__(self) -> str:
        return self.label

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[StockProduct]:
        return cls.objects.filter(clinic=clinic).select_related("product")

    @property
    def is_device(self) -> bool:
        return self.container_ml is None

    @property
    def mg_per_ml(self) -> Decimal | None:
        if self.container_ml is None:
            return None
        return self.product.base_mg_per_ml()

    @property
    def label(self) -> str:
        size = "1 device" if self.is_device else f"{self.container_ml.normalize():f} mL"  # type: ignore[union-attr]
        return f"{self.product.name}, {size} (NDC {self.ndc})"


class ReceiptStatus(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    HELD = "held", "Held"
    RELEASED = "released", "Released after review"


class Receipt(models.Model):
    """One invoice line received: containers of one product and lot from one supplier."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="drug_receipts")
    invoice_number = models.CharField(max_length=60)
    order_reference = models.CharField(max_length=60, blank=True)
    supplier_name = models.CharField(max_length=200)
    supplier_address = models.TextField()
    supplier_registration = models.CharField(max_length=9)
    received_on = models.DateField()
    product = models.ForeignKey(StockProduct, on_delete=models.PROTECT, related_name="receipts")
    lot_number = models.CharField(max_length=40)
    expires_on = models.DateField()
    containers_ordered = models.PositiveIntegerField()
    containers_received = models.PositiveIntegerField()
    location = models.ForeignKey(StorageLocation, on_delete=models.PROTECT, related_name="+")
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    witnessed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=ReceiptStatus.choices)
    hold_reason = models.TextField(blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "supplier_registration", "invoice_number", "product", "lot_number"],
                name="receipt_line_unique",
            )
        ]

    def __str__(self) -> str:
        return f"invoice {self.invoice_number} ({self.containers_received} x {self.product})"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Receipt]:
        return cls.objects.filter(clinic=clinic)


class ContainerStatus(models.TextChoices):
    HELD = "held", "Held (receipt under review)"
    SEALED = "sealed", "Sealed"
    OPEN = "open", "Open"
    EMPTY = "empty", "Empty"
    DESTROYED = "destroyed", "Destroyed"
    REVERSE_DISTRIBUTED = "reverse_distributed", "Sent to a reverse distributor"
    LOST = "lost", "Lost or stolen"


CLOSED_STATUSES = (
    ContainerStatus.EMPTY,
    ContainerStatus.DESTROYED,
    ContainerStatus.REVERSE_DISTRIBUTED,
    ContainerStatus.LOST,
)


class Container(models.Model):
    """One vial or device, numbered at receipt; its balance follows its ledger entries."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="drug_containers")
    number = models.PositiveIntegerField()
    product = models.ForeignKey(StockProduct, on_delete=models.PROTECT, related_name="containers")
    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, related_name="containers")
    lot_number = models.CharField(max_length=40)
    expires_on = models.DateField()
    location = models.ForeignKey(StorageLocation, on_delete=models.PROTECT, related_name="containers")
    status = models.CharField(max_length=20, choices=ContainerStatus.choices)
    balance_mg = models.DecimalField(max_digits=10, decimal_places=2)
    balance_ml = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "number"], name="container_number_unique"),
            models.CheckConstraint(
                condition=models.Q(balance_mg__gte=0), name="container_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Container]:
        return cls.objects.filter(clinic=clinic).select_related("product__product", "location")

    @property
    def label(self) -> str:
        return f"C-{self.number:05d}"

    @property
    def usable(self) -> bool:
        return self.status in (ContainerStatus.SEALED, ContainerStatus.OPEN)


class EntryKind(models.TextChoices):
    RECEIPT = "receipt", "Received"
    RELEASE = "release", "Released from hold"
    DRAW = "draw", "Drawn for a session"
    ADMINISTERED = "administered", "Administered"
    WASTE = "waste", "Wasted"
    RETURN = "return", "Returned to stock"
    TRANSFER = "transfer", "Moved between locations"
    DESTRUCTION = "destruction", "Destroyed"
    REVERSE_DISTRIBUTOR = "reverse_distributor", "Sent to a reverse distributor"
    ADJUSTMENT = "adjustment", "Adjustment"
    LOSS = "loss", "Theft or significant loss"
    REVERSAL = "reversal", "Reversal of an entry"


# How each kind moves the container's balance: -1 out of it, +1 into it, 0 not at all. A
# session's drawn drug "in hand" moves the other way for draw/administered/waste/return.
CONTAINER_SIGN = {
    EntryKind.RECEIPT: 1,
    EntryKind.RELEASE: 0,
    EntryKind.DRAW: -1,
    EntryKind.ADMINISTERED: 0,
    EntryKind.WASTE: 0,
    EntryKind.RETURN: 1,
    EntryKind.TRANSFER: 0,
    EntryKind.DESTRUCTION: -1,
    EntryKind.REVERSE_DISTRIBUTOR: -1,
    EntryKind.LOSS: -1,
    # adjustment and reversal carry a signed amount of their own
}

HASHED_FIELDS = (
    "seq",
    "at",
    "clinic_id",
    "kind",
    "container_id",
    "session_id",
    "patient_id",
    "dose_order_id",
    "actor_id",
    "witness_id",
    "second_witness_id",
    "mg",
    "ml",
    "balance_mg",
    "balance_ml",
    "reason",
    "detail",
    "reverses_id",
)


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


class LedgerEntry(models.Model):
    """One movement of drug. Never updated or deleted; a correction is a reversing entry.

    ``mg``/``ml`` are the amount moved (positive), except for adjustments and reversals, whose
    sign says the direction for the container. ``balance_mg``/``balance_ml`` are the container's
    balance after this entry (empty for entries that touch no container).
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="ledger_entries")
    seq = models.PositiveBigIntegerField()
    at = models.DateTimeField()
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    container = models.ForeignKey(
        Container, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    session = models.ForeignKey(
        "infusions.Session", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    patient_id = models.BigIntegerField(null=True, blank=True)
    dose_order_id = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    second_witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    mg = models.DecimalField(max_digits=10, decimal_places=2)
    ml = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    balance_mg = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    balance_ml = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    # A retried request (a double tap, a lost answer) finds the entry stored under its key.
    idempotency_key = models.CharField(max_length=100, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["clinic", "seq"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["clinic", "seq"], name="ledger_seq_unique"),
            models.UniqueConstraint(
                fields=["clinic", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="ledger_idempotent",
            ),
        ]
        indexes = [
            models.Index(fields=["clinic", "kind", "at"], name="ledger_kind_at"),
            models.Index(fields=["session", "kind"], name="ledger_session_kind"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.get_kind_display()} {self.mg} mg"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[LedgerEntry]:
        return cls.objects.filter(clinic=clinic)

    def chain_fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "clinic_id": self.clinic_id,
            "kind": self.kind,
            "container_id": self.container_id,
            "session_id": self.session_id,
            "patient_id": self.patient_id,
            "dose_order_id": self.dose_order_id,
            "actor_id": self.actor_id,
            "witness_id": self.witness_id,
            "second_witness_id": self.second_witness_id,
            "mg": _amount(self.mg),
            "ml": _amount(self.ml),
            "balance_mg": _amount(self.balance_mg),
            "balance_ml": _amount(self.balance_ml),
            "reason": self.reason,
            "detail": self.detail,
            "reverses_id": self.reverses_id,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


class LedgerHead(models.Model):
    """Each clinic's newest entry; locking it serialises that clinic's appends (not other clinics')."""

    clinic = models.OneToOneField(Clinic, primary_key=True, on_delete=models.PROTECT, related_name="+")
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"ledger head of clinic {self.clinic_id} #{self.seq}"


class ReconciliationStatus(models.TextChoices):
    BALANCED = "balanced", "Balanced"
    DISCREPANCY = "discrepancy", "Discrepancy opened"


class SessionReconciliation(models.Model):
    """The close of a session's drug: drawn against administered + wasted + returned."""

    session = models.OneToOneField(
        "infusions.Session", on_delete=models.PROTECT, related_name="drug_reconciliation"
    )
    drawn_mg = models.DecimalField(max_digits=10, decimal_places=2)
    administered_mg = models.DecimalField(max_digits=10, decimal_places=2)
    wasted_mg = models.DecimalField(max_digits=10, decimal_places=2)
    returned_mg = models.DecimalField(max_digits=10, decimal_places=2)
    tolerance_mg = models.DecimalField(max_digits=10, decimal_places=2)
    unaccounted_mg = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=12, choices=ReconciliationStatus.choices)
    reconciled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Whoever witnessed the waste or the return; none when everything drawn was given.
    witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reconciled_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"session {self.session_id}: {self.get_status_display()}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[SessionReconciliation]:
        return cls.objects.filter(session__clinic=clinic)


class CountKind(models.TextChoices):
    SHIFT = "shift", "Shift count"
    DAILY = "daily", "Daily count"
    INITIAL = "initial", "Initial inventory"
    BIENNIAL = "biennial", "Biennial inventory"


class BusinessTime(models.TextChoices):
    OPENING = "opening", "At opening of business"
    CLOSE = "close", "At close of business"


class Count(models.Model):
    """A count of one location's containers against their running balances."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="drug_counts")
    location = models.ForeignKey(StorageLocation, on_delete=models.PROTECT, related_name="counts")
    kind = models.CharField(max_length=10, choices=CountKind.choices)
    taken_at = models.DateTimeField()
    business_time = models.CharField(max_length=8, choices=BusinessTime.choices, blank=True)
    counted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    witness = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ledger_seq = models.PositiveBigIntegerField(help_text="the newest ledger entry when counted")
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-taken_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.location} at {self.taken_at:%Y-%m-%d %H:%M}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Count]:
        return cls.objects.filter(clinic=clinic)


class CountLine(models.Model):
    count = models.ForeignKey(Count, on_delete=models.PROTECT, related_name="lines")
    container = models.ForeignKey(Container, on_delete=models.PROTECT, related_name="+")
    expected_mg = models.DecimalField(max_digits=10, decimal_places=2)
    counted_mg = models.DecimalField(max_digits=10, decimal_places=2)
    counted_ml = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["container__number"]

    def __str__(self) -> str:
        return f"{self.container} counted {self.counted_mg} mg"

    @property
    def difference_mg(self) -> Decimal:
        return self.counted_mg - self.expected_mg


class DiscrepancyKind(models.TextChoices):
    SESSION = "session", "Session drug does not reconcile"
    COUNT = "count", "Count differs from the balance"


class DiscrepancyStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    ESCALATED = "escalated", "Escalated to a loss report"


class Discrepancy(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="drug_discrepancies")
    kind = models.CharField(max_length=10, choices=DiscrepancyKind.choices)
    session = models.ForeignKey(
        "infusions.Session", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    container = models.ForeignKey(
        Container, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    count_line = models.OneToOneField(
        CountLine, null=True, blank=True, on_delete=models.PROTECT, related_name="discrepancy"
    )
    # The person whose record it is (who drew and wasted, or who counted): for the signals.
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    expected_mg = models.DecimalField(max_digits=10, decimal_places=2)
    found_mg = models.DecimalField(max_digits=10, decimal_places=2)
    opened_at = models.DateTimeField(default=timezone.now)
    description = models.TextField()
    status = models.CharField(
        max_length=10, choices=DiscrepancyStatus.choices, default=DiscrepancyStatus.OPEN
    )
    investigation = models.TextField(blank=True)
    resolution = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    loss_report = models.ForeignKey(
        "LossReport", null=True, blank=True, on_delete=models.PROTECT, related_name="discrepancies"
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name_plural = "discrepancies"
        indexes = [models.Index(fields=["clinic", "status"], name="discrepancy_open")]

    def __str__(self) -> str:
        return f"discrepancy {self.pk} ({self.get_status_display()})"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Discrepancy]:
        return cls.objects.filter(clinic=clinic)

    @property
    def difference_mg(self) -> Decimal:
        return self.found_mg - self.expected_mg


class LossKind(models.TextChoices):
    THEFT = "theft", "Theft"
    SIGNIFICANT_LOSS = "significant_loss", "Significant loss"
    IN_TRANSIT = "in_transit", "Lost in transit"


class LossReport(models.Model):
    """The data of a theft or significant loss report (DEA Form 106), with its two deadlines."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="loss_reports")
    kind = models.CharField(max_length=20, choices=LossKind.choices)
    discovered_at = models.DateTimeField()
    container = models.ForeignKey(
        Container, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    quantity_mg = models.DecimalField(max_digits=10, decimal_places=2)
    quantity_ml = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    description = models.TextField()
    police_report = models.CharField(max_length=100, blank=True)
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    notice_due_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)
    form_106_due_on = models.DateField()
    form_106_filed_at = models.DateTimeField(null=True, blank=True)
    form_106_reference = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-discovered_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.quantity_mg} mg discovered {self.discovered_at:%Y-%m-%d}"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[LossReport]:
        return cls.objects.filter(clinic=clinic)
