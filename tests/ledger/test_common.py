"""What every ledger write shares, stated exactly: who may witness, how amounts and texts are read,
what a registration must be, and what each entry and its audit record hold."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import override_settings

from ketaclinic.audit import chain
from ketaclinic.audit.models import AuditEntry
from ketaclinic.ledger.actions import common
from ketaclinic.ledger.actions.common import Signature
from ketaclinic.ledger.models import (
    Container,
    ContainerStatus,
    EntryKind,
    LedgerEntry,
    LedgerHead,
    Registration,
)
from ketaclinic.patients.actions import clinic_today
from tests.conftest import PASSWORD, make_user
from tests.ledger.conftest import sign

D = Decimal


def refusal(call):
    """The one field a ValidationError names and its one message."""
    with pytest.raises(ValidationError) as caught:
        call()
    ((field, messages),) = caught.value.message_dict.items()
    (message,) = messages
    return field, message


# ----- the witness -----------------------------------------------------------------------------


def witness(clinic, actor, signature, **kw):
    return lambda: common.witness_user(clinic, actor, signature, **kw)


def test_a_witness_signs_with_their_own_password(ledger, clinic_a, nurse, prescriber):
    assert common.witness_user(clinic_a, nurse, sign(prescriber)) == prescriber
    assert common.witness_user(clinic_a, nurse, Signature(" PRIYA ", PASSWORD)) == prescriber


@pytest.mark.parametrize(
    "signature", [None, Signature("", PASSWORD), Signature("   ", PASSWORD), Signature(None, PASSWORD)]
)
def test_no_witness_is_refused(ledger, clinic_a, nurse, signature):
    assert refusal(witness(clinic_a, nurse, signature, field="waste_witness")) == (
        "waste_witness",
        "A witness must sign: their username and password.",
    )


def test_a_wrong_password_or_an_unknown_or_inactive_witness_is_refused(ledger, clinic_a, nurse, prescriber):
    wrong = ("witness", "The witness's username or password is wrong.")
    assert refusal(witness(clinic_a, nurse, Signature("priya", "not it"))) == wrong
    assert refusal(witness(clinic_a, nurse, Signature("priya", ""))) == wrong
    assert refusal(witness(clinic_a, nurse, Signature("nobody", PASSWORD))) == wrong
    prescriber.is_active = False
    prescriber.save()
    assert refusal(witness(clinic_a, nurse, sign(prescriber))) == wrong  # right password, deactivated


def test_a_witness_whose_password_an_admin_reset_signs_nothing(ledger, clinic_a, nurse, prescriber):
    prescriber.must_change_password = True
    prescriber.save()
    assert refusal(witness(clinic_a, nurse, sign(prescriber))) == (
        "witness",
        "priya must choose their own password first; another witness signs.",
    )


def test_the_witness_is_a_second_and_a_different_person(ledger, clinic_a, nurse, prescriber, clinic_admin):
    assert refusal(witness(clinic_a, nurse, sign(nurse))) == (
        "witness",
        "The witness must be a second person, not you.",
    )
    assert refusal(witness(clinic_a, nurse, sign(prescriber), field="second", others=(prescriber,))) == (
        "second",
        "Each witness must be a different person.",
    )
    assert common.witness_user(clinic_a, nurse, sign(clinic_admin), others=(prescriber,)) == clinic_admin


def test_a_witness_holds_the_permission_in_this_clinic(ledger, clinic_a, clinic_b, nurse):
    elsewhere = make_user(clinic_b, "otto", "nurse")
    assert refusal(witness(clinic_a, nurse, sign(elsewhere))) == (
        "witness",
        f"otto may not witness this at {clinic_a} (ledger.witness).",
    )


# ----- texts, amounts, dates, the tolerance -------------------------------------------------------


def test_texts_are_trimmed_and_bounded():
    assert common.text("  a note\x00 ", "note") == "a note"
    assert common.text("", "note", required=False) == ""
    assert refusal(lambda: common.text("  ", "note")) == ("note", "This is required.")
    assert refusal(lambda: common.text("short", "reason", min_length=10)) == (
        "reason",
        "Say why, in at least 10 characters a reviewer can read.",
    )
    assert common.text("x" * 10, "reason", min_length=10) == "x" * 10
    assert refusal(lambda: common.text("x", "reason", min_length=2)) == (
        "reason",
        "Say why, in at least 2 characters a reviewer can read.",
    )
    assert common.text("x" * 5, "note", max_length=5) == "x" * 5
    assert refusal(lambda: common.text("x" * 6, "note", max_length=5)) == ("note", "At most 5 characters.")


def test_amounts_are_plain_decimals_in_range():
    assert common.amount("12.5", "mg") == D("12.50")
    assert common.amount(7, "mg") == D("7.00")
    assert common.amount("99999.99", "mg") == D("99999.99")
    assert common.amount("0", "mg", allow_zero=True) == D("0.00")
    assert common.amount("-3", "mg", signed=True) == D("-3.00")
    assert refusal(lambda: common.amount(None, "mg")) == ("mg", "Enter an amount.")
    assert refusal(lambda: common.amount(" ", "mg")) == ("mg", "Enter an amount.")
    assert refusal(lambda: common.amount("abc", "mg")) == ("mg", "'abc' is not a number.")
    assert refusal(lambda: common.amount("100000", "mg")) == ("mg", "Enter an amount below 100,000.")
    assert refusal(lambda: common.amount("-100000", "mg", signed=True)) == (
        "mg",
        "Enter an amount below 100,000.",
    )
    assert refusal(lambda: common.amount("NaN", "mg")) == ("mg", "Enter an amount below 100,000.")
    assert refusal(lambda: common.amount("1.005", "mg")) == (
        "mg",
        "Enter at most two decimal places (got 1.005).",
    )
    assert refusal(lambda: common.amount("-1", "mg")) == ("mg", "Enter an amount of 0 or more.")
    assert refusal(lambda: common.amount("0", "mg")) == ("mg", "Enter an amount above 0.")


def test_dates_read_as_the_rest_of_the_project(clinic_a):
    day = clinic_today(clinic_a)
    assert common.a_date(day, "on") == day
    assert common.a_date("2026-03-01", "on").isoformat() == "2026-03-01"
    assert refusal(lambda: common.a_date(None, "on")) == (
        "on",
        "None is not a date (YYYY-MM-DD or MM/DD/YYYY).",
    )


def test_the_tolerance_defaults_to_a_tenth_of_a_millilitre(settings):
    del settings.KETACLINIC_LEDGER_TOLERANCE_ML
    assert common.tolerance_ml() == D("0.10")
    with override_settings(KETACLINIC_LEDGER_TOLERANCE_ML="0.25"):
        assert common.tolerance_ml() == D("0.25")


# ----- registration, keys, containers -------------------------------------------------------------


def test_nothing_moves_without_a_registration_in_force(ledger, clinic_a):
    reg = Registration.in_clinic(clinic_a).first()
    assert common.registration_in_force(clinic_a) == reg
    today = clinic_today(clinic_a)
    assert common.registration_in_force(clinic_a, on=reg.expires_on) == reg  # in force on its last day
    assert refusal(lambda: common.registration_in_force(clinic_a, on=reg.expires_on + timedelta(days=1))) == (
        "registration",
        f"The DEA registration {reg.number} expired on {reg.expires_on}.",
    )
    Registration.objects.filter(pk=reg.pk).update(schedules="2 2N 4 5")
    assert refusal(lambda: common.registration_in_force(clinic_a, on=today)) == (
        "registration",
        f"The DEA registration {reg.number} does not cover Schedule III.",
    )


def test_a_clinic_with_no_registration_is_told_where_to_add_one(clinic_a):
    assert refusal(lambda: common.registration_in_force(clinic_a)) == (
        "registration",
        "This clinic has no DEA registration on file: a clinic admin adds it under Ledger setup.",
    )


def test_only_keyholders_open_a_location(ledger, frontdesk):
    safe = ledger["safe"]
    assert refusal(lambda: common.must_hold_key(frontdesk, safe)) == (
        "location",
        f"You are not a keyholder of {safe.name}.",
    )


def test_a_container_is_usable_up_to_its_expiry_day(ledger, vial, clinic_a):
    today = clinic_today(clinic_a)
    Container.objects.filter(pk=vial.pk).update(expires_on=today)
    vial.refresh_from_db()
    common.usable(vial, clinic_a)  # usable on its expiry day
    Container.objects.filter(pk=vial.pk).update(expires_on=today - timedelta(days=1))
    vial.refresh_from_db()
    assert refusal(lambda: common.usable(vial, clinic_a)) == (
        "container",
        f"{vial.label} expired on {vial.expires_on}.",
    )
    Container.objects.filter(pk=vial.pk).update(status=ContainerStatus.HELD)
    vial.refresh_from_db()
    assert refusal(lambda: common.usable(vial, clinic_a, field="vial")) == (
        "vial",
        f"{vial.label} is held: its receipt is under review.",
    )


# ----- the append -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_append_only_inside_the_actions_transaction(ledger, clinic_a, nurse):
    with pytest.raises(RuntimeError, match="ledger.append runs inside the action's transaction"):
        common.append(clinic_a, EntryKind.ADJUSTMENT, nurse, D("1"))


def test_an_entry_holds_the_session_patient_order_and_balances_and_is_audited(
    iv_session, ledger, vial, clinic_a, nurse, prescriber
):
    with transaction.atomic():
        entry = common.append(
            clinic_a, EntryKind.DRAW, nurse, D("50"), ml=D("5"), container=common.locked_container(vial),
            session=iv_session, witness=prescriber, detail={"on": clinic_today(clinic_a), "n": D("1.5")},
        )  # fmt: skip
    entry = LedgerEntry.objects.get(pk=entry.pk)
    assert (entry.patient_id, entry.dose_order_id, entry.session_id) == (
        iv_session.patient_id,
        iv_session.dose_order_id,
        iv_session.pk,
    )
    assert (entry.balance_mg, entry.balance_ml, entry.reason) == (D("150.00"), D("15.00"), "")
    assert entry.detail == {"on": clinic_today(clinic_a).isoformat(), "n": "1.5"}
    vial.refresh_from_db()
    assert (vial.balance_mg, vial.balance_ml, vial.status) == (D("150.00"), D("15.00"), ContainerStatus.OPEN)
    head = LedgerHead.objects.get(clinic=clinic_a)
    assert (head.seq, head.hash) == (entry.seq, entry.hash)
    assert LedgerEntry.in_clinic(clinic_a).order_by("seq").first().prev_hash == chain.GENESIS
    audit = AuditEntry.objects.filter(action="ledger.draw").latest("seq")
    assert (audit.user, audit.clinic, audit.patient_id, audit.object_id) == (
        nurse,
        clinic_a,
        iv_session.patient_id,
        str(entry.pk),
    )
    assert audit.detail == {"seq": entry.seq, "mg": "50.00", "container": vial.label, "witness": "priya"}


def test_a_container_is_never_overdrawn_and_empties_at_zero(ledger, vial, clinic_a, nurse):
    with pytest.raises(ValidationError) as caught, transaction.atomic():
        common.append(clinic_a, EntryKind.DRAW, nurse, D("200.01"), container=common.locked_container(vial))
    assert caught.value.message_dict == {
        "mg": [f"{vial.label} holds only 200.00 mg; this would take 200.01 mg."]
    }
    with transaction.atomic():
        common.append(
            clinic_a, EntryKind.DRAW, nurse, D("200"), ml=D("20"), container=common.locked_container(vial)
        )
    vial.refresh_from_db()
    assert (vial.balance_mg, vial.balance_ml, vial.status) == (D("0.00"), D("0.00"), ContainerStatus.EMPTY)


def test_a_retry_key_belongs_to_one_kind(ledger, vial, clinic_a, nurse):
    with transaction.atomic():
        entry = common.append(
            clinic_a, EntryKind.ADJUSTMENT, nurse, D("1"), container=vial, idempotency_key="k1"
        )
    assert common.stored_retry(clinic_a, EntryKind.ADJUSTMENT, "k1") == entry
    assert common.stored_retry(clinic_a, EntryKind.ADJUSTMENT, "") is None
    assert refusal(lambda: common.stored_retry(clinic_a, EntryKind.DRAW, "k1")) == (
        "idempotency_key",
        "This key was used for another kind of entry.",
    )


def test_a_refused_attempt_is_audited_with_who_where_and_why(ledger, vial, clinic_a, nurse):
    common.refused_attempt(nurse, clinic_a, "ledger.waste.refused", vial, "no witness")
    audit = AuditEntry.objects.get(action="ledger.waste.refused")
    assert (audit.user, audit.clinic, audit.object_id, audit.detail) == (
        nurse,
        clinic_a,
        str(vial.pk),
        {"refused": "no witness"},
    )


def test_an_entry_keeps_its_reason(ledger, vial, clinic_a, nurse):
    with transaction.atomic():
        entry = common.append(
            clinic_a, EntryKind.ADJUSTMENT, nurse, D("-1"), container=vial, reason="count found 1 mg less"
        )
    assert LedgerEntry.objects.get(pk=entry.pk).reason == "count found 1 mg less"
