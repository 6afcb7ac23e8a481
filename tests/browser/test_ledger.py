"""Every milligram traced, in a real browser: a nurse draws for a session, the infusion runs, the
waste is witnessed and the session reconciles; a second session with a short waste opens a
discrepancy that the clinic admin finds on her start page and resolves."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, sign_out
from tests.conftest import PASSWORD


def prepare(patient, prescriber, nurse):
    """Screened, weighed and consented (on the clinic's consent text the first order created)."""
    from django.utils import timezone

    from ketaclinic.patients.models import Consent, ConsentText
    from tests.protocols.conftest import screen, weigh

    screen(patient, prescriber)
    weigh(patient, nurse)
    Consent.objects.create(
        patient=patient, text=ConsentText.objects.get(), signed_by_name=patient.given_name,
        signed_at=timezone.now(), witness=nurse, recorded_by=nurse,
    )  # fmt: skip


def draw_run_close(page, session, wasted, nurse, prescriber, clinic):
    from tests.ledger.test_actions import run_pump

    # From the chair view's "Drug (ledger)" link (tests/ledger/test_views.py); the chair view itself
    # holds a live stream open, which this test's WSGI server would keep busy.
    page.goto(page.base_url + f"/ledger/sessions/{session.pk}/")
    draw = page.locator("#draw-form")
    draw.get_by_label("From container").select_option(index=0)
    draw.get_by_label("Volume drawn").fill("5")
    draw.get_by_role("button", name="Record the draw").click()
    expect(page.locator("#drawn")).to_have_text("50.00 mg")

    run_pump(nurse, clinic, session)  # the pump runs its 3.5 mL (35 mg) and is stopped
    page.reload()
    expect(page.locator("#given")).to_have_text("35.0 mg")
    for password in ("not the password", PASSWORD):
        close = page.locator("#close-out-form")
        close.get_by_label("Wasted").fill(wasted)
        close.get_by_label("Witness username").fill(prescriber.username)
        close.get_by_label("Witness password").fill(password)
        close.get_by_role("button", name="Close out").click()
        if password != PASSWORD:
            expect(page.locator("main")).to_contain_text("The witness's username or password is wrong.")
    expect(page.locator("#reconciliation")).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_draw_run_waste_reconcile_and_a_short_waste_resolved(
    page, clinic_a, clinic_admin, nurse, prescriber, frontdesk, patient
):
    from ketaclinic.ledger.models import Discrepancy, SessionReconciliation
    from ketaclinic.patients.models import Patient
    from tests.infusions.conftest import make_order, ready_for_dosing, scheduled
    from tests.ledger.conftest import keep_ledger, receive

    second_patient = Patient.objects.create(
        clinic=clinic_a, mrn="A-1002", given_name="Ana", family_name="Reyes", date_of_birth=date(1979, 5, 6),
        sex="female", escort_name="Luis Reyes", escort_phone="555-0102", created_by=nurse,
    )  # fmt: skip
    first_order = make_order(clinic_a, prescriber, nurse, patient, clinic_admin)
    prepare(second_patient, prescriber, nurse)
    orders = [first_order, make_order(clinic_a, prescriber, nurse, second_patient, clinic_admin)]
    safe, vials, _ = keep_ledger(clinic_a, clinic_admin, [clinic_admin, nurse, prescriber])
    receive(clinic_a, clinic_admin, nurse, vials, safe, n=2)
    sessions = [
        ready_for_dosing(nurse, clinic_a, scheduled(frontdesk, nurse, clinic_a, order, chair=f"Chair {i}"))
        for i, order in enumerate(orders, start=1)
    ]

    sign_in(page, nurse.username, PASSWORD)
    for session, wasted in zip(sessions, ("1.5", "0.5"), strict=True):
        draw_run_close(page, session, wasted, nurse, prescriber, clinic_a)

    first, second = (SessionReconciliation.objects.get(session=s) for s in sessions)
    assert first.status == "balanced" and second.status == "discrepancy"
    expect(page.locator("#reconciliation")).to_contain_text("unaccounted 10.00 mg")
    sign_out(page)

    sign_in(page, clinic_admin.username, PASSWORD)  # the admin's start page shows the discrepancy
    expect(page.get_by_role("heading", level=1)).to_have_text(clinic_a.name)
    board = page.locator("#open-discrepancies")
    expect(board).to_contain_text("1")
    expect(board).to_contain_text("10.00 mg drawn is not accounted for")
    d = Discrepancy.objects.get()
    board.get_by_role("link", name=f"#{d.pk}").click()
    page.get_by_label("Resolution (what was found)").fill(
        "Syringe residue not measured; re-trained on waste recording"
    )
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("h1")).to_contain_text("Resolved")
    d.refresh_from_db()
    assert d.status == "resolved" and d.resolved_by == clinic_admin
    page.goto(page.base_url + "/ledger/")
    expect(page.locator("#open-discrepancies")).to_contain_text("None.")
