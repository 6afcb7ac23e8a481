"""The chair view's folded forms and the correction dialog in a real browser (``asgi_page``).

A nurse records an adverse event from its folded form, corrects a mistyped blood pressure through
the "Correct" dialog (refused without a reason, then saved), and corrects the pump rate of the
start; the dialog closes by itself and the lists show the old entries struck through.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.browser.test_infusion_session import dosing_session, iv_order, sign_in_nurse, wait_live
from tests.infusions.conftest import VITALS


@pytest.mark.django_db(transaction=True)
def test_folded_forms_and_the_correction_dialog(
    asgi_page, asgi_server, clinic_a, prescriber, nurse, frontdesk, clinic_admin, patient
):
    from ketaclinic.infusions import actions
    from ketaclinic.infusions.models import DosingEvent, Observation

    order = iv_order(clinic_a, prescriber=prescriber, nurse=nurse, admin=clinic_admin, patient=patient)
    session = dosing_session(clinic_a, frontdesk=frontdesk, nurse=nurse, order=order)
    wrong, _ = actions.record_observation(
        user=nurse,
        clinic=clinic_a,
        session=session,
        kind="vitals",
        data=VITALS | {"systolic_mmhg": 162},
        idempotency_key="typo",
    )
    page = asgi_page
    sign_in_nurse(page, nurse)
    page.goto(f"{asgi_server.url}/infusions/{session.pk}/")
    wait_live(page)

    # A folded form: opened with a tap, saved, and the entry is in the list.
    page.get_by_text("Adverse event (CTCAE grade, action taken)").click()
    form = page.get_by_role("form", name="Adverse event")
    form.get_by_label("Adverse event term").fill("nausea")
    form.get_by_label("2: moderate").check()
    form.get_by_label("Action (what was done)").fill("ondansetron 4 mg IV")
    form.get_by_role("button", name="Save adverse event").click()
    observations = page.get_by_role("region", name="Observations")
    expect(observations).to_contain_text("nausea, CTCAE grade 2")

    # The correction dialog opens with the old values.
    row = observations.get_by_role("row").filter(has_text="162/80 mmHg")
    row.get_by_role("link", name="Correct").click()
    dialog = page.locator("dialog#fix")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Systolic")).to_have_value("162")
    dialog.get_by_label("Systolic").fill("126")
    # No reason: the browser's own check stops it; without that check the server refuses it too.
    dialog.get_by_label("Reason for the correction").evaluate("el => el.removeAttribute('required')")
    dialog.get_by_role("button", name="Save correction").click()
    expect(dialog.locator("#fix-reason-err")).to_contain_text("Say why")
    expect(dialog.get_by_label("Systolic")).to_have_value("126")
    dialog.get_by_label("Reason for the correction").fill("typed 162 for 126")
    dialog.get_by_role("button", name="Save correction").click()
    expect(dialog).to_be_hidden()
    expect(observations).to_contain_text(f"corrects #{wrong.pk}: typed 162 for 126")
    expect(observations.locator(f"#obs-{wrong.pk} s")).to_contain_text("162/80 mmHg")

    # The start's pump rate, corrected the same way.
    page.get_by_text("Dosing events (1)").click()
    start = DosingEvent.objects.get(session=session, kind="start")
    page.locator(f"#dose-{start.pk}").get_by_role("link", name="Correct").click()
    expect(dialog.get_by_label("Pump rate (mL/h)")).to_have_value(str(start.rate_ml_per_h))
    dialog.get_by_label("Pump rate (mL/h)").fill("2.6")
    dialog.get_by_label("Reason for the correction").fill("wrong rate entered")
    dialog.get_by_role("button", name="Save correction").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("region", name="Dosing")).to_contain_text(
        f"corrects #{start.pk}: wrong rate entered"
    )

    fixed = Observation.objects.get(corrects=wrong)
    assert (fixed.systolic_mmhg, fixed.correction_reason, fixed.recorded_by_id) == (
        126,
        "typed 162 for 126",
        nurse.pk,
    )
    assert DosingEvent.current().get(session=session, kind="start").rate_ml_per_h == Decimal("2.6")
