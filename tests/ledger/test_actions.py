"""The ledger through its actions: receipt, draw, close-out and reconciliation, with both sides of
every rule (who may, which witness, how much), on the database the suite runs on."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.infusions import actions as infusions
from ketaclinic.infusions.models import SessionState
from ketaclinic.ledger import actions
from ketaclinic.ledger.models import (
    Container,
    ContainerStatus,
    Discrepancy,
    EntryKind,
    LedgerEntry,
    ReconciliationStatus,
)
from ketaclinic.ledger.verify import verify_clinic
from tests.conftest import make_user
from tests.infusions.conftest import VITALS
from tests.infusions.test_discharge_rules import CHECKLIST, observe
from tests.ledger.conftest import keep_ledger, receive, sign

D = Decimal


def run_pump(nurse, clinic, session):
    """Start the order's pump, let it run past the order's volume (it stops itself), stop it."""
    start = timezone.now() - timedelta(minutes=45)
    infusions.record_dosing_event(
        user=nurse, clinic=clinic, session=session, kind="start", idempotency_key="s", at=start.isoformat()
    )
    infusions.record_dosing_event(
        user=nurse, clinic=clinic, session=session, kind="stop", idempotency_key="t"
    )
    session.refresh_from_db()
    return start


def recovered(nurse, clinic, session):
    for kind, data, key in (
        ("vitals", VITALS, "rv"),
        ("moaas", {"score": 5}, "rm"),
        ("cadss6", {"items": [0] * 6}, "rc"),
        ("discharge_check", {"items": CHECKLIST}, "rd"),
        (
            "padss",
            {"items": {"vital_signs": 2, "activity_mental_status": 2, "pain_nausea_vomiting": 1}},
            "rp",
        ),
    ):
        observe(nurse, clinic, session, kind, data, key)


# ----- receipt ------------------------------------------------------------------------------------


def test_a_receipt_puts_each_container_on_the_books_witnessed(ledger, clinic_a):
    receipt = ledger["receipt"]
    assert receipt.status == "accepted"
    containers = list(receipt.containers.order_by("number"))
    assert [c.balance_mg for c in containers] == [D("200.00"), D("200.00")]
    assert [c.balance_ml for c in containers] == [D("20.00"), D("20.00")]
    assert all(c.status == ContainerStatus.SEALED for c in containers)
    entries = LedgerEntry.in_clinic(clinic_a).filter(kind=EntryKind.RECEIPT)
    assert entries.count() == 2 and all(e.witness_id != e.actor_id for e in entries)
    assert verify_clinic(clinic_a) == (2, [])


def test_a_receipt_short_of_its_order_is_held_until_released(ledger, clinic_a, clinic_admin, nurse):
    receipt = receive(
        clinic_a, clinic_admin, nurse, ledger["vials"], ledger["safe"], n=9, ordered=10, invoice="INV-2"
    )
    assert receipt.status == "held" and "received 9 containers, the order was for 10" in receipt.hold_reason
    held = receipt.containers.first()
    assert held.status == ContainerStatus.HELD
    with pytest.raises(ValidationError, match="Say why"):
        actions.release(user=clinic_admin, clinic=clinic_a, receipt=receipt, reason="ok")
    actions.release(
        user=clinic_admin, clinic=clinic_a, receipt=receipt, reason="Supplier confirmed a back-order of 1"
    )
    held.refresh_from_db()
    assert held.status == ContainerStatus.SEALED


def test_receipt_refusals_name_the_field_and_write_nothing(ledger, clinic_a, clinic_admin, nurse):
    before = LedgerEntry.objects.count()
    with pytest.raises(ValidationError) as err:
        receive(clinic_a, clinic_admin, clinic_admin, ledger["vials"], ledger["safe"], invoice="INV-3")
    assert "second person" in str(err.value.message_dict["witness"])
    with pytest.raises(ValidationError) as err:
        receive(clinic_a, clinic_admin, nurse, ledger["vials"], ledger["safe"])  # INV-1 L1 again
    assert "received already" in str(err.value.message_dict["invoice_number"])
    from ketaclinic.ledger.actions import Signature

    with pytest.raises(ValidationError, match="username or password is wrong"):
        actions.receive(
            user=clinic_admin,
            clinic=clinic_a,
            invoice_number="INV-4",
            supplier_name="x",
            supplier_address="y",
            supplier_registration="RA1234563",
            received_on=timezone.localdate(),
            product=ledger["vials"],
            lot_number="L9",
            expires_on=timezone.localdate() + timedelta(days=90),
            containers_ordered=1,
            containers_received=1,
            location=ledger["safe"],
            witness=Signature(nurse.username, "wrong"),
        )
    with pytest.raises(ValidationError) as err:
        actions.receive(
            user=clinic_admin,
            clinic=clinic_a,
            invoice_number="INV-4",
            supplier_name="x",
            supplier_address="y",
            supplier_registration="RA1234567",
            received_on=timezone.localdate(),
            product=ledger["vials"],
            lot_number="L9",
            expires_on=timezone.localdate() + timedelta(days=90),
            containers_ordered=1,
            containers_received=1,
            location=ledger["safe"],
            witness=sign(nurse),
        )
    assert "check digit should be 3" in str(err.value.message_dict["supplier_registration"])
    assert LedgerEntry.objects.count() == before


def test_only_keyholders_receive_into_a_location(ledger, clinic_a, clinic_admin, prescriber, nurse):
    from ketaclinic.ledger.actions import add_location

    cabinet = add_location(
        user=clinic_admin, clinic=clinic_a, name="Cabinet", kind="cabinet", keyholders=[nurse]
    )
    with pytest.raises(ValidationError, match="not a keyholder of Cabinet"):
        receive(clinic_a, prescriber, nurse, ledger["vials"], cabinet, invoice="INV-5")


def test_a_witness_must_hold_the_witness_role(ledger, clinic_a, clinic_admin, frontdesk):
    with pytest.raises(ValidationError, match="may not witness"):
        receive(clinic_a, clinic_admin, frontdesk, ledger["vials"], ledger["safe"], invoice="INV-6")


def test_a_nurse_may_not_receive(ledger, clinic_a, nurse, prescriber):
    with pytest.raises(PermissionDenied):
        receive(clinic_a, nurse, prescriber, ledger["vials"], ledger["safe"], invoice="INV-7")


# ----- a session's drug ---------------------------------------------------------------------------


def test_draw_run_waste_reconciles_and_lets_the_patient_go(
    iv_session, ledger, vial, clinic_a, nurse, prescriber
):
    entry = actions.draw(
        user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="5", idempotency_key="d1"
    )
    assert (entry.mg, entry.ml, entry.balance_mg) == (D("50.00"), D("5.00"), D("150.00"))
    again = actions.draw(
        user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="5", idempotency_key="d1"
    )
    assert again.pk == entry.pk  # a retried tap draws once
    vial.refresh_from_db()
    assert (vial.balance_mg, vial.balance_ml, vial.status) == (D("150.00"), D("15.00"), ContainerStatus.OPEN)

    run_pump(nurse, clinic_a, iv_session)
    recovered(nurse, clinic_a, iv_session)
    with time_machine.travel(timezone.now() + timedelta(hours=3), tick=False):
        with pytest.raises(ValidationError, match="not closed out"):
            infusions.transition(user=nurse, clinic=clinic_a, session=iv_session, to="discharged")
        rec = actions.close_out(
            user=nurse, clinic=clinic_a, session=iv_session, wasted="1.5", witness=sign(prescriber)
        )
        assert rec.status == ReconciliationStatus.BALANCED
        assert (rec.drawn_mg, rec.administered_mg, rec.wasted_mg, rec.unaccounted_mg) == (
            D("50.00"),
            D("35.00"),
            D("15.00"),
            D("0.00"),
        )
        assert infusions.transition(
            user=nurse, clinic=clinic_a, session=iv_session, to="discharged"
        ).state == (SessionState.DISCHARGED)
    waste = LedgerEntry.objects.get(session=iv_session, kind=EntryKind.WASTE)
    assert waste.witness == prescriber and waste.actor == nurse
    assert not Discrepancy.objects.exists()
    assert verify_clinic(clinic_a)[1] == []


def test_a_short_waste_opens_a_discrepancy_by_itself(iv_session, ledger, vial, clinic_a, nurse, prescriber):
    actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="5")
    run_pump(nurse, clinic_a, iv_session)
    rec = actions.close_out(
        user=nurse, clinic=clinic_a, session=iv_session, wasted="0.5", witness=sign(prescriber)
    )
    assert rec.status == ReconciliationStatus.DISCREPANCY and rec.unaccounted_mg == D("10.00")
    d = Discrepancy.objects.get()
    assert d.session == iv_session and d.staff == nurse and d.status == "open"
    assert "10.00 mg drawn is not accounted for" in d.description


def test_within_the_tolerance_is_balanced_and_just_beyond_is_not(
    iv_session, ledger, vial, clinic_a, nurse, prescriber
):
    # Tolerance: 0.1 mL at 10 mg/mL = 1 mg. Drawn 50, given 35: a waste of 14.0 mg balances...
    actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="5")
    run_pump(nurse, clinic_a, iv_session)
    rec = actions.close_out(
        user=nurse, clinic=clinic_a, session=iv_session, wasted="1.40", witness=sign(prescriber)
    )
    assert rec.status == ReconciliationStatus.BALANCED and rec.unaccounted_mg == D("1.00")


def test_just_beyond_the_tolerance_opens_a_discrepancy(iv_session, ledger, vial, clinic_a, nurse, prescriber):
    actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="5")
    run_pump(nurse, clinic_a, iv_session)
    rec = actions.close_out(
        user=nurse, clinic=clinic_a, session=iv_session, wasted="1.39", witness=sign(prescriber)
    )
    assert rec.status == ReconciliationStatus.DISCREPANCY and rec.unaccounted_mg == D("1.10")


def test_more_accounted_than_drawn_is_a_discrepancy_too(
    iv_session, ledger, vial, clinic_a, nurse, prescriber
):
    actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="5")
    run_pump(nurse, clinic_a, iv_session)
    rec = actions.close_out(
        user=nurse, clinic=clinic_a, session=iv_session, wasted="2", witness=sign(prescriber)
    )
    assert rec.status == ReconciliationStatus.DISCREPANCY and rec.unaccounted_mg == D("-5.00")


def test_an_unwitnessed_waste_is_refused_and_the_attempt_kept(iv_session, ledger, vial, clinic_a, nurse):
    actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="5")
    run_pump(nurse, clinic_a, iv_session)
    for witness in (None, sign(nurse)):
        with pytest.raises(ValidationError) as err:
            actions.close_out(user=nurse, clinic=clinic_a, session=iv_session, wasted="1.5", witness=witness)
        assert "witness" in err.value.message_dict
    assert not LedgerEntry.objects.filter(kind__in=(EntryKind.WASTE, EntryKind.ADMINISTERED)).exists()
    attempts = AuditEntry.objects.filter(action="ledger.waste_refused", user=nurse)
    assert attempts.count() == 2


def test_a_draw_is_for_the_orders_product_from_a_usable_container(
    iv_session, ledger, clinic_a, clinic_admin, nurse
):
    devices = receive(
        clinic_a, clinic_admin, nurse, ledger["devices"], ledger["safe"], invoice="INV-E", lot="E1"
    )
    device = devices.containers.first()
    with pytest.raises(ValidationError, match="The order is for"):
        actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=device)
    expired = receive(
        clinic_a,
        clinic_admin,
        nurse,
        ledger["vials"],
        ledger["safe"],
        invoice="INV-X",
        lot="X1",
        expires=timezone.localdate() - timedelta(days=1),
    ).containers.first()
    with pytest.raises(ValidationError, match="held"):
        actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=expired, ml="1")


def test_a_draw_never_takes_more_than_the_container_holds(iv_session, ledger, vial, clinic_a, nurse):
    with pytest.raises(ValidationError, match="holds only 20.00 mL"):
        actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="20.01")
    entry = actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="20")
    vial.refresh_from_db()
    assert entry.balance_mg == 0 and vial.status == ContainerStatus.EMPTY
    with pytest.raises(ValidationError, match="empty"):
        actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="0.1")


@pytest.mark.parametrize("ml", ["0", "-1", "abc", "1,5", "0.001", "1e9", ""])
def test_bad_volumes_are_refused_on_their_field(iv_session, ledger, vial, clinic_a, nurse, ml):
    with pytest.raises(ValidationError) as err:
        actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml=ml)
    assert "ml" in err.value.message_dict
    assert not LedgerEntry.objects.filter(kind=EntryKind.DRAW).exists()


def test_a_wrong_draw_is_reversed_with_a_witness_not_edited(
    iv_session, ledger, vial, clinic_a, nurse, prescriber
):
    entry = actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="15")
    with pytest.raises(ValidationError, match="Say why"):
        actions.correct_draw(
            user=nurse, clinic=clinic_a, entry=entry, reason="oops", witness=sign(prescriber)
        )
    reversal = actions.correct_draw(
        user=nurse, clinic=clinic_a, entry=entry, reason="Typed 15 mL, drew 5 mL", witness=sign(prescriber)
    )
    vial.refresh_from_db()
    assert reversal.reverses == entry and vial.balance_mg == D("200.00") and vial.balance_ml == D("20.00")
    entry.refresh_from_db()
    assert entry.ml == D("15.00")  # the wrong entry stays as it was
    assert verify_clinic(clinic_a)[1] == []


def test_another_clinics_session_or_container_is_refused(
    iv_session, ledger, vial, clinic_b, outsider, clinic_a, nurse
):
    from ketaclinic.accounts.access import OtherClinic

    with pytest.raises((OtherClinic, PermissionDenied)):
        actions.draw(user=outsider, clinic=clinic_b, session=iv_session, container=vial, ml="1")
    other_admin = make_user(clinic_b, "southadmin", "admin")
    safe_b, vials_b, _ = keep_ledger(clinic_b, other_admin, [other_admin, outsider])
    vial_b = receive(clinic_b, other_admin, outsider, vials_b, safe_b).containers.first()
    with pytest.raises(OtherClinic):
        actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial_b, ml="1")


def test_nasal_devices_are_drawn_whole_and_unused_ones_return(
    nasal_session, ledger, clinic_a, clinic_admin, nurse, prescriber
):
    receipt = receive(
        clinic_a, clinic_admin, nurse, ledger["devices"], ledger["safe"], n=3, invoice="INV-N", lot="N1"
    )
    d1, d2, d3 = receipt.containers.order_by("number")
    for device in (d1, d2, d3):
        actions.draw(user=nurse, clinic=clinic_a, session=nasal_session, container=device)
    with time_machine.travel(nasal_session.state_changed_at + timedelta(seconds=5), tick=False) as clock:
        for kind, key in (("start", "n0"), ("device", "n1"), ("device", "n2"), ("stop", "n3")):
            infusions.record_dosing_event(
                user=nurse,
                clinic=clinic_a,
                session=nasal_session,
                kind=kind,
                idempotency_key=key,
                lot_number="N1",
            )
            clock.shift(timedelta(minutes=6))
        nasal_session.refresh_from_db()
        assert nasal_session.state == SessionState.RECOVERY
        rec = actions.close_out(
            user=nurse,
            clinic=clinic_a,
            session=nasal_session,
            wasted="0",
            returned=[d3],
            witness=sign(prescriber),
        )
    assert (rec.drawn_mg, rec.administered_mg, rec.returned_mg) == (D("84.00"), D("56.00"), D("28.00"))
    assert rec.status == ReconciliationStatus.BALANCED
    d3.refresh_from_db()
    assert d3.status == ContainerStatus.SEALED and d3.balance_mg == D("28.00")
    assert verify_clinic(clinic_a)[1] == []


def test_discharge_is_not_held_when_the_clinic_keeps_no_ledger_for_the_product(iv_session, clinic_a, nurse):
    run_pump(nurse, clinic_a, iv_session)
    recovered(nurse, clinic_a, iv_session)
    with time_machine.travel(timezone.now() + timedelta(hours=3), tick=False):
        assert infusions.transition(
            user=nurse, clinic=clinic_a, session=iv_session, to="discharged"
        ).state == (SessionState.DISCHARGED)


def test_drug_given_without_a_draw_holds_the_discharge(iv_session, ledger, clinic_a, nurse):
    run_pump(nurse, clinic_a, iv_session)
    recovered(nurse, clinic_a, iv_session)
    with time_machine.travel(timezone.now() + timedelta(hours=3), tick=False):
        with pytest.raises(ValidationError, match="No drug was drawn for this session"):
            infusions.transition(user=nurse, clinic=clinic_a, session=iv_session, to="discharged")


def test_container_numbers_follow_on_across_receipts(ledger, clinic_a, clinic_admin, nurse):
    second = receive(
        clinic_a, clinic_admin, nurse, ledger["vials"], ledger["safe"], invoice="INV-9", lot="L9"
    )
    assert [c.number for c in Container.in_clinic(clinic_a).order_by("number")] == [1, 2, 3, 4]
    assert second.containers.first().label == "C-00003"


def test_the_tolerance_is_the_clinics_setting(
    iv_session, ledger, vial, clinic_a, nurse, prescriber, settings
):
    settings.KETACLINIC_LEDGER_TOLERANCE_ML = 0.5  # 5 mg at 10 mg/mL
    actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="5")
    run_pump(nurse, clinic_a, iv_session)
    rec = actions.close_out(
        user=nurse, clinic=clinic_a, session=iv_session, wasted="1", witness=sign(prescriber)
    )
    assert rec.tolerance_mg == D("5.00") and rec.unaccounted_mg == D("5.00")
    assert rec.status == ReconciliationStatus.BALANCED


def test_a_locked_account_does_not_witness(iv_session, ledger, vial, clinic_a, nurse, prescriber):
    prescriber.locked_until = timezone.now() + timedelta(minutes=10)
    prescriber.save(update_fields=["locked_until"])
    actions.draw(user=nurse, clinic=clinic_a, session=iv_session, container=vial, ml="5")
    run_pump(nurse, clinic_a, iv_session)
    with pytest.raises(ValidationError) as exc:  # even with the right password
        actions.close_out(
            user=nurse, clinic=clinic_a, session=iv_session, wasted="1.5", witness=sign(prescriber)
        )
    assert "locked" in exc.value.message_dict["witness"][0]


def test_a_receipt_date_reads_as_the_rest_of_the_project(ledger, clinic_a, clinic_admin, nurse):
    from ketaclinic.ledger.actions.common import a_date

    assert a_date("03/02/2026", "received_on") == a_date("2026-03-02", "received_on")
    with pytest.raises(ValidationError, match="is not a date"):
        a_date("2026-02-30", "received_on")
