"""Sign-in security: lockout, idle timeout, password rules, Argon2."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from tests.conftest import PASSWORD


def sign_in(client, username, password):
    return client.post(reverse("accounts-login"), {"username": username, "password": password})


def test_lockout_after_the_configured_number_of_failures(client, nurse, settings):
    assert settings.LOCKOUT_ATTEMPTS == 5  # the default of KETACLINIC_LOCKOUT_ATTEMPTS
    for _ in range(settings.LOCKOUT_ATTEMPTS - 1):
        response = sign_in(client, "nate", "wrong password")
        assert response.status_code == 401
        assert "do not match" in response.content.decode()
    nurse.refresh_from_db()
    assert nurse.failed_login_count == settings.LOCKOUT_ATTEMPTS - 1 and not nurse.is_locked()

    response = sign_in(client, "nate", "wrong password")
    assert "locked" in response.content.decode()
    nurse.refresh_from_db()
    assert nurse.is_locked()
    assert AuditEntry.objects.filter(action="auth.account_locked", user=nurse).count() == 1

    # Even the right password is refused while locked.
    response = sign_in(client, "nate", PASSWORD)
    assert response.status_code == 401
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="auth.login_refused_locked").count() == 1

    # After the lock runs out, the right password works again.
    with time_machine.travel(timezone.now() + timedelta(minutes=settings.LOCKOUT_MINUTES + 1)):
        response = sign_in(client, "nate", PASSWORD)
        assert response.status_code == 302
    nurse.refresh_from_db()
    assert nurse.failed_login_count == 0 and nurse.locked_until is None


def test_lockout_threshold_follows_the_setting(client, nurse, settings):
    settings.LOCKOUT_ATTEMPTS = 2
    sign_in(client, "nate", "nope")
    nurse.refresh_from_db()
    assert not nurse.is_locked()
    sign_in(client, "nate", "nope")
    nurse.refresh_from_db()
    assert nurse.is_locked()


def test_idle_session_is_signed_out(client, nurse, settings):
    assert settings.IDLE_TIMEOUT_MINUTES == 15
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        assert sign_in(client, "nate", PASSWORD).status_code == 302
        assert client.get(reverse("accounts-tokens")).status_code == 200

        traveller.shift(timedelta(minutes=14))
        assert client.get(reverse("accounts-tokens")).status_code == 200  # activity renews the clock

        traveller.shift(timedelta(minutes=16))
        response = client.get(reverse("accounts-tokens"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts-login"))
        assert "_auth_user_id" not in client.session
        # And the next page asks for a sign-in again.
        response = client.get(reverse("accounts-tokens"))
        assert response.status_code == 302 and reverse("accounts-login") in response["Location"]


def test_password_change_enforces_rules(login, nurse):
    client = login(nurse)
    url = reverse("accounts-password")
    response = client.post(
        url, {"old_password": "wrong", "new_password": "x" * 20, "new_password2": "x" * 20}
    )
    assert response.status_code == 422
    assert "not your current password" in response.content.decode()

    response = client.post(url, {"old_password": PASSWORD, "new_password": "abc", "new_password2": "abc"})
    assert response.status_code == 422
    assert "too short" in response.content.decode()

    response = client.post(
        url, {"old_password": PASSWORD, "new_password": "12345678901234", "new_password2": "12345678901234"}
    )
    assert "entirely numeric" in response.content.decode()

    response = client.post(
        url,
        {"old_password": PASSWORD, "new_password": "lantern-orbit-93", "new_password2": "lantern-orbit-39"},
    )
    assert "differ" in response.content.decode()
    nurse.refresh_from_db()
    assert nurse.check_password(PASSWORD)
    assert not AuditEntry.objects.filter(action="user.password_change").exists()

    response = client.post(
        url,
        {"old_password": PASSWORD, "new_password": "lantern-orbit-93", "new_password2": "lantern-orbit-93"},
    )
    assert response.status_code == 302
    nurse.refresh_from_db()
    assert nurse.check_password("lantern-orbit-93")
    assert AuditEntry.objects.get(action="user.password_change").user == nurse
    # The session that changed the password stays signed in.
    assert client.get(reverse("accounts-tokens")).status_code == 200


def test_minimum_length_is_configured():
    from django.conf import settings

    lengths = [
        v["OPTIONS"]["min_length"] for v in settings.AUTH_PASSWORD_VALIDATORS if "MinimumLength" in v["NAME"]
    ]
    assert lengths == [12]


def test_production_hasher_is_argon2():
    # The tests swap in MD5 for speed; the settings module itself must name Argon2 first.
    from ketaclinic import settings as production

    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    encoded = Argon2PasswordHasher().encode("lantern-orbit-93", Argon2PasswordHasher().salt())
    assert encoded.startswith("argon2$argon2id$")
    assert Argon2PasswordHasher().verify("lantern-orbit-93", encoded)
    assert not Argon2PasswordHasher().verify("lantern-orbit-94", encoded)


def test_a_background_request_after_the_idle_sign_out_is_a_401_not_the_sign_in_page(client, nurse, patient):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        sign_in(client, "nate", PASSWORD)
        url = reverse("patients-detail", args=[patient.pk])
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 200
        traveller.shift(timedelta(minutes=16))
        response = client.get(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 401 and response["HX-Reswap"] == "none"
        assert b"Signed out" in response.content and b"<form" not in response.content
        assert "_auth_user_id" not in client.session
        # Without htmx (a whole page), the sign-in page as before.
        assert client.get(url).status_code == 302


def test_stay_signed_in_restarts_the_idle_clock(client, nurse):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        sign_in(client, "nate", PASSWORD)
        traveller.shift(timedelta(minutes=14))
        assert client.get(reverse("accounts-keepalive")).status_code == 204
        traveller.shift(timedelta(minutes=14))
        assert client.get(reverse("accounts-tokens")).status_code == 200  # 28 min, never 15 idle
    assert Client().get(reverse("accounts-keepalive")).status_code == 302


def test_a_locked_account_signs_nothing_even_with_its_password(prescriber):
    from django.core.exceptions import ValidationError

    from ketaclinic.accounts.actions import reauthenticate

    reauthenticate(prescriber, PASSWORD)  # not locked: accepted
    prescriber.locked_until = timezone.now() + timedelta(minutes=5)
    with pytest.raises(ValidationError, match="locked"):
        reauthenticate(prescriber, PASSWORD)
