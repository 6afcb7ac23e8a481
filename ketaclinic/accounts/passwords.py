"""A password a guesser would not find: Django's rules (length, common list, not like the
username, not all digits) plus zxcvbn's estimate.

zxcvbn (Dropbox's estimator, ported to Python) scores a password against the frequency lists it
ships (passwords from public breaches, English words, names, keyboard patterns, repeats, dates).
A score below ``MIN_SCORE`` is refused with zxcvbn's own advice: twelve spaces, ``aaaaaaaaaaaa``
or ``password1234`` pass the length rule but not this one. The demo's published password is
refused by name.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from zxcvbn import zxcvbn

# zxcvbn's 3: "safely unguessable: moderate protection from an offline slow-hash scenario"
# (about 10^8 guesses or more), and the hash is Argon2.
MIN_SCORE = 3
# Printed on every `serve --demo` (ketaclinic/demo.py): never a real account's password.
DEMO_PASSWORD = "ketaclinic-demo-2026"  # noqa: S105

# The words every account here shares: a password built on them is easier to guess.
HOUSE_WORDS = ["ketaclinic", "ketamine", "esketamine", "clinic", "infusion", "demo"]


class GuessableValidator:
    def __init__(self, min_score: int = MIN_SCORE) -> None:
        self.min_score = min_score

    def validate(self, password: str, user: Any = None) -> None:
        if password == DEMO_PASSWORD:
            raise ValidationError("This is the demo's published password.", code="password_demo")
        personal = [
            str(getattr(user, field, "") or "") for field in ("username", "first_name", "last_name", "email")
        ]
        result = zxcvbn(password[:100], user_inputs=HOUSE_WORDS + [p for p in personal if p])
        if result["score"] < self.min_score:
            feedback = result["feedback"]
            advice = " ".join(filter(None, [feedback["warning"], *feedback["suggestions"]]))
            raise ValidationError(
                f"This password is too easy to guess. {advice}".strip(), code="password_guessable"
            )

    def get_help_text(self) -> str:
        return "Not easy to guess: no common passwords, repeats, keyboard runs or your own name."
