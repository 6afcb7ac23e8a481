"""Account actions: sign-in with lockout, user management. Each write is audited."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from ketaclinic.accounts.access import has_permission
from ketaclinic.accounts.models import (
    TOKEN_DAYS_DEFAULT,
    TOKEN_DAYS_MAX,
    ApiToken,
    Membership,
    Role,
    SignInFailure,
    TokenScope,
    User,
)
from ketaclinic.audit.actions import client_addr, record


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    message: str


def failure_message() -> str:
    """The one answer to every failed sign-in: a wrong password, an unknown username, a paused
    address or a locked account read the same, so the answer tells no one which usernames exist."""
    return (
        "That username and password do not match, or sign-in is paused after repeated failures: "
        f"try again in {settings.LOCKOUT_MINUTES} minutes or ask a clinic admin."
    )


def attempt_login(request: HttpRequest, username: str, password: str) -> LoginResult:
    """Check credentials, counting failures per username and address, per address and per account.

    While paused (``SignInFailure``) or locked (``User.locked_until``), even the right password is
    refused, with the same message as a wrong one. Every refusal is audited; a username that is
    no account's is recorded only as a digest (it may be a password typed in the wrong field).
    """
    address = client_addr(request)
    since = timezone.now() - timedelta(minutes=settings.LOCKOUT_MINUTES)
    with transaction.atomic():
        account = User.objects.select_for_update().filter(username=username).first()
        typed = {"username": username} if account is not None else {"unknown_username": _digest(username)}
        recent = SignInFailure.objects.filter(at__gte=since, address=address)
        if recent.count() >= settings.LOCKOUT_ADDRESS_ATTEMPTS:
            record("auth.login_refused_address", user=account, request=request, detail=typed)
            return LoginResult(None, failure_message())
        if recent.filter(username=username).count() >= settings.LOCKOUT_ATTEMPTS:
            record("auth.login_refused_paused", user=account, request=request, detail=typed)
            return LoginResult(None, failure_message())
        if account is not None and account.is_locked():
            record("auth.login_refused_locked", user=account, request=request, detail=typed)
            return LoginResult(None, failure_message())
        user = authenticate(request, username=username, password=password)
        if user is None:
            SignInFailure.objects.filter(at__lt=since).delete()
            SignInFailure.objects.create(username=username[:150], address=address)
            record("auth.login_failed", user=account, request=request, detail=typed)
            if account is not None:
                account.register_failed_login()
                if account.is_locked():
                    record(
                        "auth.account_locked",
                        user=account,
                        request=request,
                        detail={"minutes": settings.LOCKOUT_MINUTES},
                    )
            return LoginResult(None, failure_message())
        SignInFailure.objects.filter(username=username, address=address).delete()
        user.register_successful_login()
        record("auth.login", user=user, request=request)
        return LoginResult(user, "")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


# ---------------------------------------------------------------------------------------------
# User management by a clinic admin, and each user's own password and API tokens.
#
# Every function takes plain values (the acting membership or user, the target, the data) so the
# HTML views and the JSON API call the same code. Bad input raises ValidationError keyed by the
# field, before anything is written; acting outside one's role or clinic raises PermissionDenied.
# ---------------------------------------------------------------------------------------------


def _require_admin_of(actor: Membership, target: Membership | None = None) -> None:
    if not has_permission(actor, "users.manage"):
        raise PermissionDenied("Only a clinic admin manages users.")
    if target is not None and target.clinic_id != actor.clinic_id:
        # Views load targets through the clinic, so this is a second line of defence.
        raise PermissionDenied("That user does not belong to your clinic.")


def _check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValidationError({"role": [f"Unknown role {role!r}; choose one of {choices}."]}) from None


def _check_password(password: str, user: User, field: str = "password") -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None


def create_user(
    actor: Membership,
    *,
    username: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    credentials: str = "",
    request: HttpRequest | None = None,
) -> Membership:
    """Create a user with a role in the admin's clinic. The password must pass the validators."""
    _require_admin_of(actor)
    user = User(
        username=username.strip(),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip(),
        credentials=credentials.strip(),
    )
    errors: dict[str, list[str]] = {}
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        _check_role(role)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        _check_password(password, user)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        user.set_password(password)
        user.save()
        membership = Membership.objects.create(user=user, clinic=actor.clinic, role=role)
        record(
            "user.create",
            user=actor.user,
            clinic=actor.clinic,
            obj=user,
            detail={"username": user.username, "role": role},
            request=request,
        )
    return membership


def change_role(
    actor: Membership, target: Membership, role: str, *, request: HttpRequest | None = None
) -> Membership:
    """Give a member another role. An admin may not take away their own admin role."""
    _require_admin_of(actor, target)
    new_role = _check_role(role)
    if target.pk == actor.pk and new_role != Role.ADMIN:
        raise ValidationError(
            {"role": ["You cannot remove your own admin role; ask another clinic admin to do it."]}
        )
    if target.role == new_role:
        return target
    with transaction.atomic():
        old = target.role
        target.role = new_role
        target.save(update_fields=["role"])
        record(
            "user.role_change",
            user=actor.user,
            clinic=actor.clinic,
            obj=target.user,
            detail={"username": target.user.username, "from": old, "to": new_role.value},
            request=request,
        )
    return target


def set_active(
    actor: Membership, target: Membership, active: bool, *, request: HttpRequest | None = None
) -> Membership:
    """Deactivate or reactivate a member in this clinic. Their API tokens stop working with it."""
    _require_admin_of(actor, target)
    if target.pk == actor.pk and not active:
        raise ValidationError({"is_active": ["You cannot deactivate yourself."]})
    if target.is_active == active:
        return target
    with transaction.atomic():
        target.is_active = active
        target.save(update_fields=["is_active"])
        record(
            "user.reactivate" if active else "user.deactivate",
            user=actor.user,
            clinic=actor.clinic,
            obj=target.user,
            detail={"username": target.user.username},
            request=request,
        )
    return target


def unlock(actor: Membership, target: Membership, *, request: HttpRequest | None = None) -> User:
    """Lift a lockout after repeated failed sign-ins."""
    _require_admin_of(actor, target)
    with transaction.atomic():
        account = User.objects.select_for_update().get(pk=target.user_id)
        was_locked = account.is_locked()
        paused = SignInFailure.objects.filter(username=account.username).delete()[0] > 0
        was_locked = was_locked or paused
        account.failed_login_count = 0
        account.locked_until = None
        account.save(update_fields=["failed_login_count", "locked_until"])
        record(
            "user.unlock",
            user=actor.user,
            clinic=actor.clinic,
            obj=account,
            detail={"username": account.username, "was_locked": was_locked},
            request=request,
        )
    return account


def reset_password(
    actor: Membership, target: Membership, new_password: str, *, request: HttpRequest | None = None
) -> User:
    """Set a member's password. Refused for someone who also works at another clinic:
    an admin of one clinic must not gain a way into another."""
    _require_admin_of(actor, target)
    account = target.user
    elsewhere = Membership.objects.filter(user=account).exclude(clinic=actor.clinic).exists()
    if elsewhere:
        raise ValidationError(
            {
                "new_password": [
                    "This user also works at another clinic; they must change their password themselves."
                ]
            }
        )
    _check_password(new_password, account, field="new_password")
    with transaction.atomic():
        account.set_password(new_password)
        account.must_change_password = True
        account.save(update_fields=["password", "must_change_password"])
        record(
            "user.password_reset",
            user=actor.user,
            clinic=actor.clinic,
            obj=account,
            detail={"username": account.username},
            request=request,
        )
    return account


def change_own_password(
    user: User, old_password: str, new_password: str, *, request: HttpRequest | None = None
) -> User:
    if not user.check_password(old_password):
        raise ValidationError({"old_password": ["That is not your current password."]})
    if old_password == new_password:
        raise ValidationError({"new_password": ["Choose a password different from the current one."]})
    _check_password(new_password, user, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
        record("user.password_change", user=user, obj=user, request=request)
    return user


def create_token(
    membership: Membership,
    name: str,
    *,
    scope: str = TokenScope.ROLE,
    days: Any = TOKEN_DAYS_DEFAULT,
    request: HttpRequest | None = None,
) -> tuple[ApiToken, str]:
    """Issue an API token acting as this membership, within ``scope``, for ``days`` (1 to 365).
    Returns (token, raw); the raw value is shown once and only its SHA-256 is stored."""
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the token a name, e.g. the script or device that uses it."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    if scope not in TokenScope.values:
        errors["scope"] = [f"Choose one of: {', '.join(TokenScope.values)}."]
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= TOKEN_DAYS_MAX:
        errors["days"] = [f"A token lasts 1 to {TOKEN_DAYS_MAX} days; create a new one when it expires."]
    if errors:
        raise ValidationError(errors)
    if not membership.is_active:
        raise PermissionDenied("Your role in this clinic is not active.")
    raw, prefix, digest = ApiToken.generate()
    with transaction.atomic():
        token = ApiToken.objects.create(
            membership=membership,
            name=name,
            prefix=prefix,
            token_hash=digest,
            scope=scope,
            expires_at=timezone.now() + timedelta(days=days),
        )
        record(
            "token.create",
            user=membership.user,
            clinic=membership.clinic,
            obj=token,
            detail={
                "name": name,
                "prefix": prefix,
                "role": membership.role,
                "scope": scope,
                "expires_at": token.expires_at.isoformat(),
            },
            request=request,
        )
    return token, raw


def revoke_token(user: User, token: ApiToken, *, request: HttpRequest | None = None) -> ApiToken:
    """Revoke one of the user's own tokens; revoking twice changes nothing."""
    if token.membership.user_id != user.pk:
        raise PermissionDenied("You can only revoke your own tokens.")
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(
            "token.revoke",
            user=user,
            clinic=token.membership.clinic,
            obj=token,
            detail={"name": token.name, "prefix": token.prefix},
            request=request,
        )
    return token


def reauthenticate(user: User, password: str, *, what: str = "signed") -> None:
    """The signer proves it is them, whoever's session or token the request came in on: a
    signature (a plan, a Schedule III dose order, a screening) needs the signer's own password.
    Refused with ``ValidationError`` on ``password``, nothing signed."""
    if not str(password or ""):
        raise ValidationError({"password": f"Enter your password: nothing is {what} without it."})
    if user.is_locked():
        raise ValidationError(
            {"password": f"Your account is locked after failed sign-ins; nothing was {what}."}
        )
    if user.must_change_password:
        raise ValidationError(
            {"password": f"An admin reset your password: choose your own first; nothing was {what}."}
        )
    if not user.check_password(str(password)):
        raise ValidationError({"password": f"That is not your password; nothing was {what}."})
