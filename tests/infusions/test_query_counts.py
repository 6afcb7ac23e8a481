"""The observation write path, statement by statement: what one POST of vital signs costs.

A monitor gateway may post vitals for every chair every few seconds and a nurse's tap must answer at
once, so the statements of ``POST /api/infusions/{id}/observations`` are pinned here, one by one, and
shown not to grow with the session's history (observations, corrections, alerts). Each is one
indexed lookup or one write; docs/benchmarks.md has the before and after.

The tests run inside pytest-django's transaction, so the action's transaction shows as a SAVEPOINT
and its RELEASE; in production they are BEGIN and COMMIT (not captured on either database).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ketaclinic.infusions import actions
from ketaclinic.infusions.models import Alert
from tests.api.conftest import ApiClient, token_for
from tests.infusions.conftest import VITALS

PG = connection.vendor == "postgresql"
NORMAL = VITALS
# Severe hypertension and a rise from the 126/80 baseline: two alerts.
HIGH = VITALS | {"systolic_mmhg": 190}


def shape(sql: str) -> str:
    """A statement as "VERB table" (or the function called), to compare lists of statements."""
    sql = sql.strip()
    if sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
        return sql.rsplit(" ", 1)[0]
    if call := re.match(r"SELECT (pg_\w+)\(", sql):
        return f"SELECT {call.group(1)}"
    verb = sql.split(" ", 1)[0]
    table = re.search(r'(?:FROM|INTO|UPDATE) "(\w+)"', sql)
    return f"{verb} {table.group(1) if table else '?'}"


def sealed(table: str) -> list[str]:
    """A clinical row's seal (ketaclinic/audit/rows.py): the stored row read back, its seal upserted."""
    return [f"SELECT {table}", "INSERT audit_rowseal"]


# What one new observation costs.
TRANSACTION = [
    "SAVEPOINT",  # BEGIN (IMMEDIATE on SQLite) in production
    "SELECT infusions_session",  # the session locked (FOR UPDATE OF the session only), with its order
    "INSERT infusions_observation",  # the idempotency key is checked by its unique constraint
    *sealed("infusions_observation"),
]
BASELINE = ["SELECT infusions_observation"]  # the last BP before dosing started: LIMIT 1
AUDIT = [
    "SELECT audit_audithead",  # the previous hash: the head row by primary key, locked
    "INSERT audit_auditentry",
    "UPDATE audit_audithead",
]
EVENTS = [
    *(["SELECT pg_advisory_xact_lock"] if PG else []),  # event ids in commit order
    "INSERT events_event",  # the session's and the floor's event, one multi-row INSERT
    *(["SELECT pg_notify"] if PG else []),  # both channels in one statement
    "RELEASE SAVEPOINT",  # COMMIT in production
]
REQUEST = [
    "SELECT accounts_apitoken",  # the token with its membership, clinic and user (api.auth)
    "SELECT infusions_session",  # the session through the caller's clinic (api_access)
]
VITALS_POST = [*REQUEST, *TRANSACTION, *BASELINE, *AUDIT, *EVENTS]
ALARMING_POST = [
    *REQUEST,
    *TRANSACTION,
    *BASELINE,
    "SELECT infusions_alert",  # the open alerts' codes: one open alert per problem
    "INSERT infusions_alert",
    *sealed("infusions_alert"),
    "INSERT infusions_alert",
    *sealed("infusions_alert"),
    *AUDIT,
    *EVENTS,
]
# A sedation score has no blood pressure: the rules read no history at all.
MOAAS_POST = [*REQUEST, *TRANSACTION, *AUDIT, *EVENTS]


@pytest.fixture
def dosing(iv_session, nurse, clinic_a):
    with time_machine.travel(iv_session.state_changed_at + timedelta(seconds=5), tick=True) as clock:
        actions.record_dosing_event(
            user=nurse, clinic=clinic_a, session=iv_session, kind="start", idempotency_key="start"
        )
        yield iv_session, clock


def post(api, session, kind, key, values):
    with CaptureQueriesContext(connection) as ctx:
        response = api.post(
            f"/api/infusions/{session.pk}/observations", {"kind": kind, "idempotency_key": key, **values}
        )
    assert response.status_code == 201, response.content
    return response.json(), [shape(q["sql"]) for q in ctx.captured_queries]


def history(nurse, clinic, session, tag, n):
    """``n`` vitals, a sedation score, a note and its correction, and an alert left open."""
    for i in range(n):
        actions.record_observation(
            user=nurse,
            clinic=clinic,
            session=session,
            kind="vitals",
            data=VITALS | {"heart_rate_bpm": 70 + i % 5},
            idempotency_key=f"{tag}-v{i}",
        )
    actions.record_observation(
        user=nurse,
        clinic=clinic,
        session=session,
        kind="moaas",
        data={"score": 4},
        idempotency_key=f"{tag}-m",
    )
    note, _ = actions.record_observation(
        user=nurse,
        clinic=clinic,
        session=session,
        kind="note",
        data={"text": "x"},
        idempotency_key=f"{tag}-n",
    )
    actions.correct_observation(
        user=nurse,
        clinic=clinic,
        original=note,
        data={"text": "y"},
        reason="typo",
        idempotency_key=f"{tag}-f",
    )
    actions.record_observation(
        user=nurse,
        clinic=clinic,
        session=session,
        kind="vitals",
        data=VITALS | {"spo2_pct": 91},
        idempotency_key=f"{tag}-low",
    )


def test_a_vitals_post_is_pinned_statement_by_statement_and_does_not_grow_with_history(
    dosing, nurse, clinic_a
):
    session, clock = dosing
    api = ApiClient(token_for(nurse))
    history(nurse, clinic_a, session, "a", 3)
    post(api, session, "vitals", "warm", NORMAL)  # the token's last_used_at is written once a minute
    _, few = post(api, session, "vitals", "k1", NORMAL)
    assert few == VITALS_POST, few
    assert len(few) == (15 if PG else 13)

    history(nurse, clinic_a, session, "b", 40)
    clock.shift(timedelta(seconds=20))
    _, many = post(api, session, "vitals", "k2", NORMAL)
    assert many == few

    body, alarming = post(api, session, "vitals", "k3", HIGH)
    assert alarming == ALARMING_POST, alarming
    # The answer lists the alerts as the action created them, without reading them back.
    assert [a["code"] for a in body["alerts"]] == ["bp_severe", "bp_rise"]
    stored = Alert.objects.filter(observation_id=body["observation"]["id"]).order_by("id")
    assert body["alerts"] == [a.to_dict() for a in stored]

    _, sedation = post(api, session, "moaas", "k4", {"score": 4})
    assert sedation == MOAAS_POST, sedation


def test_a_replay_writes_nothing_and_answers_with_the_stored_observation(dosing, nurse, clinic_a):
    session, _ = dosing
    api = ApiClient(token_for(nurse))
    first, _ = post(api, session, "vitals", "same", HIGH)
    path = f"/api/infusions/{session.pk}/observations"
    with CaptureQueriesContext(connection) as ctx:
        again = api.post(path, {"kind": "vitals", "idempotency_key": "same", **HIGH})
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["alerts"] == first["alerts"] and again.json()["observation"] == first["observation"]
    shapes = [shape(q["sql"]) for q in ctx.captured_queries]
    # The INSERT fails on the key, everything is rolled back, the stored one is read.
    assert "ROLLBACK TO SAVEPOINT" in shapes
    assert not [s for s in shapes if s.startswith(("UPDATE", "DELETE"))]
    assert shapes.count("INSERT infusions_observation") == 1
