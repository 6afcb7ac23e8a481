from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ketaclinic.accounts import actions
from ketaclinic.accounts.access import clinic_view, forbidden, public_view, user_view
from ketaclinic.accounts.forms import LoginForm
from ketaclinic.accounts.middleware import SESSION_CLINIC
from ketaclinic.accounts.models import Membership


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
    memberships = Membership.objects.filter(user=request.user, is_active=True).select_related("clinic")
    if request.method == "POST":
        chosen = memberships.filter(clinic_id=request.POST.get("clinic")).first()
        if chosen is None:
            messages.error(request, "Choose one of your clinics.")
        else:
            request.session[SESSION_CLINIC] = chosen.clinic_id
            return redirect("home")
    return render(request, "accounts/choose_clinic.html", {"memberships": memberships})


@clinic_view("clinic.home")
def home(request: HttpRequest) -> HttpResponse:
    return redirect("patients-list")


@public_view
def healthz(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return forbidden(request, str(exception) if exception else "You may not do this.")
