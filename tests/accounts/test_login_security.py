"""Sign-in security: lockout, idle timeout, password rules, Argon2."""

from __future__ import annotations

import hashlib
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


def sign_in_from(address, username, password):
    return Client(REMOTE_ADDR=address).post(
        reverse("accounts-login"), {"username": username, "password": password}
    )


def message(response):
    return response.context["error"]


def test_a_username_is_paused_from_one_address_after_the_configured_failures(client, nurse, settings):
    assert settings.LOCKOUT_ATTEMPTS == 5  # the default of KETACLINIC_LOCKOUT_ATTEMPTS
    answers = [sign_in_from("10.0.0.9", "nate", "wrong password") for _ in range(settings.LOCKOUT_ATTEMPTS)]
    assert {r.status_code for r in answers} == {401}
    # Even the right password is refused from that address now, with the very same words.
    paused = sign_in_from("10.0.0.9", "nate", PASSWORD)
    assert paused.status_code == 401 and "_auth_user_id" not in client.session
    assert {message(r) for r in [*answers, paused]} == {
        "That username and password do not match, or sign-in is paused after repeated failures: "
        "try again in 15 minutes or ask a clinic admin."
    }
    assert AuditEntry.objects.filter(action="auth.login_failed", user=nurse).count() == 5
    assert AuditEntry.objects.filter(action="auth.login_refused_paused", user=nurse).count() == 1
    # The nurse, at her own station, is not locked out by someone else's guessing.
    assert sign_in_from("10.0.0.5", "nate", PASSWORD).status_code == 302
    # After the pause runs out, the first address may try again.
    with time_machine.travel(timezone.now() + timedelta(minutes=settings.LOCKOUT_MINUTES + 1)):
        assert sign_in_from("10.0.0.9", "nate", PASSWORD).status_code == 302


def test_an_unknown_username_gets_the_same_answer_at_every_attempt(nurse, settings):
    def answers(username):
        return [
            message(sign_in_from("10.0.0.7", username, "wrong")) for _ in range(settings.LOCKOUT_ATTEMPTS + 1)
        ]

    assert answers("nate") == answers("no-such-user")
    # A username that is no account's may be a password typed in the wrong field: only its digest is kept.
    details = AuditEntry.objects.filter(action="auth.login_failed", user=None).values_list(
        "detail", flat=True
    )
    assert list(details)[0] == {"unknown_username": hashlib.sha256(b"no-such-user").hexdigest()[:16]}
    assert not AuditEntry.objects.filter(detail__icontains="no-such-user").exists()


def test_one_address_trying_many_usernames_is_paused(nurse, prescriber, settings):
    settings.LOCKOUT_ADDRESS_ATTEMPTS = 6
    for i in range(6):
        sign_in_from("10.0.0.8", f"guess{i}", "wrong")
    # Paused for every username, a real one with its right password included; other addresses are not.
    assert sign_in_from("10.0.0.8", "priya", PASSWORD).status_code == 401
    assert AuditEntry.objects.filter(action="auth.login_refused_address").count() == 1
    assert sign_in_from("10.0.0.5", "priya", PASSWORD).status_code == 302


def test_an_account_locks_after_failures_from_many_addresses(nurse, settings):
    settings.LOCKOUT_ACCOUNT_ATTEMPTS = 3
    for i in range(3):
        sign_in_from(f"10.0.1.{i}", "nate", "wrong")
    nurse.refresh_from_db()
    assert nurse.is_locked()
    assert AuditEntry.objects.filter(action="auth.account_locked", user=nurse).count() == 1
    refused = sign_in_from("10.0.0.5", "nate", PASSWORD)
    assert refused.status_code == 401 and "paused after repeated failures" in message(refused)
    assert AuditEntry.objects.filter(action="auth.login_refused_locked").count() == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=settings.LOCKOUT_MINUTES + 1)):
        assert sign_in_from("10.0.0.5", "nate", PASSWORD).status_code == 302
    nurse.refresh_from_db()
    assert nurse.failed_login_count == 0 and nurse.locked_until is None


def test_lockout_threshold_follows_the_setting(nurse, settings):
    settings.LOCKOUT_ATTEMPTS = 2
    sign_in_from("10.0.0.9", "nate", "nope")
    assert sign_in_from("10.0.0.9", "nate", PASSWORD).status_code == 302
    sign_in_from("10.0.0.9", "nate", "nope")
    sign_in_from("10.0.0.9", "nate", "nope")
    assert sign_in_from("10.0.0.9", "nate", PASSWORD).status_code == 401


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
