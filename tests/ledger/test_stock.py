"""Counts, discrepancies and what follows them; destruction, reverse distribution, adjustments,
moves and losses: each with its witnesses and its refusals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from ketaclinic.ledger import actions
from ketaclinic.ledger.models import ContainerStatus, Discrepancy, EntryKind, LedgerEntry
from ketaclinic.ledger.verify import verify_clinic
from tests.ledger.conftest import receive, sign

D = Decimal


def count(clinic, user, witness, location, found, kind="daily", business_time=""):
    return actions.record_count(
        user=user,
        clinic=clinic,
        location=location,
        kind=kind,
        business_time=business_time,
        counted=found,
        witness=sign(witness),
    )


def test_a_count_that_matches_opens_nothing(ledger, clinic_a, nurse, prescriber):
    c1, c2 = ledger["receipt"].containers.order_by("number")
    result = count(clinic_a, nurse, prescriber, ledger["safe"], {c1.pk: "20", c2.pk: "20.00"})
    assert result.lines.count() == 2 and not Discrepancy.objects.exists()
    assert result.ledger_seq == 2


def test_a_count_short_beyond_the_tolerance_opens_a_discrepancy_resolved_by_an_adjustment(
    ledger, clinic_a, nurse, prescriber, clinic_admin
):
    c1, c2 = ledger["receipt"].containers.order_by("number")
    count(clinic_a, nurse, prescriber, ledger["safe"], {c1.pk: "19.9", c2.pk: "19.8"})
    d = Discrepancy.objects.get()  # 19.9 mL is within 1 mg; 19.8 mL (2 mg short) is not
    assert d.container == c2 and d.difference_mg == D("-2.00") and d.staff == nurse
    with pytest.raises(ValidationError, match="Say why"):
        actions.resolve(user=clinic_admin, clinic=clinic_a, discrepancy=d, resolution="fine")
    actions.note_investigation(user=clinic_admin, clinic=clinic_a, discrepancy=d, note="Re-measured: 19.8 mL")
    actions.resolve(
        user=clinic_admin,
        clinic=clinic_a,
        discrepancy=d,
        resolution="Overfill assumed at receipt; measured 19.8 mL twice",
        adjust_to_count=True,
        witness=sign(nurse),
    )
    c2.refresh_from_db()
    d.refresh_from_db()
    assert c2.balance_mg == D("198.00") and d.status == "resolved" and "19.8 mL" in d.investigation
    adjustment = LedgerEntry.objects.get(kind=EntryKind.ADJUSTMENT)
    assert adjustment.mg == D("-2.00") and adjustment.witness == nurse
    assert verify_clinic(clinic_a)[1] == []
    with pytest.raises(ValidationError, match="resolved already"):
        actions.resolve(user=clinic_admin, clinic=clinic_a, discrepancy=d, resolution="again and again")


def test_a_count_must_cover_every_container_on_the_books(ledger, clinic_a, nurse, prescriber):
    c1, _ = ledger["receipt"].containers.order_by("number")
    with pytest.raises(ValidationError, match="not counted: C-00002"):
        count(clinic_a, nurse, prescriber, ledger["safe"], {c1.pk: "20"})


def test_an_inventory_says_opening_or_close_of_business(ledger, clinic_a, nurse, prescriber):
    c1, c2 = ledger["receipt"].containers.order_by("number")
    found = {c1.pk: "20", c2.pk: "20"}
    with pytest.raises(ValidationError) as err:
        count(clinic_a, nurse, prescriber, ledger["safe"], found, kind="biennial")
    assert "business_time" in err.value.message_dict
    inventory = count(
        clinic_a, nurse, prescriber, ledger["safe"], found, kind="biennial", business_time="close"
    )
    assert inventory.get_business_time_display() == "At close of business"


def test_a_missing_count_escalates_to_a_loss_report_that_takes_the_drug_off_the_books(
    ledger, clinic_a, nurse, prescriber, clinic_admin
):
    c1, c2 = ledger["receipt"].containers.order_by("number")
    count(clinic_a, nurse, prescriber, ledger["safe"], {c1.pk: "20", c2.pk: "15"})
    d = Discrepancy.objects.get()
    report = actions.escalate(
        user=clinic_admin,
        clinic=clinic_a,
        discrepancy=d,
        kind="theft",
        description="5 mL missing from C-00002",
    )
    c2.refresh_from_db()
    d.refresh_from_db()
    assert report.quantity_mg == D("50.00") and c2.balance_mg == D("150.00")
    assert d.status == "escalated" and d.loss_report == report
    assert (
        report.notice_due_at > report.discovered_at and report.form_106_due_on > report.discovered_at.date()
    )
    assert verify_clinic(clinic_a)[1] == []


def test_the_loss_filings_are_recorded_once_each(ledger, vial, clinic_a, clinic_admin):
    report = actions.report_loss(
        user=clinic_admin,
        clinic=clinic_a,
        kind="significant_loss",
        discovered_at=timezone.now(),
        quantity_mg="200",
        container=vial,
        description="Vial shattered on the floor",
    )
    vial.refresh_from_db()
    assert vial.status == ContainerStatus.LOST and vial.balance_mg == 0
    actions.record_loss_filing(user=clinic_admin, clinic=clinic_a, report=report, step="notice")
    with pytest.raises(ValidationError, match="already"):
        actions.record_loss_filing(user=clinic_admin, clinic=clinic_a, report=report, step="notice")
    with pytest.raises(ValidationError, match="required"):
        actions.record_loss_filing(user=clinic_admin, clinic=clinic_a, report=report, step="form_106")
    actions.record_loss_filing(
        user=clinic_admin, clinic=clinic_a, report=report, step="form_106", reference="F106-77"
    )
    report.refresh_from_db()
    assert report.notified_at and report.form_106_reference == "F106-77"


def test_a_loss_cannot_exceed_the_container_or_be_in_the_future(ledger, vial, clinic_a, clinic_admin):
    with pytest.raises(ValidationError, match="holds 200.00 mg"):
        actions.report_loss(
            user=clinic_admin, clinic=clinic_a, kind="theft", discovered_at=timezone.now(),
            quantity_mg="201", container=vial, description="More than it held",
        )  # fmt: skip
    with pytest.raises(ValidationError, match="future"):
        actions.report_loss(
            user=clinic_admin, clinic=clinic_a, kind="theft", quantity_mg="1", container=vial,
            discovered_at=timezone.now() + timedelta(hours=1), description="Not yet discovered",
        )  # fmt: skip


def test_destruction_needs_two_different_witnesses_besides_the_actor(
    ledger, vial, clinic_a, clinic_admin, nurse, prescriber
):
    def destroy(w1, w2):
        return actions.destroy(
            user=clinic_admin,
            clinic=clinic_a,
            container=vial,
            reason="Expired lot, past its date",
            method="Chemical denaturing kit",
            witnesses=(w1, w2),
        )

    with pytest.raises(ValidationError) as err:
        destroy(sign(nurse), sign(nurse))
    assert "different person" in str(err.value.message_dict["second_witness"])
    with pytest.raises(ValidationError) as err:
        destroy(sign(nurse), None)
    assert "second_witness" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        destroy(sign(clinic_admin), sign(nurse))
    assert "not you" in str(err.value.message_dict["witness"])
    destroy(sign(nurse), sign(prescriber))
    vial.refresh_from_db()
    entry = LedgerEntry.objects.get(kind=EntryKind.DESTRUCTION)
    assert vial.status == ContainerStatus.DESTROYED and vial.balance_mg == 0 and entry.mg == D("200.00")
    assert (entry.witness, entry.second_witness) == (nurse, prescriber)
    assert entry.detail["method"] == "Chemical denaturing kit"


def test_reverse_distribution_records_the_distributor(ledger, vial, clinic_a, clinic_admin, nurse):
    with pytest.raises(ValidationError) as err:
        actions.send_to_reverse_distributor(
            user=clinic_admin, clinic=clinic_a, container=vial, distributor_name="Returns Co",
            distributor_registration="RX0000001", distributor_address="2 Return Rd",
            shipped_on=timezone.localdate(), witness=sign(nurse),
        )  # fmt: skip
    assert "distributor_registration" in err.value.message_dict
    actions.send_to_reverse_distributor(
        user=clinic_admin, clinic=clinic_a, container=vial, distributor_name="Returns Co",
        distributor_registration="RA1234563", distributor_address="2 Return Rd",
        shipped_on=timezone.localdate(), witness=sign(nurse),
    )  # fmt: skip
    vial.refresh_from_db()
    assert vial.status == ContainerStatus.REVERSE_DISTRIBUTED and vial.balance_mg == 0


def test_adjustments_are_the_admins_and_never_go_below_zero(ledger, vial, clinic_a, clinic_admin, nurse):
    with pytest.raises(PermissionDenied):
        actions.adjust(
            user=nurse,
            clinic=clinic_a,
            container=vial,
            mg="-1",
            reason="Spilled a drop",
            witness=sign(clinic_admin),
        )
    with pytest.raises(ValidationError, match="holds only 200.00 mg"):
        actions.adjust(
            user=clinic_admin,
            clinic=clinic_a,
            container=vial,
            mg="-200.01",
            reason="Too much taken off",
            witness=sign(nurse),
        )
    actions.adjust(
        user=clinic_admin,
        clinic=clinic_a,
        container=vial,
        mg="-0.5",
        reason="Spilled a drop",
        witness=sign(nurse),
    )
    vial.refresh_from_db()
    assert vial.balance_mg == D("199.50") and vial.balance_ml == D("19.95")


def test_a_move_needs_both_keys(ledger, vial, clinic_a, clinic_admin, nurse):
    cart = actions.add_location(
        user=clinic_admin, clinic=clinic_a, name="Cart", kind="cart", keyholders=[clinic_admin]
    )
    with pytest.raises(ValidationError, match="not a keyholder of Cart"):
        actions.transfer(user=nurse, clinic=clinic_a, container=vial, to=cart)
    actions.set_keyholders(
        user=clinic_admin, clinic=clinic_a, location=cart, keyholders=[clinic_admin, nurse]
    )
    actions.transfer(user=nurse, clinic=clinic_a, container=vial, to=cart)
    vial.refresh_from_db()
    assert vial.location == cart
    entry = LedgerEntry.objects.get(kind=EntryKind.TRANSFER)
    assert entry.detail == {"from": "Safe", "to": "Cart"} and entry.mg == 0


def test_setup_refusals(clinic_a, clinic_admin, outsider):
    from ketaclinic.protocols.models import Product

    with pytest.raises(ValidationError, match="check digit"):
        actions.add_registration(
            user=clinic_admin, clinic=clinic_a, number="BN1234567", registrant_name="N", address="A",
            schedules="3", expires_on=timezone.localdate() + timedelta(days=10),
        )  # fmt: skip
    with pytest.raises(ValidationError, match="already expired"):
        actions.add_registration(
            user=clinic_admin, clinic=clinic_a, number="BN1234563", registrant_name="N", address="A",
            schedules="3", expires_on=timezone.localdate() - timedelta(days=1),
        )  # fmt: skip
    with pytest.raises(ValidationError, match="Not staff of this clinic: bea"):
        actions.add_location(
            user=clinic_admin, clinic=clinic_a, name="Safe", kind="safe", keyholders=[outsider]
        )
    with pytest.raises(ValidationError, match="nasal device is one container"):
        actions.add_product(
            user=clinic_admin, clinic=clinic_a, product=Product.objects.get(code="esketamine-28"),
            ndc="50458-028-02", container_ml="0.2",
        )  # fmt: skip


def test_without_a_registration_in_force_nothing_is_received(clinic_a, clinic_admin, nurse):
    from ketaclinic.ledger.models import Registration
    from tests.ledger.conftest import keep_ledger

    safe, vials, _ = keep_ledger(clinic_a, clinic_admin, [clinic_admin, nurse])
    Registration.objects.update(expires_on=timezone.localdate() - timedelta(days=1))
    with pytest.raises(ValidationError, match="expired on"):
        receive(clinic_a, clinic_admin, nurse, vials, safe)


def test_expiry_is_judged_on_the_clinics_own_day(clinic_a, clinic_admin, nurse):
    """At 22:00 in New York it is already tomorrow in UTC: a registration expiring today still holds."""
    from datetime import UTC, date, datetime

    import time_machine

    from ketaclinic.ledger.models import Registration
    from tests.ledger.conftest import keep_ledger

    safe, vials, _ = keep_ledger(clinic_a, clinic_admin, [clinic_admin, nurse])
    Registration.objects.update(expires_on=date(2026, 3, 10))
    with time_machine.travel(
        datetime(2026, 3, 11, 3, 0, tzinfo=UTC), tick=False
    ):  # 22:00 on 10 March, New York
        assert receive(clinic_a, clinic_admin, nurse, vials, safe).status == "accepted"
    with time_machine.travel(datetime(2026, 3, 11, 6, 0, tzinfo=UTC), tick=False):  # 01:00 on 11 March
        with pytest.raises(ValidationError, match="expired on 2026-03-10"):
            receive(clinic_a, clinic_admin, nurse, vials, safe, invoice="INV-LATE")
