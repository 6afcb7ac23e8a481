"""Account actions: sign-in with lockout, user management. Each write is audited."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.audit.actions import record


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    message: str


GENERIC_FAILURE = "That username and password do not match."


def attempt_login(request: HttpRequest, username: str, password: str) -> LoginResult:
    """Check credentials, counting failures; a locked account is refused even with the right password."""
    with transaction.atomic():
        account = User.objects.select_for_update().filter(username=username).first()
        if account is not None and account.is_locked():
            record(
                "auth.login_refused_locked",
                user=account,
                request=request,
                detail={"username": username},
            )
            minutes = max(1, int((account.locked_until - timezone.now()).total_seconds() // 60) + 1)
            return LoginResult(
                None,
                f"This account is locked after repeated failed sign-ins. Try again in {minutes} min "
                "or ask a clinic admin to unlock it.",
            )
        user = authenticate(request, username=username, password=password)
        if user is None:
            if account is not None:
                account.register_failed_login()
                if account.is_locked():
                    record(
                        "auth.account_locked",
                        user=account,
                        request=request,
                        detail={"minutes": settings.LOCKOUT_MINUTES},
                    )
                    return LoginResult(
                        None,
                        f"Too many failed sign-ins: this account is locked for "
                        f"{settings.LOCKOUT_MINUTES} minutes.",
                    )
            record("auth.login_failed", request=request, detail={"username": username})
            return LoginResult(None, GENERIC_FAILURE)
        user.register_successful_login()
        record("auth.login", user=user, request=request)
        return LoginResult(user, "")


def record_logout(request: HttpRequest) -> None:
    with transaction.atomic():
        record("auth.logout", request=request)


def create_first_admin(
    *, username: str, password: str, clinic_name: str, clinic_slug: str, time_zone: str
) -> User:
    """Create a clinic and its admin. Raises ValidationError naming what is wrong; creates nothing then."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from ketaclinic.accounts.models import Clinic, Membership, Role

    clinic = Clinic(name=clinic_name.strip(), slug=clinic_slug.strip(), time_zone=time_zone.strip())
    user = User(username=username.strip())
    errors: list[str] = []
    try:
        clinic.full_clean()
    except ValidationError as exc:
        errors += [f"clinic {field}: {'; '.join(msgs)}" for field, msgs in exc.message_dict.items()]
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        errors += [f"{field}: {'; '.join(msgs)}" for field, msgs in exc.message_dict.items()]
    try:
        validate_password(password, user)
    except ValidationError as exc:
        errors += [f"password: {m}" for m in exc.messages]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        clinic.save()
        user.set_password(password)
        user.save()
        membership = Membership.objects.create(user=user, clinic=clinic, role=Role.ADMIN)
        record("clinic.create", clinic=clinic, obj=clinic, detail={"name": clinic.name, "via": "cli"})
        record(
            "user.create",
            clinic=clinic,
            obj=user,
            detail={"username": user.username, "role": membership.role, "via": "cli"},
        )
    return user
