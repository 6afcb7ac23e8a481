"""Personas instead of factories: a small clinic network every test can draw on.

Clinic A (Northside) has one user of every role; clinic B (Southside) has a nurse, ``outsider``,
who must never see anything of clinic A.
"""

from __future__ import annotations

import contextlib
import os
import shutil
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


# A migrated SQLite test database to start from instead of migrating (about 3 s) in every pytest
# session: scripts/mutation.py sets this, because it runs a pytest session for every mutant. Each
# process works on a copy of its own, so parallel sessions never share a file. Unset (the suite
# as CI runs it), the test database is the usual in-memory one, migrated.
DB_TEMPLATE = os.environ.get("KETACLINIC_TEST_DB_TEMPLATE")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings):
    if DB_TEMPLATE:
        from django.conf import settings

        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
            raise pytest.UsageError("KETACLINIC_TEST_DB_TEMPLATE is for the SQLite test database")
        own = f"{DB_TEMPLATE}.{os.getpid()}"
        if os.path.exists(DB_TEMPLATE):
            shutil.copyfile(DB_TEMPLATE, own)
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = own
    yield
    if DB_TEMPLATE:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{DB_TEMPLATE}.{os.getpid()}{suffix}")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Let transactional tests empty the audit table between tests on the throwaway test database.

    Only the TRUNCATE trigger is disabled; UPDATE and DELETE stay refused, and
    tests/audit/test_chain.py re-enables it to show that TRUNCATE is refused too.

    With a template (above) not yet written, the freshly migrated database becomes the template.
    """
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_no_truncate")
                cursor.execute("ALTER TABLE ledger_ledgerentry DISABLE TRIGGER ledger_entry_no_truncate")
        if DB_TEMPLATE and not os.path.exists(DB_TEMPLATE):
            with connection.cursor() as cursor:
                cursor.execute("VACUUM INTO %s", [f"{DB_TEMPLATE}.tmp{os.getpid()}"])
            os.replace(f"{DB_TEMPLATE}.tmp{os.getpid()}", DB_TEMPLATE)


def pytest_collection_modifyitems(items):
    """Browser tests last: Playwright's sync API keeps an event loop running in the main thread
    for the rest of the session, which tests that call asyncio.run() themselves cannot share."""
    items.sort(key=lambda item: "tests/browser/" in str(item.path))
