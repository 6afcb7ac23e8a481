"""Clinics, users, and the role a user holds in each clinic."""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (for example Europe/Berlin).")


class Clinic(models.Model):
    """One site. Clinics of a network share an installation; their patients never mix."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    address = models.TextField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Role(models.TextChoices):
    PRESCRIBER = "prescriber", "Prescriber"
    NURSE = "nurse", "Nurse"
    FRONTDESK = "frontdesk", "Front desk"
    ADMIN = "admin", "Clinic admin"
    AUDITOR = "auditor", "Auditor (read-only)"


class User(AbstractUser):
    """A person who signs in. Their role is per clinic, in Membership."""

    failed_login_count = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    # Set when a clinic admin resets the password: the user chooses their own before anything else,
    # and signs nothing until then (the admin knows the password they set).
    must_change_password = models.BooleanField(default=False)
    credentials = models.CharField(
        max_length=80,
        blank=True,
        help_text="Professional credentials shown on signatures, e.g. MD, RN.",
    )

    def is_locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > timezone.now()

    def register_failed_login(self) -> None:
        """One more failure from any address; at ``LOCKOUT_ACCOUNT_ATTEMPTS`` the account locks
        (a guesser spread over many addresses). One address is paused sooner (``SignInFailure``)."""
        self.failed_login_count += 1
        if self.failed_login_count >= settings.LOCKOUT_ACCOUNT_ATTEMPTS:
            self.locked_until = timezone.now() + timedelta(minutes=settings.LOCKOUT_MINUTES)
            self.failed_login_count = 0
        self.save(update_fields=["failed_login_count", "locked_until"])

    def register_successful_login(self) -> None:
        if self.failed_login_count or self.locked_until:
            self.failed_login_count = 0
            self.locked_until = None
            self.save(update_fields=["failed_login_count", "locked_until"])

    @property
    def display_name(self) -> str:
        name = self.get_full_name() or self.username
        return f"{name}, {self.credentials}" if self.credentials else name


class SignInFailure(models.Model):
    """A failed sign-in: the username as typed (an account's or not), the client address, when.

    Counted over the last ``LOCKOUT_MINUTES``: an address and a username together are paused after
    ``LOCKOUT_ATTEMPTS`` failures, an address after ``LOCKOUT_ADDRESS_ATTEMPTS`` whatever the
    usernames. So a guesser cannot lock someone else's account from one address, nor try many
    usernames, and the answer is the same whether the username exists or not.
    """

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["address", "at"], name="signin_failure_address"),
            models.Index(fields=["username", "address", "at"], name="signin_failure_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.address or 'no address'} at {self.at:%Y-%m-%d %H:%M}"


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="one_role_per_user_per_clinic"),
        ]
        ordering = ["clinic__name"]

    def __str__(self) -> str:
        return f"{self.user.username} @ {self.clinic.slug} ({self.role})"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[Membership]:
        return cls.objects.filter(clinic=clinic)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenScope(models.TextChoices):
    """What a token may do within its role (``api_access.SCOPES`` holds the operations)."""

    ROLE = "role", "everything the role may do"
    READ = "read", "read only"
    OBSERVATIONS = "observations", "a bedside device: record observations"


TOKEN_DAYS_DEFAULT = 90
TOKEN_DAYS_MAX = 365


def _token_expiry() -> Any:
    return timezone.now() + timedelta(days=TOKEN_DAYS_DEFAULT)


class ApiToken(models.Model):
    """A per-user API token bound to one membership, with a scope and an expiry; only its SHA-256
    is stored."""

    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=16, choices=TokenScope.choices, default=TokenScope.ROLE)
    expires_at = models.DateTimeField(default=_token_expiry)

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """Return (raw token, prefix, hash). The raw token is shown once and never stored."""
        raw = "kc_" + secrets.token_urlsafe(32)
        return raw, raw[:10], hash_token(raw)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.membership.is_active and not self.is_expired

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def in_clinic(cls, clinic: Clinic) -> models.QuerySet[ApiToken]:
        return cls.objects.filter(membership__clinic=clinic)
