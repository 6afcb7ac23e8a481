"""The blind double check as the nurse does it, stated exactly: every field of what is stored and
audited, each refusal's field and words, and the pump rate checked on an infusion."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from ketaclinic.audit.models import AuditEntry
from ketaclinic.protocols import actions
from ketaclinic.protocols.models import DoseOrder, DoubleCheck, OrderStatus
from tests.protocols.conftest import IV_DOSE


@pytest.fixture
def order(clinic_a, prescriber, iv_plan):
    return actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)  # 70 kg, 35 mg, 5.3 mL/h


def check(nurse, clinic, order, **entered):
    values = {"weight_value": "70", "weight_unit": "kg", "dose_mg": "35", "rate_ml_per_h": "5.3"} | entered
    return actions.verify_order(nurse, clinic, order, **values)


def refused(call):
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


def test_a_matching_check_is_stored_and_audited_field_by_field(clinic_a, nurse, order):
    done = check(nurse, clinic_a, order, weight_value="154.32", weight_unit="lb", dose_mg="35.04")
    stored = DoubleCheck.objects.get(pk=done.pk)
    assert (stored.order_id, stored.checked_by, stored.matched, stored.mismatches, stored.note) == (
        order.pk,
        nurse,
        True,
        [],
        "",
    )
    assert (stored.entered_weight_value, stored.entered_weight_unit) == (D("154.32"), "lb")
    assert abs(stored.entered_weight_kg - D("70")) <= D("0.01")
    assert (stored.entered_dose_mg, stored.entered_rate_ml_per_h) == (D("35.0"), D("5.3"))
    order.refresh_from_db()
    assert (order.status, order.verified_by) == (OrderStatus.VERIFIED, nurse)
    audit = AuditEntry.objects.filter(action="order.double_check").latest("seq")
    assert (audit.user, audit.clinic, audit.patient_id, audit.object_id) == (
        nurse,
        clinic_a,
        order.patient_id,
        str(order.pk),
    )
    assert audit.detail["matched"] is True and audit.detail["mismatch_fields"] == []
    assert set(audit.detail["entered"]) == {"weight_kg", "dose_mg", "rate_ml_per_h"}
    assert D(audit.detail["entered"]["rate_ml_per_h"]) == D("5.3")
    assert D(audit.detail["entered"]["dose_mg"]) == D("35.04")


def test_a_wrong_pump_rate_blocks_the_order(clinic_a, nurse, order):
    done = check(nurse, clinic_a, order, rate_ml_per_h="53")
    assert done.mismatches == [
        {"field": "rate_ml_per_h", "message": "Pump rate does not match the order: recalculate."}
    ]
    order.refresh_from_db()
    assert order.status == OrderStatus.BLOCKED and order.verified_by is None
    audit = AuditEntry.objects.filter(action="order.double_check").latest("seq")
    assert audit.detail["matched"] is False and audit.detail["mismatch_fields"] == ["rate_ml_per_h"]


def test_an_infusion_check_without_a_rate_is_refused(clinic_a, nurse, order):
    assert "rate_ml_per_h" in refused(lambda: check(nurse, clinic_a, order, rate_ml_per_h=""))
    assert not DoubleCheck.objects.exists()


def test_the_resolving_note_is_kept_trimmed_and_bounded(clinic_a, nurse, order):
    check(nurse, clinic_a, order, dose_mg="53")
    assert refused(lambda: check(nurse, clinic_a, order, note="   ")) == {
        "note": ["This order was blocked by a mismatch: say what was wrong and how it was resolved."]
    }
    done = check(nurse, clinic_a, order, note="  " + "x" * 305 + "  ")
    assert done.note == "x" * 300
    audit = AuditEntry.objects.filter(action="order.double_check").latest("seq")
    assert audit.detail["note"] == "x" * 300


def test_each_bad_entry_names_its_field(clinic_a, nurse, order):
    assert refused(lambda: check(nurse, clinic_a, order, weight_value="0")) == {
        "weight": ["Weight must be greater than 0."]
    }
    assert refused(lambda: check(nurse, clinic_a, order, weight_unit="stone")) == {
        "weight_unit": ["Choose kg or lb."]
    }
    assert check(nurse, clinic_a, order, weight_value="0.01", dose_mg="35").matched is False  # tiny, but > 0
    assert not DoubleCheck.objects.filter(matched=True).exists()


def test_a_checked_order_is_not_checked_again(clinic_a, nurse, order):
    check(nurse, clinic_a, order)
    assert refused(lambda: check(nurse, clinic_a, order)) == {
        "status": ["This order is verified; nothing to check."]
    }


def test_the_signer_does_not_check_their_own_order(clinic_a, nurse, order):
    # No role both signs and checks today; the rule holds even if one did (or a record said so).
    DoseOrder.objects.filter(pk=order.pk).update(signed_by=nurse)
    order.refresh_from_db()
    with pytest.raises(PermissionDenied) as caught:
        check(nurse, clinic_a, order)
    assert str(caught.value) == "The double check must be done by someone other than the person who signed."


def test_a_nasal_order_is_checked_without_a_pump_rate(
    clinic_a, prescriber, nurse, nasal_protocol, ready_patient
):
    plan = actions.create_plan(
        prescriber,
        clinic_a,
        ready_patient,
        protocol=nasal_protocol,
        indication="trd",
        goal_scale="madrs",
        response_rule="pct_reduction",
        response_value="50",
        sessions_planned=8,
        baseline_score="30",
        sign=True,
    )
    order = actions.sign_order(prescriber, clinic_a, plan, actions.order_defaults(plan))
    assert order.rate_ml_per_h is None
    done = actions.verify_order(
        nurse,
        clinic_a,
        order,
        weight_value="70",
        weight_unit="kg",
        dose_mg=str(order.dose_mg),
        rate_ml_per_h="9",
    )
    assert done.matched and done.entered_rate_ml_per_h is None  # a typed rate for a nasal order is ignored


def test_another_clinics_order_is_no_such_record(clinic_a, clinic_b, outsider, order):
    with pytest.raises(ValidationError) as caught:
        check(outsider, clinic_b, order)
    assert caught.value.message_dict == {"order": ["No such record in this clinic."]}
    assert not DoubleCheck.objects.exists()
