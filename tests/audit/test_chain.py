"""The audit hash chain: every kind of tampering is found and named."""

from __future__ import annotations

import pytest
from django.db import connection

from ketaclinic.audit import chain
from ketaclinic.audit.actions import record, verify_chain
from ketaclinic.audit.models import AuditEntry


def _entries(n):
    rows, prev = [], chain.GENESIS
    for seq in range(1, n + 1):
        row = {"seq": seq, "at": f"2026-01-01T00:00:{seq:02d}+00:00", "action": f"a{seq}", "detail": {}}
        row["prev_hash"], row["hash"] = prev, chain.entry_hash(row, prev)
        rows.append(row)
        prev = row["hash"]
    return rows


def test_intact_chain_verifies():
    rows = _entries(5)
    assert chain.verify(rows, head=(5, rows[-1]["hash"])) is None


def test_modified_entry_is_named():
    rows = _entries(5)
    rows[2] = {**rows[2], "action": "forged"}
    problem = chain.verify(rows)
    assert (problem.seq, problem.kind) == (3, "modified")


def test_modified_and_rehashed_entry_is_caught_at_the_next():
    rows = _entries(5)
    forged = {**rows[2], "action": "forged"}
    forged["hash"] = chain.entry_hash(forged, forged["prev_hash"])
    rows[2] = forged
    problem = chain.verify(rows)
    assert problem.seq == 4 and problem.kind == "modified"


def test_rewriting_an_entry_and_the_next_ones_link_is_caught():
    # Each hash covers the previous hash: rewriting entry 3 (rehashed) and pointing entry 4 at it
    # must still break at entry 4, whose own hash was made over the old link.
    rows = _entries(5)
    forged = {**rows[2], "action": "forged"}
    forged["hash"] = chain.entry_hash(forged, forged["prev_hash"])
    rows[2] = forged
    rows[3] = {**rows[3], "prev_hash": forged["hash"]}
    problem = chain.verify(rows, head=(5, rows[-1]["hash"]))
    assert problem is not None and problem.seq == 4
    assert chain.entry_hash(rows[3], "a" * 64) != chain.entry_hash(rows[3], "b" * 64)


def test_deleted_entry_is_named():
    rows = _entries(5)
    del rows[2]
    problem = chain.verify(rows)
    assert (problem.seq, problem.kind) == (4, "deleted")


def test_truncated_tail_is_found_through_the_head():
    rows = _entries(5)
    problem = chain.verify(rows[:3], head=(5, rows[-1]["hash"]))
    assert (problem.seq, problem.kind) == (4, "deleted")


def test_reordered_entries_are_named():
    rows = _entries(5)
    rows[1], rows[2] = rows[2], rows[1]
    problem = chain.verify(rows)
    assert problem.kind in {"reordered", "inserted"} and problem.seq == 3


def test_inserted_entry_is_named():
    rows = _entries(4)
    fake = {"seq": 5, "at": "2026-01-01T00:00:09+00:00", "action": "sneaky", "detail": {}}
    fake["prev_hash"] = rows[1]["hash"]
    fake["hash"] = chain.entry_hash(fake, fake["prev_hash"])
    problem = chain.verify([*rows, fake])
    assert (problem.seq, problem.kind) == (5, "inserted")


def test_appended_outside_the_writer_is_found_through_the_head():
    rows = _entries(5)
    problem = chain.verify(rows, head=(4, rows[3]["hash"]))
    assert problem.kind == "inserted"


@pytest.mark.django_db
def test_recorded_entries_verify_and_tampering_is_detected(clinic_a, nurse):
    for i in range(3):
        record("test.action", user=nurse, clinic=clinic_a, detail={"i": i, "weight": 70.5})
    assert verify_chain() is None
    if connection.vendor == "postgresql":
        pytest.skip("the trigger refuses the UPDATE this test needs; see test_postgres_refuses_update")
    AuditEntry.objects.filter(seq=2).update(detail={"i": 99})
    problem = verify_chain()
    assert (problem.seq, problem.kind) == (2, "modified")


@pytest.mark.django_db
def test_postgres_refuses_update_and_delete(clinic_a, nurse):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    from django.db import DatabaseError, transaction

    record("test.action", user=nurse, clinic=clinic_a)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.update(action="x")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get().action == "test.action"


@pytest.mark.django_db(transaction=True)
def test_postgres_refuses_truncate(clinic_a, nurse):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    from django.db import DatabaseError, transaction

    record("test.action", user=nurse, clinic=clinic_a)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # The suite disables this trigger for its own cleanup (conftest); the ALTER rolls back with the block.
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_no_truncate")
        cursor.execute("TRUNCATE audit_auditentry")
    assert AuditEntry.objects.get().action == "test.action"
