"""Personas instead of factories: a small clinic network every test can draw on.

Clinic A (Northside) has one user of every role; clinic B (Southside) has a nurse, ``outsider``,
who must never see anything of clinic A.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date

import pytest

# Keep the developer's real data folder out of the tests (settings read this at import).
os.environ.setdefault("KETACLINIC_DATA_DIR", tempfile.mkdtemp(prefix="ketaclinic-test-"))

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clinic_a(db):
    from ketaclinic.accounts.models import Clinic

    return Clinic.objects.create(
        name="Northside Ketamine Clinic", slug="northside", time_zone="America/New_York"
    )


@pytest.fixture
def clinic_b(db):
    from ketaclinic.accounts.models import Clinic

    return Clinic.objects.create(
        name="Southside Ketamine Clinic", slug="southside", time_zone="America/Chicago"
    )


def make_user(clinic, username, role, **extra):
    from ketaclinic.accounts.models import Membership, User

    user = User.objects.create_user(
        username=username, password=PASSWORD, first_name=username.title(), **extra
    )
    Membership.objects.create(user=user, clinic=clinic, role=role)
    return user


@pytest.fixture
def prescriber(clinic_a):
    return make_user(clinic_a, "priya", "prescriber", credentials="MD")


@pytest.fixture
def nurse(clinic_a):
    return make_user(clinic_a, "nate", "nurse", credentials="RN")


@pytest.fixture
def frontdesk(clinic_a):
    return make_user(clinic_a, "fran", "frontdesk")


@pytest.fixture
def clinic_admin(clinic_a):
    return make_user(clinic_a, "ada", "admin")


@pytest.fixture
def auditor(clinic_a):
    return make_user(clinic_a, "otto", "auditor")


@pytest.fixture
def outsider(clinic_b):
    return make_user(clinic_b, "bea", "nurse", credentials="RN")


@pytest.fixture
def personas(prescriber, nurse, frontdesk, clinic_admin, auditor, outsider):
    return {
        "prescriber": prescriber,
        "nurse": nurse,
        "frontdesk": frontdesk,
        "admin": clinic_admin,
        "auditor": auditor,
        "outsider": outsider,
    }


@pytest.fixture
def login(client):
    """login(user) -> a test client signed in as that user."""

    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def patient(clinic_a, nurse):
    from ketaclinic.patients.models import Patient

    return Patient.objects.create(
        clinic=clinic_a,
        mrn="A-1001",
        given_name="Maria",
        family_name="Lopez",
        date_of_birth=date(1984, 3, 2),
        sex="female",
        escort_name="Carlos Lopez",
        escort_phone="555-0101",
        created_by=nurse,
    )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Let transactional tests empty the audit table between tests on the throwaway test database.

    Only the TRUNCATE trigger is disabled; UPDATE and DELETE stay refused, and
    tests/audit/test_chain.py re-enables it to show that TRUNCATE is refused too.
    """
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_no_truncate")
                cursor.execute("ALTER TABLE ledger_ledgerentry DISABLE TRIGGER ledger_entry_no_truncate")


def pytest_collection_modifyitems(items):
    """Browser tests last: Playwright's sync API keeps an event loop running in the main thread
    for the rest of the session, which tests that call asyncio.run() themselves cannot share."""
    items.sort(key=lambda item: "tests/browser/" in str(item.path))
