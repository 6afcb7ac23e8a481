"""Signed out in the middle of a recovery (issue 11): the next tap is not lost. The page says it
is signed out (not "live"), keeps the entry, and sends it, once, after the nurse signs in again;
never the sign-in page drawn inside the chair panel."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_infusion_session import dosing_session, iv_order, sign_in_nurse, wait_live
from tests.conftest import PASSWORD


@pytest.mark.django_db(transaction=True)
def test_a_tap_after_sign_out_is_kept_and_sent_after_signing_in(
    asgi_page, asgi_server, clinic_a, prescriber, nurse, frontdesk, clinic_admin, patient
):
    from django.contrib.sessions.models import Session as WebSession

    from ketaclinic.infusions.models import Observation

    order = iv_order(clinic_a, prescriber=prescriber, nurse=nurse, admin=clinic_admin, patient=patient)
    session = dosing_session(clinic_a, frontdesk=frontdesk, nurse=nurse, order=order)
    page = asgi_page
    sign_in_nurse(page, nurse)
    page.goto(f"{asgi_server.url}/infusions/{session.pk}/")
    wait_live(page)

    WebSession.objects.all().delete()  # the session ends on the server (timed out, or signed out elsewhere)
    form = page.get_by_role("form", name="Vital signs")
    for label, value in (
        ("Systolic", "131"),
        ("Diastolic", "82"),
        ("HR", "77"),
        ("SpO2 %", "97"),
        ("RR", "15"),
    ):
        form.get_by_label(label).fill(value)
    form.get_by_role("button", name="Save vitals").click()

    notice = page.locator("#signed-out")
    expect(notice).to_contain_text("You were signed out. Your last entry is kept on this device")
    expect(page.locator("#live-status")).to_have_text("signed out")
    expect(page.locator("#panels")).not_to_contain_text("Sign in")  # no sign-in page inside the panel
    assert not Observation.objects.filter(session=session, systolic_mmhg=131).exists()

    notice.get_by_role("link", name="Sign in again").click()
    page.get_by_label("Username").fill(nurse.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#resent")).to_contain_text("1 entry kept while you were signed out was sent.")
    expect(page.get_by_role("region", name="Observations")).to_contain_text("131/82 mmHg")
    stored = Observation.objects.filter(session=session, systolic_mmhg=131)
    assert stored.count() == 1 and stored.get().recorded_by == nurse
    assert page.evaluate("localStorage.getItem('ketaclinic.pending')") is None


@pytest.mark.django_db(transaction=True)
def test_the_live_page_says_signed_out_when_the_server_ends_its_stream(
    asgi_page, asgi_server, clinic_a, prescriber, nurse, frontdesk, clinic_admin, patient
):
    """Signed out elsewhere (or deactivated) with the chair view open and nothing typed: the next
    event does not reach the page, which says it is signed out instead of "live"."""
    from django.contrib.sessions.models import Session as WebSession

    from ketaclinic.infusions import actions

    order = iv_order(clinic_a, prescriber=prescriber, nurse=nurse, admin=clinic_admin, patient=patient)
    session = dosing_session(clinic_a, frontdesk=frontdesk, nurse=nurse, order=order)
    page = asgi_page
    sign_in_nurse(page, nurse)
    page.goto(f"{asgi_server.url}/infusions/{session.pk}/")
    wait_live(page)

    WebSession.objects.all().delete()
    vitals = {"systolic_mmhg": 188, "diastolic_mmhg": 80, "heart_rate_bpm": 72}
    actions.record_observation(
        user=prescriber, clinic=clinic_a, session=session, kind="vitals", data=vitals, idempotency_key="p1"
    )
    expect(page.locator("#live-status")).to_have_text("signed out")
    expect(page.locator("#signed-out")).to_contain_text("You were signed out.")
    expect(page.get_by_role("region", name="Observations")).not_to_contain_text("188/80")
