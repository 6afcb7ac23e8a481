"""`ketaclinic ledger verify` catches each kind of tampering by someone who can write the database:
a modified, deleted, inserted or reordered entry, a truncated tail, and an edited balance.

The rows are changed with raw SQL, as an attacker would (PostgreSQL's append-only trigger is
switched off for the purpose, as its owner could)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.db import connection

from ketaclinic.cli import main
from ketaclinic.ledger.models import Container, LedgerEntry
from ketaclinic.ledger.verify import verify_clinic
from tests.ledger.conftest import receive


@pytest.fixture
def chain(ledger, clinic_a, clinic_admin, nurse):
    # 2 receipt entries from the fixture + 3 more: five entries to tamper with.
    receive(clinic_a, clinic_admin, nurse, ledger["vials"], ledger["safe"], n=3, invoice="INV-2", lot="L2")
    assert verify_clinic(clinic_a) == (5, [])
    return clinic_a


@contextmanager
def as_attacker():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The test's open transaction holds deferred foreign-key checks; ALTER needs them done.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE ledger_ledgerentry DISABLE TRIGGER ledger_entry_append_only")
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE ledger_ledgerentry ENABLE TRIGGER ledger_entry_append_only")


def problems(clinic):
    return " | ".join(f.message for f in verify_clinic(clinic)[1])


def test_a_modified_amount_is_caught(chain):
    with as_attacker() as cur:
        cur.execute("UPDATE ledger_ledgerentry SET mg = 100 WHERE seq = 3")
    assert "entry 3 was modified" in problems(chain)


def test_a_modified_amount_with_a_recomputed_balance_is_caught_by_the_hash(chain):
    with as_attacker() as cur:
        cur.execute("UPDATE ledger_ledgerentry SET reason = 'x' WHERE seq = 2")
    assert "entry 2 was modified" in problems(chain)


def test_a_deleted_entry_is_caught(chain):
    with as_attacker() as cur:
        cur.execute("DELETE FROM ledger_ledgerentry WHERE seq = 3")
    found = problems(chain)
    assert "entries 3 to 3 were deleted" in found
    assert "its ledger entries add up to 0.00 mg" in found  # and its container's balance no longer adds up


def test_a_truncated_tail_is_caught(chain):
    with as_attacker() as cur:
        cur.execute("DELETE FROM ledger_ledgerentry WHERE seq = 5")
    assert "entries 5 to 5 were deleted from the end" in problems(chain)


def test_an_inserted_entry_is_caught(chain):
    first = LedgerEntry.objects.get(clinic=chain, seq=1)
    with as_attacker() as cur:
        cur.execute(
            "INSERT INTO ledger_ledgerentry (clinic_id, seq, at, kind, container_id, actor_id, mg, reason,"
            " detail, idempotency_key, prev_hash, hash)"
            " VALUES (%s, 6, %s, 'receipt', %s, %s, 200, '', '{}', '', %s, %s)",
            [
                chain.pk,
                first.at,
                first.container_id,
                first.actor_id,
                LedgerEntry.objects.get(seq=5, clinic=chain).hash,
                "f" * 64,
            ],
        )
    assert "entry 6 was modified" in problems(chain) or "appended outside" in problems(chain)


def test_reordered_entries_are_caught(chain):
    with as_attacker() as cur:
        cur.execute("UPDATE ledger_ledgerentry SET seq = 100 WHERE seq = 2")
        cur.execute("UPDATE ledger_ledgerentry SET seq = 2 WHERE seq = 3")
        cur.execute("UPDATE ledger_ledgerentry SET seq = 3 WHERE seq = 100")
    assert "chain broken at entry 2" in problems(chain) or "chain broken at entry 3" in problems(chain)


def test_an_edited_container_balance_is_caught(chain):
    container = Container.objects.filter(clinic=chain).order_by("number").first()
    Container.objects.filter(pk=container.pk).update(balance_mg=150)
    assert f"{container.label} shows 150.00 mg; its ledger entries add up to 200.00 mg" in problems(chain)


def test_the_command_exits_1_naming_the_problem_and_0_when_intact(chain, capsys):
    assert main(["ledger", "verify"]) == 0
    assert "ledger intact: 5 entries verified" in capsys.readouterr().out
    with as_attacker() as cur:
        cur.execute("UPDATE ledger_ledgerentry SET mg = 1 WHERE seq = 4")
    assert main(["ledger", "verify", "--clinic", chain.slug]) == 1
    assert "ledger BROKEN (northside): chain broken at entry 4 (modified)" in capsys.readouterr().out
    assert main(["ledger", "verify", "--clinic", "nowhere"]) == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database refuses only on PostgreSQL")
def test_postgresql_refuses_update_and_delete_of_entries(chain):
    from django.db import DatabaseError, transaction

    for sql in ("UPDATE ledger_ledgerentry SET mg = 1", "DELETE FROM ledger_ledgerentry"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cur,
        ):
            cur.execute(sql)


def test_an_edited_close_out_record_is_caught(iv_session, ledger, vial, clinic_a, nurse, prescriber):
    from ketaclinic.ledger import actions
    from ketaclinic.ledger.models import SessionReconciliation
    from tests.ledger.conftest import sign
    from tests.ledger.test_actions import run_pump

    actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="5")
    run_pump(nurse, clinic_a, iv_session)
    actions.close_out(user=nurse, clinic=clinic_a, session=iv_session, wasted="0.5", witness=sign(prescriber))
    assert problems(clinic_a) == ""
    SessionReconciliation.objects.filter(session=iv_session).update(wasted_mg=15, status="balanced")
    assert f"session {iv_session.pk}'s close-out records wasted 15.00 mg; its ledger entries say 5.00 mg" in (
        problems(clinic_a)
    )
