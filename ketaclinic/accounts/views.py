from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ketaclinic.accounts import actions
from ketaclinic.accounts.access import ClinicRequest, clinic_view, forbidden, public_view, user_view
from ketaclinic.accounts.forms import (
    LoginForm,
    PasswordChangeForm,
    PasswordResetForm,
    RoleForm,
    TokenForm,
    UserAddForm,
    add_action_errors,
)
from ketaclinic.accounts.middleware import SESSION_CLINIC
from ketaclinic.accounts.models import (
    TOKEN_DAYS_DEFAULT,
    ApiToken,
    Clinic,
    Membership,
    Role,
    TokenScope,
    User,
)
from ketaclinic.web import is_htmx


class SignedInRequest(HttpRequest):
    """What ``user_view`` guarantees: a signed-in user (perhaps without an active clinic)."""

    user: User
    membership: Membership | None
    clinic: Clinic | None


@public_view
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        result = actions.attempt_login(request, form.cleaned_data["username"], form.cleaned_data["password"])
        if result.user is not None:
            login(request, result.user)
            nxt = request.POST.get("next") or request.GET.get("next") or ""
            if nxt and url_has_allowed_host_and_scheme(nxt, {request.get_host()}):
                return redirect(nxt)
            return redirect("home")
        error = result.message
    ctx = {"form": form, "error": error, "next": request.GET.get("next", "")}
    return render(request, "accounts/login.html", ctx, status=401 if error else 200)


@public_view
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        actions.record_logout(request)
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("accounts-login")


@user_view
def choose_clinic(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)  # user_view guarantees a signed-in user
    memberships = Membership.objects.filter(user=user, is_active=True).select_related("clinic")
    if request.method == "POST":
        # Compared as text with the user's own clinics: "abc", "" or a huge number is simply none of them.
        raw = str(request.POST.get("clinic", "")).strip()
        chosen = next((m for m in memberships if str(m.clinic_id) == raw), None)
        if chosen is None:
            messages.error(request, "Choose one of your clinics.")
        else:
            request.session[SESSION_CLINIC] = chosen.clinic_id
            return redirect("home")
    return render(request, "accounts/choose_clinic.html", {"memberships": memberships})


@clinic_view("clinic.home")
def home(request: HttpRequest) -> HttpResponse:
    # A clinic admin starts on the admin's start page (what is left to set up, open drug
    # discrepancies, sessions awaiting close-out); everyone else on the patient list.
    membership = getattr(request, "membership", None)
    if membership is not None and membership.role == Role.ADMIN:
        return redirect("admin-start")
    return redirect("patients-list")


@user_view
def keepalive(request: HttpRequest) -> HttpResponse:
    """A signed-in page saying "still here" (the nurse tapped "Stay signed in"): the idle clock
    restarts (the middleware stamps the session), nothing else happens."""
    return HttpResponse(status=204)


@public_view
def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return forbidden(request, str(exception) if exception else "You may not do this.")


# ----- Users of the clinic (clinic admin) -----------------------------------------------------


@clinic_view("users.manage")
def users(request: ClinicRequest) -> HttpResponse:
    members = (
        Membership.in_clinic(request.clinic)
        .select_related("user")
        .order_by("-is_active", "user__last_name", "user__first_name", "user__username")
    )
    ctx = {"members": members, "now": timezone.now()}
    return render(request, "accounts/users.html", ctx)


@clinic_view("users.manage")
def user_add(request: ClinicRequest) -> HttpResponse:
    form = UserAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            member = actions.create_user(
                request.membership,
                username=data["username"],
                password=data["password"],
                role=data["role"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
                credentials=data["credentials"],
                request=request,
            )
        except ValidationError as exc:
            add_action_errors(form, exc)
        else:
            messages.success(
                request, f"{member.user.display_name} can now sign in as {member.get_role_display()}."
            )
            return redirect("accounts-users")
    status = 422 if form.errors else 200
    return render(request, "accounts/user_add.html", {"form": form}, status=status)


# Each POST names one operation on the member; the page shows one small form per operation.
USER_OPS = ("role", "deactivate", "reactivate", "unlock", "password")


@clinic_view("users.manage", load={"member": Membership})
def user_edit(request: ClinicRequest, member: Membership) -> HttpResponse:
    role_form = RoleForm(initial={"role": member.role})
    password_form = PasswordResetForm()
    op = request.POST.get("op", "")
    if request.method == "POST":
        if op not in USER_OPS:
            messages.error(request, "Choose one of the actions on this page.")
            return redirect("accounts-user-edit", member_id=member.pk)
        done, role_form, password_form = _user_op(request, member, op, role_form, password_form)
        if done:
            messages.success(request, done)
            return redirect("accounts-user-edit", member_id=member.pk)
    member.refresh_from_db()
    tokens = member.tokens.order_by("-created_at")
    ctx = {
        "member": member,
        "account": member.user,
        "role_form": role_form,
        "password_form": password_form,
        "tokens": tokens,
        "is_self": member.pk == request.membership.pk,
    }
    status = 422 if role_form.errors or password_form.errors else 200
    return render(request, "accounts/user_edit.html", ctx, status=status)


def _user_op(
    request: ClinicRequest, member: Membership, op: str, role_form: RoleForm, password_form: PasswordResetForm
) -> tuple[str, RoleForm, PasswordResetForm]:
    """Run one operation; return (success message or "", forms carrying any errors)."""
    actor = request.membership
    name = member.user.display_name
    if op == "role":
        role_form = RoleForm(request.POST)
        if not role_form.is_valid():
            return "", role_form, password_form
        try:
            actions.change_role(actor, member, role_form.cleaned_data["role"], request=request)
        except ValidationError as exc:
            add_action_errors(role_form, exc)
            return "", role_form, password_form
        return f"{name} is now {member.get_role_display()}.", role_form, password_form
    if op == "password":
        password_form = PasswordResetForm(request.POST)
        if not password_form.is_valid():
            return "", role_form, password_form
        try:
            actions.reset_password(actor, member, password_form.cleaned_data["new_password"], request=request)
        except ValidationError as exc:
            add_action_errors(password_form, exc)
            return "", role_form, password_form
        return f"Password of {name} reset. Give it to them in person.", role_form, password_form
    if op == "unlock":
        actions.unlock(actor, member, request=request)
        return f"{name} can sign in again.", role_form, password_form
    try:
        actions.set_active(actor, member, op == "reactivate", request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return "", role_form, password_form
    state = "active again" if op == "reactivate" else "deactivated"
    return f"{name} is {state} in this clinic.", role_form, password_form


# ----- One's own password and API tokens ------------------------------------------------------


@user_view
def password_change(request: SignedInRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.change_own_password(
                request.user,
                form.cleaned_data["old_password"],
                form.cleaned_data["new_password"],
                request=request,
            )
        except ValidationError as exc:
            add_action_errors(form, exc)
        else:
            # Keep this session signed in; other sessions of the user end with the old hash.
            update_session_auth_hash(request, request.user)
            messages.success(request, "Your password is changed.")
            return redirect("accounts-tokens")
    status = 422 if form.errors else 200
    return render(request, "accounts/password_change.html", {"form": form}, status=status)


@user_view
def tokens(request: SignedInRequest) -> HttpResponse:
    """The user's own API tokens; a new token acts with the role of the active clinic."""
    form = TokenForm(request.POST or None)
    membership = request.membership
    raw = ""
    if request.method == "POST":
        if membership is None:
            messages.error(request, "Choose a clinic first: a token acts in one clinic.")
            return redirect("accounts-choose-clinic")
        if form.is_valid():
            try:
                token, raw = actions.create_token(
                    membership,
                    form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"] or TokenScope.ROLE,
                    days=form.cleaned_data["days"] or TOKEN_DAYS_DEFAULT,
                    request=request,
                )
            except ValidationError as exc:
                add_action_errors(form, exc)
            else:
                form = TokenForm()
    own = ApiToken.objects.filter(membership__user=request.user).select_related("membership__clinic")
    ctx = {
        "form": form,
        "raw": raw,
        "tokens": own.order_by("revoked_at", "-created_at"),
        "active_membership": membership,
    }
    # htmx posts swap only the panel, so the raw token never sits in a redirect or the session.
    template = "accounts/_token_panel.html" if is_htmx(request) else "accounts/tokens.html"
    status = 422 if form.errors else 200
    return render(request, template, ctx, status=status)


@user_view
@require_POST
def token_revoke(request: SignedInRequest, token_id: int) -> HttpResponse:
    token = ApiToken.objects.filter(pk=token_id, membership__user=request.user).first()
    if token is None:
        raise Http404("No such token of yours.")
    actions.revoke_token(request.user, token, request=request)
    messages.success(request, f"Token {token.name} revoked; it stops working now.")
    return redirect("accounts-tokens")
