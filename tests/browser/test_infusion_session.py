"""Issue 5 in a real browser against the real ASGI server (``asgi_page``; see tests/browser/conftest.py).

1. A nurse runs a whole IV session on the chair view, from the session list to discharge, by
   clicking and typing only. The patient, screening, consent and the signed, double-checked order
   are made through the actions beforehand, as the fixtures of tests/infusions do.
2. Two pages: the floor board (A) and a chair view (B). A blood pressure of 190/125 saved on B
   shows its alert on A within a second of B's answer, over Server-Sent Events; acknowledged on B,
   it leaves both.
3. The chair view survives a server crash and restart: it reconnects by itself and shows an
   observation committed while the server was down (resumed from its last event id).
"""

from __future__ import annotations

import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import another_page, server_password, sign_in
from tests.conftest import PASSWORD
from tests.infusions.conftest import VITALS, consent
from tests.protocols.conftest import IV_DOSE, screen, weigh

# How long a live view may take to show a committed change before the test gives up: a failure
# bound, not the requirement. The requirement (within one second of the commit, issue 5) is
# measured by bench/session_bench.py (commit -> stream p50/p99); this test prints what it saw.
LIVE_MS = 10_000

# The smallest minimum observation time a protocol accepts: copy_protocol refuses 0 ("must be
# greater than 0") and infusions/protocol.py reads a missing or zero value as the 120 min default.
OBSERVATION_MIN = 1


def iv_order(clinic, *, prescriber, nurse, admin, patient, observation_min=None):
    """A signed and double-checked IV order (0.5 mg/kg over 40 min) for a screened, consented patient."""
    from ketaclinic.protocols import actions

    screen(patient, prescriber)
    weigh(patient, nurse)
    consent(patient, clinic, admin, nurse)
    actions.create_default_library(admin, clinic)
    adjust = {"observation_min": observation_min} if observation_min else {}
    protocol = actions.copy_protocol(
        admin,
        clinic,
        source_template="iv-racemic-depression",
        name="IV depression",
        adjustments=adjust,
        reason="Browser test: the shortest observation time a protocol accepts" if adjust else "",
    )
    plan = actions.create_plan(
        prescriber,
        clinic,
        patient,
        protocol=protocol,
        indication="trd",
        goal_scale="madrs",
        response_rule="pct_reduction",
        response_value="50",
        sessions_planned=6,
        baseline_score="32",
        sign=True,
    )
    order = actions.sign_order(prescriber, clinic, plan, IV_DOSE)
    actions.verify_order(
        nurse,
        clinic,
        order,
        weight_value="70",
        weight_unit="kg",
        dose_mg=str(order.dose_mg),
        rate_ml_per_h=str(order.rate_ml_per_h),
    )
    order.refresh_from_db()
    return order


def dosing_session(clinic, *, frontdesk, nurse, order, chair="3"):
    """A session on ``chair`` checked in, pre-dose done and dosing, all through the actions."""
    from ketaclinic.infusions import actions

    session = actions.schedule_session(
        user=frontdesk, clinic=clinic, patient=order.patient, chair=chair, scheduled_at=timezone.now()
    )
    actions.link_order(user=nurse, clinic=clinic, session=session, order=order)
    actions.transition(user=nurse, clinic=clinic, session=session, to="checked_in")
    actions.confirm_escort(user=nurse, clinic=clinic, session=session, escort_name="Carlos Lopez")
    actions.record_observation(
        user=nurse, clinic=clinic, session=session, kind="vitals", data=VITALS, idempotency_key="pre-1"
    )
    actions.transition(user=nurse, clinic=clinic, session=session, to="predose_done")
    actions.record_dosing_event(
        user=nurse,
        clinic=clinic,
        session=session,
        kind="start",
        idempotency_key="start-1",
        rate_ml_per_h=order.rate_ml_per_h,
    )
    session.refresh_from_db()
    return session


def sign_in_nurse(page, nurse):
    server_password(nurse, PASSWORD)
    sign_in(page, "nate", PASSWORD)


def wait_live(page):
    expect(page.locator("#live-status")).to_have_text("live")


def save_vitals(page, systolic, diastolic, hr, spo2=98, rr=14):
    form = page.get_by_role("form", name="Vital signs")
    form.get_by_label("Systolic").fill(str(systolic))
    form.get_by_label("Diastolic").fill(str(diastolic))
    form.get_by_label("HR").fill(str(hr))
    form.get_by_label("SpO2 %").fill(str(spo2))
    form.get_by_label("RR").fill(str(rr))
    form.get_by_role("button", name="Save vitals").click()
    expect(page.get_by_role("region", name="Observations")).to_contain_text(f"{systolic}/{diastolic} mmHg")


def save_cadss6(page, items):
    form = page.get_by_role("form", name="CADSS-6")
    for item, value in items.items():
        form.get_by_label(f"item {item}", exact=True).fill(str(value))
    form.get_by_role("button", name="Save CADSS-6").click()


def observation_rows(page, kind):
    return page.get_by_role("region", name="Observations").get_by_role("row").filter(has_text=kind)


@pytest.mark.django_db(transaction=True)
def test_nurse_runs_a_whole_session_on_the_chair_view(  # noqa: PLR0915 - one story, check-in to discharge
    asgi_page, asgi_server, clinic_a, prescriber, nurse, frontdesk, clinic_admin, patient
):
    from ketaclinic.infusions import actions
    from ketaclinic.infusions.models import Alert, DosingEvent, Observation

    order = iv_order(
        clinic_a,
        prescriber=prescriber,
        nurse=nurse,
        admin=clinic_admin,
        patient=patient,
        observation_min=OBSERVATION_MIN,
    )
    session = actions.schedule_session(
        user=frontdesk, clinic=clinic_a, patient=patient, chair="3", scheduled_at=timezone.now()
    )
    page = asgi_page
    sign_in_nurse(page, nurse)

    # The session list: the scheduled session, opened with its "Check in" link.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    row = page.get_by_role("row").filter(has_text="Lopez, Maria")
    expect(row).to_contain_text("scheduled")
    row.get_by_role("link", name="Check in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chair 3: Maria Lopez")
    wait_live(page)
    state = page.locator("#state")
    expect(state).to_have_text("scheduled")

    page.get_by_role("button", name="Check in").click()
    expect(state).to_have_text("checked in")

    # Link the double-checked order; confirm the escort named at registration.
    state_panel = page.get_by_role("region", name="State")
    page.get_by_label("Dose order").select_option(str(order.pk))
    page.get_by_role("button", name="Link order").click()
    expect(state_panel).to_contain_text(f"Order #{order.pk}: {order.regimen_text}")
    expect(page.get_by_label("Escort home (name)")).to_have_value("Carlos Lopez")
    page.get_by_role("button", name="Confirm escort").click()
    expect(state_panel).to_contain_text("Escort: Carlos Lopez (confirmed")

    # Pre-dose: the button says what is missing until the vitals are in.
    predose = page.get_by_role("button", name="Pre-dose assessment done")
    expect(predose).to_have_accessible_description("no pre-dose vital signs recorded")
    save_vitals(page, 126, 80, 72)
    expect(predose).to_have_accessible_description("")
    predose.click()
    expect(state).to_have_text("pre-dose assessment done")

    # Start the infusion at the order's pump rate.
    expect(page.get_by_label("Rate (mL/h)")).to_have_value(str(order.rate_ml_per_h))
    page.get_by_role("button", name="Start dosing").click()
    expect(state).to_have_text("dosing")
    progress = page.locator("#progress")
    expect(progress).to_contain_text(f"of {order.dose_mg} mg")
    expect(page.locator("#time-remaining")).to_contain_text(re.compile(r"^(39|40) min$"))

    # Vitals during dosing: HR 116 raises the (unconfirmed) heart-rate alert; she acknowledges it.
    save_vitals(page, 138, 86, 116)
    alerts = page.get_by_role("region", name="Open alerts")
    expect(alerts).to_contain_text("Warning:")
    expect(alerts).to_contain_text("threshold unconfirmed")
    alerts.get_by_label("Action taken").fill("Rechecked, values confirmed")
    alerts.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("region", name="Open alerts")).to_have_count(0)

    # MOAA/S (one tap) and CADSS-6 during dosing.
    page.get_by_role("button", name=re.compile(r"^MOAA\/S 4:")).click()
    expect(observation_rows(page, "MOAA/S")).to_contain_text("4")
    save_cadss6(page, {1: 2, 7: 1})
    expect(observation_rows(page, "CADSS-6")).to_contain_text("3")

    # Stop: recovery, with the discharge forms.
    page.get_by_label("Why stop").fill("Dissociation too strong")
    page.get_by_role("button", name="Stop dosing early → recovery").click()
    expect(state).to_have_text("recovery")
    recovery = page.get_by_role("region", name="Recovery and discharge")
    expect(recovery).to_contain_text("Observation: 0:01:00 minimum (from the start of dosing)")

    save_vitals(page, 124, 78, 70)
    page.get_by_role("button", name=re.compile(r"^MOAA\/S 5:")).click()
    expect(observation_rows(page, "MOAA/S").first).to_contain_text("5")
    save_cadss6(page, {1: 0, 7: 0})
    expect(observation_rows(page, "CADSS-6").first).to_contain_text("0")

    page.get_by_text("Modified Aldrete (1995").click()  # a closed <details>: PADSS is this protocol's score
    aldrete = page.get_by_role("form", name="Modified Aldrete")
    for anchor in (
        "2: moves 4 limbs",
        "2: breathes deeply, coughs freely",
        "2: BP within 20 mmHg of pre-dose",
        "2: fully awake",
        "2: >92 % on room air",
    ):
        aldrete.get_by_label(anchor).check()
    aldrete.get_by_role("button", name="Save Aldrete").click()
    expect(observation_rows(page, "Aldrete")).to_have_count(1)

    padss = page.get_by_role("form", name="PADSS")
    for anchor in ("2: within 20 % of pre-dose", "2: oriented and steady gait", "2: minimal"):
        padss.get_by_label(anchor).check()
    padss.get_by_role("button", name="Save PADSS").click()
    expect(observation_rows(page, "PADSS")).to_have_count(1)

    checklist_form = page.get_by_role("form", name="Discharge checklist")
    checklist_form.get_by_label("Steady gait").check()
    checklist_form.get_by_label("Escort present").check()
    checklist_form.get_by_label("Advised not to drive until the next day").check()
    checklist_form.get_by_role("button", name="Save checklist").click()
    checklist = page.locator("#checklist")
    expect(checklist).to_contain_text("PADSS 10/10")
    expect(checklist).not_to_contain_text("✘")

    # Everything is ready but the minimum observation time: discharge is refused, saying why.
    page.get_by_role("button", name="Discharge").click()
    refused = page.get_by_role("alert").filter(has_text="Refused")
    expect(refused).to_contain_text(f"minimum observation time of {OBSERVATION_MIN} min not reached")
    expect(state).to_have_text("recovery")

    # The minute passes (on the server's clock, not by sleeping); now she discharges.
    asgi_server.advance_clock(60)
    page.get_by_role("button", name="Discharge").click()
    expect(state).to_have_text("discharged")
    expect(page.locator("#actual-ready")).to_be_visible()
    expect(page.get_by_role("button", name="Discharge")).to_have_count(0)

    # The database: discharged, each observation stored once, every move by the nurse.
    session.refresh_from_db()
    assert session.state == "discharged"
    assert session.dose_order_id == order.pk and session.escort_confirmed_name == "Carlos Lopez"
    kinds = list(Observation.objects.filter(session=session).order_by("id").values_list("kind", "phase"))
    assert kinds == [
        ("vitals", "checked_in"),
        ("vitals", "dosing"),
        ("moaas", "dosing"),
        ("cadss6", "dosing"),
        ("vitals", "recovery"),
        ("moaas", "recovery"),
        ("cadss6", "recovery"),
        ("aldrete", "recovery"),
        ("padss", "recovery"),
        ("discharge_check", "recovery"),
    ]
    keys = list(Observation.objects.filter(session=session).values_list("idempotency_key", flat=True))
    assert len(set(keys)) == len(keys)
    authors = Observation.objects.filter(session=session).values_list("recorded_by", flat=True)
    assert set(authors) == {nurse.pk}
    moves = list(session.transitions.order_by("at", "id").values_list("from_state", "to_state", "by"))
    assert moves == [
        ("scheduled", "checked_in", nurse.pk),
        ("checked_in", "predose_done", nurse.pk),
        ("predose_done", "dosing", nurse.pk),
        ("dosing", "recovery", nurse.pk),
        ("recovery", "discharged", nurse.pk),
    ]
    assert list(DosingEvent.objects.filter(session=session).values_list("kind", flat=True)) == [
        "start",
        "stop",
    ]
    alert = Alert.objects.get(session=session)
    assert (alert.code, alert.acknowledged_by, alert.action_taken) == (
        "hr_high",
        nurse,
        "Rechecked, values confirmed",
    )


@pytest.mark.django_db(transaction=True)
def test_high_blood_pressure_reaches_the_floor_board_within_a_second(  # noqa: PLR0915 - one story, two pages
    asgi_page, clinic_a, prescriber, nurse, frontdesk, clinic_admin, patient
):
    from ketaclinic.infusions.models import Alert

    order = iv_order(clinic_a, prescriber=prescriber, nurse=nurse, admin=clinic_admin, patient=patient)
    session = dosing_session(clinic_a, frontdesk=frontdesk, nurse=nurse, order=order)

    floor = asgi_page
    sign_in_nurse(floor, nurse)
    floor.goto(floor.base_url + "/infusions/floor/")
    wait_live(floor)
    card = floor.get_by_role("region", name="Chair 3")
    expect(card).to_contain_text("dosing")
    expect(card).to_contain_text("126/80 mmHg")

    chair = another_page(floor)
    chair.goto(f"{chair.base_url}/infusions/{session.pk}/")
    wait_live(chair)

    form = chair.get_by_role("form", name="Vital signs")
    form.get_by_label("Systolic").fill("190")
    form.get_by_label("Diastolic").fill("125")
    form.get_by_label("HR").fill("84")
    with chair.expect_response(lambda r: r.url.endswith("/observe/")) as answer:
        form.get_by_role("button", name="Save vitals").click()
    assert answer.value.ok
    answered = time.monotonic()
    severe = card.get_by_text("Critical:")
    expect(severe).to_be_visible(timeout=LIVE_MS)
    seen_after_s = time.monotonic() - answered
    expect(card).to_contain_text("190/125 mmHg")
    expect(card).to_contain_text("severe hypertension")

    chair_alerts = chair.get_by_role("region", name="Open alerts")
    expect(chair_alerts).to_contain_text("Critical:")
    expect(chair_alerts).to_contain_text("Blood pressure 190/125")
    assert set(Alert.objects.filter(session=session).values_list("code", flat=True)) >= {"bp_severe"}

    # Acknowledged at the chair with the action taken: gone from the chair and from the board.
    critical = chair_alerts.locator(".finding").filter(has_text="Critical:")
    critical.get_by_label("Action taken").fill("Prescriber informed")
    with chair.expect_response(lambda r: "/acknowledge/" in r.url) as answer:
        critical.get_by_role("button", name="Acknowledge").click()
    assert answer.value.ok
    expect(severe).to_be_hidden(timeout=LIVE_MS)
    expect(chair.locator(".finding").filter(has_text="Critical:")).to_have_count(0)
    acked = Alert.objects.get(session=session, code="bp_severe")
    assert acked.acknowledged_by == nurse and acked.action_taken == "Prescriber informed"

    # The warnings the same reading raised are acknowledged on the floor board itself, one by one:
    # each leaves the board and, live, the chair view.
    warnings = card.locator(".finding").filter(has_text="Warning:")
    expect(warnings.first).to_be_visible()
    codes = [w.get_attribute("data-alert") for w in warnings.all()]
    assert codes and set(codes) <= {"bp_hold", "bp_rise"}
    for code in codes:
        finding = card.locator(f'[data-alert="{code}"]')
        finding.get_by_label("Action taken").fill("Rechecked, values confirmed")
        with floor.expect_response(lambda r: "/acknowledge/" in r.url) as answer:
            finding.get_by_role("button", name="Acknowledge").click()
        assert answer.value.ok
        expect(card.locator(f'[data-alert="{code}"]')).to_have_count(0)
        expect(chair.locator(f'#alerts [data-alert="{code}"]')).to_have_count(0, timeout=LIVE_MS)
    open_codes = Alert.objects.filter(session=session, acknowledged_at__isnull=True).values_list(
        "code", flat=True
    )
    assert not set(open_codes) & set(codes)
    print(f"floor board showed the alert {seen_after_s * 1000:.0f} ms after the POST was answered")


@pytest.mark.django_db(transaction=True)
def test_chair_view_resumes_after_a_server_restart(
    asgi_page, asgi_server, clinic_a, prescriber, nurse, frontdesk, clinic_admin, patient
):
    from ketaclinic.events.models import Event
    from ketaclinic.infusions import actions

    order = iv_order(clinic_a, prescriber=prescriber, nurse=nurse, admin=clinic_admin, patient=patient)
    session = dosing_session(clinic_a, frontdesk=frontdesk, nurse=nurse, order=order)
    page = asgi_page
    sign_in_nurse(page, nurse)
    page.goto(f"{page.base_url}/infusions/{session.pk}/")
    wait_live(page)
    seen = int(page.locator("#live").get_attribute("data-last-event-id"))

    # The server dies; while it is down, a vital-signs reading is committed (a device worker, say).
    asgi_server.stop(kill=True)
    expect(page.locator("#live-status")).to_have_text("reconnecting…")
    actions.record_observation(
        user=nurse,
        clinic=clinic_a,
        session=session,
        kind="vitals",
        data={"systolic_mmhg": 131, "diastolic_mmhg": 84, "heart_rate_bpm": 77},
        idempotency_key="while-down",
    )
    missed = Event.objects.filter(channel=f"session:{session.pk}", id__gt=seen).get()

    # A new server: the page reconnects by itself, resumes after the last id it saw, and shows it.
    asgi_server.start()
    expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
    expect(page.get_by_role("region", name="Observations")).to_contain_text("131/84 mmHg")
    expect(page.locator("#live")).to_have_attribute("data-last-event-id", str(missed.id))


@pytest.mark.django_db(transaction=True)
def test_a_live_refresh_keeps_what_the_nurse_is_typing(  # noqa: PLR0915 - one page, one story
    asgi_page, clinic_a, prescriber, nurse, frontdesk, clinic_admin, patient
):
    """Events from elsewhere (a monitor, a colleague) refresh the panels while she works: nothing she
    typed is lost, the refresh waits (a few seconds at most) while a field has the focus, and the
    answer to her last action (a form sent back with its error, a refusal) stays on screen."""
    from ketaclinic.infusions import actions
    from ketaclinic.infusions.models import DosingEvent, Observation

    order = iv_order(clinic_a, prescriber=prescriber, nurse=nurse, admin=clinic_admin, patient=patient)
    session = dosing_session(clinic_a, frontdesk=frontdesk, nurse=nurse, order=order)
    page = asgi_page
    sign_in_nurse(page, nurse)
    page.goto(f"{page.base_url}/infusions/{session.pk}/")
    wait_live(page)
    observations = page.get_by_role("region", name="Observations")
    form = page.get_by_role("form", name="Vital signs")

    def note_from_elsewhere(text):
        data = {"text": text}
        actions.record_observation(
            user=nurse, clinic=clinic_a, session=session, kind="note", data=data, idempotency_key=text
        )

    # Typed, then she looks away (no field focused): the refresh comes at once, the value stays.
    form.get_by_label("Systolic").fill("150")
    page.get_by_role("heading", name="Observations").click()
    note_from_elsewhere("first note")
    expect(observations).to_contain_text("first note", timeout=3000)
    expect(form.get_by_label("Systolic")).to_have_value("150")

    # Typing in a field: the refresh waits, then comes anyway; both values and the focus stay.
    form.get_by_label("Diastolic").fill("95")
    note_from_elsewhere("second note")
    expect(observations).to_contain_text("second note", timeout=9000)
    expect(form.get_by_label("Systolic")).to_have_value("150")
    expect(form.get_by_label("Diastolic")).to_have_value("95")
    expect(form.get_by_label("Diastolic")).to_be_focused()

    # Saved as typed; the form starts afresh.
    form.get_by_label("HR").fill("80")
    form.get_by_role("button", name="Save vitals").click()
    expect(observations).to_contain_text("150/95 mmHg")
    expect(form.get_by_label("Systolic")).to_have_value("")
    assert Observation.objects.filter(session=session, kind="vitals", systolic_mmhg=150).count() == 1

    # Sent back with an error next to the field and her values: a refresh keeps all of it.
    form.get_by_label("Systolic").fill("120")
    form.get_by_label("Diastolic").fill("130")
    form.get_by_role("button", name="Save vitals").click()
    error = form.get_by_text("diastolic pressure must be below systolic", exact=False)
    expect(error).to_be_visible()
    note_from_elsewhere("third note")
    expect(observations).to_contain_text("third note", timeout=3000)
    expect(error).to_be_visible()
    expect(form.get_by_label("Systolic")).to_have_value("120")
    expect(form.get_by_label("Diastolic")).to_have_value("130")
    form.get_by_label("Diastolic").fill("80")
    form.get_by_role("button", name="Save vitals").click()
    expect(observations).to_contain_text("120/80 mmHg")
    expect(error).to_have_count(0)

    # A refused action (a bolus beyond the signed order) keeps its message through a refresh.
    dosing = page.get_by_role("region", name="Dosing")
    dosing.get_by_label("Bolus (mg)").fill("500")
    dosing.get_by_role("button", name="Give bolus").click()
    refused = dosing.get_by_role("alert").filter(has_text="above the")
    expect(refused).to_contain_text("500 mg would bring the total to")
    note_from_elsewhere("fourth note")
    expect(observations).to_contain_text("fourth note", timeout=3000)
    expect(refused).to_be_visible()
    assert not DosingEvent.objects.filter(session=session, kind="bolus").exists()
