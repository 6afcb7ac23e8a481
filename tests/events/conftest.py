from __future__ import annotations

import pytest

# Transactional tests flush only these apps' tables. On PostgreSQL the audit table refuses
# TRUNCATE (append-only trigger), and truncating accounts would cascade into it, so tests that
# must commit use events alone.
EVENT_APPS = ["django.contrib.contenttypes", "ketaclinic.events"]


@pytest.fixture(autouse=True, scope="session")
def _stop_pg_listener(django_db_setup, django_db_blocker):  # torn down before the test database
    yield
    from ketaclinic.events import bus

    # The listener's connection would keep the test database from being dropped.
    bus.stop_listening()
