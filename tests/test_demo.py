"""The demo network a newcomer sees after `ketaclinic serve --demo`."""

from __future__ import annotations

import pytest

from ketaclinic import demo
from ketaclinic.accounts.models import Clinic, Membership, Role
from ketaclinic.audit.actions import verify_chain
from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients.models import Patient, Screening


@pytest.mark.django_db
def test_demo_seeds_two_clinics_every_role_and_varied_patients_once():
    assert demo.seed() is True
    assert demo.seed() is False  # a second start leaves it alone

    clinics = list(Clinic.objects.order_by("slug"))
    assert [c.slug for c in clinics] == ["lakeside", "northside"]
    for clinic in clinics:
        roles = set(Membership.objects.filter(clinic=clinic).values_list("role", flat=True))
        assert roles == set(Role.values)
    assert Patient.objects.count() == 20
    assert {p.clinic.slug for p in Patient.objects.all()} == {"lakeside", "northside"}

    statuses = {(s.patient.mrn, s.decision, s.status()[0]) for s in Screening.objects.all()}
    assert ("N-1006", "not_eligible", "current") in statuses  # aneurysm: absolute contraindication
    assert ("N-1010", "eligible_with_precautions", "invalidated") in statuses  # medication changed after
    unscreened = Patient.objects.filter(screenings__isnull=True).count()
    assert unscreened >= 4  # patients still waiting for a prescriber's review

    # The dosing side is populated too: a library, protocols, signed plans, orders, one double-checked.
    from ketaclinic.protocols.models import DoseOrder, Protocol, TreatmentPlan

    assert Protocol.objects.filter(clinic__slug="northside").count() == 2
    assert TreatmentPlan.objects.filter(patient__clinic__slug="northside").count() >= 2
    orders = DoseOrder.objects.filter(patient__clinic__slug="northside")
    assert orders.count() >= 2 and orders.filter(verified_by__isnull=False).count() == 1

    # Today's chairs: one infusion running with an alert open, one patient checked in.
    from ketaclinic.infusions.models import Alert, Session

    north = Session.objects.filter(clinic__slug="northside")
    assert sorted(north.values_list("state", flat=True)) == ["checked_in", "dosing"]
    assert Alert.objects.filter(session__clinic__slug="northside", code="hr_high").exists()

    # The controlled-substance ledger: stock received, 5 mL drawn for the running infusion (awaiting
    # close-out), a daily count with one vial short (a discrepancy open for the admin), intact.
    from ketaclinic.ledger import queries
    from ketaclinic.ledger.verify import verify_all

    northside = Clinic.objects.get(slug="northside")
    assert [s.state for s in queries.awaiting_closeout(northside)] == ["dosing"]
    [discrepancy] = queries.open_discrepancies(northside)
    assert discrepancy.difference_mg == -5
    assert verify_all()[1] == []

    # Every demo record came through an audited action, and the chain holds.
    assert AuditEntry.objects.filter(action="patient.register").count() == 20
    assert verify_chain() is None
    assert "prescriber.north" in demo.logins_text() and demo.DEMO_PASSWORD in demo.logins_text()


@pytest.mark.django_db
def test_demo_seeds_after_utc_midnight_while_the_clinics_are_still_on_the_day_before():
    """At 03:00 UTC it is still yesterday in New York and Chicago: the demo's stock receipts are
    dated by the clinic's day, not the server's (once refused as dated in the future)."""
    import time_machine

    with time_machine.travel("2026-12-08T03:00:00Z", tick=False):
        assert demo.seed() is True
    from ketaclinic.ledger.models import Receipt

    assert {str(r.received_on) for r in Receipt.objects.all()} == {"2026-12-07"}
