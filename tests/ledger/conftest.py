"""A clinic keeping a ledger: a registration, a safe with its keyholders, 20 mL vials of the IV
order's 10 mg/mL product and esketamine devices, received by the admin with a witness."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ketaclinic.patients.actions import clinic_today
from tests.conftest import PASSWORD

SUPPLIER = {
    "supplier_name": "Acme Pharma Distribution",
    "supplier_address": "1 Wholesale Way, Springfield",
    "supplier_registration": "RA1234563",
}


def sign(user):
    from ketaclinic.ledger.actions import Signature

    return Signature(user.username, PASSWORD)


def keep_ledger(clinic, admin, keyholders):
    """Registration, a safe and the two products; returns (safe, vials, devices)."""
    from ketaclinic.ledger import actions
    from ketaclinic.protocols.actions.library import ensure_products

    products = ensure_products()  # the catalogue, back if a transactional test emptied the tables

    actions.add_registration(
        user=admin,
        clinic=clinic,
        number="BN1234563",
        registrant_name=clinic.name,
        address="10 Main St",
        schedules="2 2N 3 3N 4 5",
        expires_on=timezone.localdate() + timedelta(days=400),
    )
    safe = actions.add_location(user=admin, clinic=clinic, name="Safe", kind="safe", keyholders=keyholders)
    vials = actions.add_product(
        user=admin,
        clinic=clinic,
        product=products["ketamine-10"],
        ndc="42023-113-10",
        container_ml="20",
    )
    devices = actions.add_product(
        user=admin, clinic=clinic, product=products["esketamine-28"], ndc="50458-028-02"
    )
    return safe, vials, devices


def receive(
    clinic, admin, witness, product, location, *, n=2, ordered=None, invoice="INV-1", lot="L1", expires=None
):
    from ketaclinic.ledger import actions

    return actions.receive(
        user=admin,
        clinic=clinic,
        invoice_number=invoice,
        received_on=clinic_today(clinic),
        product=product,
        lot_number=lot,
        expires_on=expires or clinic_today(clinic) + timedelta(days=365),
        containers_ordered=ordered or n,
        containers_received=n,
        location=location,
        witness=sign(witness),
        **SUPPLIER,
    )


@pytest.fixture
def ledger(clinic_a, clinic_admin, nurse, prescriber):
    safe, vials, devices = keep_ledger(clinic_a, clinic_admin, [clinic_admin, nurse, prescriber])
    receipt = receive(clinic_a, clinic_admin, nurse, vials, safe)
    return {"safe": safe, "vials": vials, "devices": devices, "receipt": receipt}


@pytest.fixture
def vial(ledger):
    return ledger["receipt"].containers.order_by("number").first()


from tests.infusions.conftest import iv_order, iv_session, nasal_order, nasal_session  # noqa: E402, F401
