"""A prescriber orders a dose that needs an override, watching the live prediction; a nurse
double-checks it without seeing the computed numbers, and the order becomes verified."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, sign_out
from tests.conftest import PASSWORD
from tests.protocols.conftest import iv_plan, iv_protocol, library, ready_patient  # noqa: F401, F811 - fixtures


@pytest.mark.django_db(transaction=True)
def test_prescriber_overrides_nurse_verifies(page, prescriber, nurse, iv_plan):  # noqa: F811
    from ketaclinic.protocols.models import DoseOrder, LimitEvent

    sign_in(page, "priya", PASSWORD)
    page.goto(page.base_url + f"/protocols/plans/{iv_plan.pk}/")
    page.get_by_role("link", name="Order a dose").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("35 mg ketamine base")
    expect(preview.locator("svg.prediction-chart")).to_be_visible()

    # Raise the dose: htmx re-renders the preview with the soft-limit breach and a new prediction.
    page.get_by_label("Dose").fill("0.8")
    expect(preview).to_contain_text("56 mg ketamine base")
    expect(preview).to_contain_text("soft maximum of 0.75 mg/kg")
    expect(preview).to_contain_text("No longer noticeable")

    page.get_by_role("button", name="Sign order").click()
    expect(page.locator("#err_password")).to_contain_text("Enter your password")  # signing re-authenticates
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Sign order").click()
    expect(page.locator("#err_override_reason")).to_contain_text("Give the clinical reason to override")
    page.get_by_label("Override reason").fill("Partial response at 0.5 mg/kg after 3 sessions")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Sign order").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dose order")
    expect(page.locator("main")).to_contain_text("awaiting double check")
    order = DoseOrder.objects.get()
    assert order.override_reason.startswith("Partial response")
    assert LimitEvent.objects.filter(order=order, event="override").count() == 2
    sign_out(page)

    sign_in(page, "nate", PASSWORD)
    page.goto(page.base_url + "/protocols/orders/")
    page.get_by_role("link", name=re.compile(rf"order {order.pk}")).click()
    expect(page.locator("main")).to_contain_text("Double check first")
    expect(page.locator("main")).not_to_contain_text("56 mg")
    page.get_by_role("link", name="Double-check this order").click()
    page.get_by_label("Patient's weight").fill("154.3")
    page.get_by_label("Unit").select_option("lb")
    page.get_by_label("Dose (main dose, without any bolus)").fill("56")
    page.get_by_label("Starting pump rate").fill("8.4")
    page.get_by_role("button", name="Record double check").click()
    expect(page.locator("main")).to_contain_text("verified")
    expect(page.locator("main")).to_contain_text("56 mg ketamine base")
    order.refresh_from_db()
    assert order.status == "verified" and order.verified_by == nurse
