"""Weak passwords are refused with advice, wherever a password is set (issue 13: twelve spaces,
``aaaaaaaaaaaa`` and the demo password were accepted)."""

from __future__ import annotations

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse

from ketaclinic.accounts.passwords import DEMO_PASSWORD
from tests.conftest import PASSWORD


def refusal(password, user=None):
    with pytest.raises(ValidationError) as caught:
        validate_password(password, user)
    return " ".join(caught.value.messages)


@pytest.mark.parametrize(
    ("password", "words"),
    [
        (" " * 12, 'Repeats like "aaa" are easy to guess.'),
        ("a" * 12, 'Repeats like "aaa" are easy to guess.'),
        ("abababababab", "Repeats like"),
        ("password1234", "This password is too easy to guess."),
        ("qwertyuiop12", "This password is too easy to guess."),
        (DEMO_PASSWORD, "This is the demo's published password."),
    ],
)
def test_guessable_passwords_are_refused_with_advice(password, words):
    assert words in refusal(password)


@pytest.mark.parametrize("password", [PASSWORD, "lantern-orbit-93", "Summer2026!!x", "p4ssw0rd-for-tests"])
def test_passwords_a_guesser_would_not_find_pass(password):
    validate_password(password)


def test_the_password_page_refuses_a_guessable_one_and_keeps_the_old(login, nurse):
    url = reverse("accounts-password")
    weak = "a" * 14
    response = login(nurse).post(url, {"old_password": PASSWORD, "new_password": weak, "new_password2": weak})
    assert response.status_code == 422
    assert "easy to guess" in response.content.decode()
    nurse.refresh_from_db()
    assert nurse.check_password(PASSWORD)
