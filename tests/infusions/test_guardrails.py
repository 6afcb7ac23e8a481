"""The drug library's limits at the chair (issue 11): every rate change, resume and bolus is
checked as the order was when it was signed. A hard limit refuses (saying the limit) and the
refusal is on the limits report; a soft one, or a rate above the order's, needs a confirmation with
a reason, recorded and shown on the report. Resume restarts the rate that ran before the pause; a
bolus the order does not contain is refused; stopping early needs a reason; cancel and abort are
on the chair view; critical alerts are listed first."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from ketaclinic.audit.models import AuditEntry
from ketaclinic.infusions import actions
from ketaclinic.infusions.models import Alert, DosingEvent
from ketaclinic.protocols.models import LimitEvent

D = Decimal


def dose(nurse, clinic, session, kind, key, **kw):
    return actions.record_dosing_event(
        user=nurse, clinic=clinic, session=session, kind=kind, idempotency_key=key, **kw
    )[0]


@pytest.fixture
def running(iv_session, nurse, clinic_a):
    """The IV order (0.5 mg/kg over 40 min, 70 kg, 10 mg/mL: 5.3 mL/h) started; library soft max
    1.125 mg/kg/h (7.9 mL/h), hard max 1.5 mg/kg/h (10.5 mL/h)."""
    with time_machine.travel(iv_session.state_changed_at + timedelta(seconds=5), tick=False) as clock:
        dose(nurse, clinic_a, iv_session, "start", "s")
        clock.shift(timedelta(minutes=2))
        yield iv_session, clock


def test_a_rate_past_the_hard_limit_is_refused_and_reported(running, nurse, clinic_a):
    session, _ = running
    assert session.dose_order.rate_ml_per_h == D("5.3")
    for rate in ("50", "10.6"):  # 7.1 and 1.514 mg/kg/h
        with pytest.raises(ValidationError) as exc:
            dose(nurse, clinic_a, session, "rate", f"r{rate}", rate_ml_per_h=rate, reason="BP low")
        [message, *_] = exc.value.message_dict["rate_ml_per_h"]
        assert "above the hard maximum of 1.5 mg/kg/h: refused" in message
    assert not DosingEvent.objects.filter(kind="rate").exists()
    refusals = LimitEvent.objects.filter(event="refusal", kind="rate_mg_per_kg_per_h")
    assert refusals.count() == 2 and refusals.first().message.startswith("At the chair:")
    assert refusals.filter(order=session.dose_order, patient=session.patient).count() == 2
    assert AuditEntry.objects.filter(action="infusions.dose.refused").count() == 2


def test_the_hard_limit_itself_passes_with_a_confirmation(running, nurse, clinic_a):
    session, _ = running
    # 10.5 mL/h is exactly 1.5 mg/kg/h: at the hard bound passes, but it is past the soft one.
    event = dose(
        nurse, clinic_a, session, "rate", "r", rate_ml_per_h="10.5", reason="partial response",
        override_reason="prescriber ordered a higher rate at the chair",
    )  # fmt: skip
    assert event.rate_ml_per_h == D("10.5")


def test_a_rate_above_the_order_needs_a_confirmation_with_a_reason(running, nurse, clinic_a):
    session, _ = running
    with pytest.raises(ValidationError) as exc:
        dose(nurse, clinic_a, session, "rate", "r", rate_ml_per_h="5.4", reason="BP low")
    messages = exc.value.message_dict["override_reason"]
    assert "above the 0.7571 mg/kg/h of the signed order" in messages[0]
    assert not DosingEvent.objects.filter(kind="rate").exists() and not LimitEvent.objects.exists()
    with pytest.raises(ValidationError):
        dose(
            nurse, clinic_a, session, "rate", "r", rate_ml_per_h="5.4", reason="BP low", override_reason="ok"
        )
    event = dose(
        nurse, clinic_a, session, "rate", "r", rate_ml_per_h="5.4", reason="BP low",
        override_reason="Blood pressure dropped; per standing order",
    )  # fmt: skip
    override = LimitEvent.objects.get(event="override")
    assert (
        override.reason == "Blood pressure dropped; per standing order"
        and override.order == session.dose_order
    )
    assert override.value == D("0.7714") and override.limit_value == D("0.7571")
    entry = AuditEntry.objects.filter(action="infusions.dose.record").last()
    assert entry.detail["override_reason"].startswith("Blood pressure") and event.rate_ml_per_h == D("5.4")


def test_the_orders_rate_and_below_need_nothing(running, nurse, clinic_a):
    session, clock = running
    dose(nurse, clinic_a, session, "rate", "r1", rate_ml_per_h="2.6", reason="strong dissociation")
    clock.shift(timedelta(minutes=1))
    dose(nurse, clinic_a, session, "rate", "r2", rate_ml_per_h="5.3", reason="settled")
    assert not LimitEvent.objects.exists()


def test_past_the_librarys_soft_limit_both_breaches_are_recorded(running, nurse, clinic_a):
    session, _ = running
    with pytest.raises(ValidationError) as exc:
        dose(nurse, clinic_a, session, "rate", "r", rate_ml_per_h="8", reason="no effect")  # 1.1429
    messages = exc.value.message_dict["override_reason"]
    assert "above the soft maximum of 1.125 mg/kg/h" in messages[0] and "signed order" in messages[1]
    dose(
        nurse,
        clinic_a,
        session,
        "rate",
        "r",
        rate_ml_per_h="8",
        reason="no effect",
        override_reason="per Dr R",
    )
    assert LimitEvent.objects.filter(event="override").count() == 2


def test_resume_restarts_the_rate_before_the_pause_not_the_orders(running, nurse, clinic_a, login):
    session, clock = running
    dose(nurse, clinic_a, session, "rate", "r", rate_ml_per_h="2.6", reason="strong dissociation")
    clock.shift(timedelta(minutes=3))
    dose(nurse, clinic_a, session, "pause", "p", reason="vomiting")
    chair = login(nurse).get(reverse("infusions-chair", args=[session.pk])).content.decode()
    assert 'id="resume-rate" name="rate_ml_per_h" type="number" step="0.1" value="2.6"' in chair
    clock.shift(timedelta(minutes=3))
    resumed = dose(nurse, clinic_a, session, "resume", "u")
    assert resumed.rate_ml_per_h == D("2.6")
    assert dose(nurse, clinic_a, session, "resume", "u") == resumed  # a retry is the same event
    assert actions.progress_for(session).rate_ml_per_h == D("2.6")
    clock.shift(timedelta(minutes=1))
    dose(nurse, clinic_a, session, "pause", "p2", reason="again")
    with pytest.raises(ValidationError) as exc:  # a resume is checked like any new rate
        dose(nurse, clinic_a, session, "resume", "u2", rate_ml_per_h="11")
    assert "hard maximum" in exc.value.message_dict["rate_ml_per_h"][0]


def test_a_bolus_the_order_does_not_contain_is_refused(running, nurse, clinic_a):
    session, _ = running
    assert session.dose_order.bolus_mg is None
    with pytest.raises(ValidationError) as exc:
        dose(nurse, clinic_a, session, "bolus", "b", mg="10")
    assert exc.value.message_dict["mg"] == [
        "The signed order contains no bolus: a prescriber adds one to the order first."
    ]
    assert not DosingEvent.objects.filter(kind="bolus").exists()
    assert LimitEvent.objects.get().kind == "bolus_mg"


def test_the_orders_bolus_is_its_maximum(bolus_session, nurse, clinic_a):
    with time_machine.travel(bolus_session.state_changed_at + timedelta(seconds=5), tick=False) as clock:
        dose(nurse, clinic_a, bolus_session, "start", "s")
        clock.shift(timedelta(minutes=1))
        with pytest.raises(ValidationError) as exc:
            dose(nurse, clinic_a, bolus_session, "bolus", "b1", mg="7.1")
        assert "above the 7.0 mg of the signed order" in exc.value.message_dict["mg"][0]
        assert dose(nurse, clinic_a, bolus_session, "bolus", "b2", mg="7").mg == D("7")


def test_stopping_early_needs_a_reason(running, nurse, clinic_a):
    session, _ = running
    with pytest.raises(ValidationError) as exc:
        dose(nurse, clinic_a, session, "stop", "e")
    assert "of 35.0 mg is given" in exc.value.message_dict["reason"][0]
    stop = dose(nurse, clinic_a, session, "stop", "e", reason="patient asked to stop")
    assert stop.reason == "patient asked to stop"


def test_stopping_a_complete_dose_needs_no_reason(running, nurse, clinic_a, login):
    session, clock = running
    clock.shift(timedelta(minutes=45))  # past the 40 min: the pump stopped itself at the volume
    chair = login(nurse).get(reverse("infusions-chair", args=[session.pk])).content.decode()
    assert 'id="dose-complete"' in chair and "Why stop" not in chair
    assert dose(nurse, clinic_a, session, "stop", "e").kind == "stop"


def test_the_chair_view_asks_for_the_confirmation_and_then_records(running, nurse, clinic_a, login):
    session, _ = running
    client = login(nurse)
    url = reverse("infusions-dose", args=[session.pk])
    body = {"kind": "rate", "idempotency_key": "k-rate", "rate_ml_per_h": "6", "reason": "BP low"}
    asked = client.post(url, body, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="confirm-limit"' in asked and "above the 0.7571 mg/kg/h of the signed order" in asked
    assert "Confirm past a soft limit: rate at 6 mL/h" in asked
    assert 'name="rate_ml_per_h" value="6"' in asked
    refused = client.post(url, body | {"rate_ml_per_h": "50"}, HTTP_HX_REQUEST="true").content.decode()
    assert "hard maximum of 1.5 mg/kg/h: refused" in refused and 'id="confirm-limit"' not in refused
    client.post(url, body | {"override_reason": "per Dr Raman at the chair"}, HTTP_HX_REQUEST="true")
    assert DosingEvent.objects.get(kind="rate").rate_ml_per_h == D("6")
    report = login(nurse).get(reverse("protocols-limits-report"))
    assert report.status_code == 403  # nurses do not read it; the admin does:


def test_the_limits_report_shows_chair_events(running, nurse, clinic_a, clinic_admin, login):
    session, _ = running
    with pytest.raises(ValidationError):
        dose(nurse, clinic_a, session, "rate", "r", rate_ml_per_h="50", reason="BP low")
    page = login(clinic_admin).get(reverse("protocols-limits-report")).content.decode()
    assert "At the chair: Infusion rate 7.1429 mg/kg/h is above the hard maximum" in page


def test_the_api_applies_the_same_limits(running, nurse):
    from tests.infusions.test_api import ApiClient, token_for

    session, _ = running
    api = ApiClient(token_for(nurse))
    path = f"/api/infusions/{session.pk}/dosing-events"
    refused = api.post(path, {"kind": "rate", "idempotency_key": "a1", "rate_ml_per_h": "500", "reason": "x"})
    assert refused.status_code == 422
    asked = api.post(path, {"kind": "rate", "idempotency_key": "a2", "rate_ml_per_h": "50", "reason": "x"})
    assert asked.status_code == 422 and "hard maximum" in asked.content.decode()
    ok = api.post(
        path,
        {
            "kind": "rate",
            "idempotency_key": "a3",
            "rate_ml_per_h": "6",
            "reason": "x",
            "override_reason": "per Dr R",
        },
    )
    assert ok.status_code == 201, ok.content


def test_cancel_is_on_the_chair_view(login, nurse, clinic_a, frontdesk, iv_order):
    from tests.infusions.conftest import scheduled

    session = scheduled(frontdesk, nurse, clinic_a, iv_order)
    client = login(nurse)
    chair = client.get(reverse("infusions-chair", args=[session.pk])).content.decode()
    assert "Cancel this session" in chair
    client.post(reverse("infusions-move", args=[session.pk]), {"to": "aborted", "reason": "no-show"})
    session.refresh_from_db()
    assert session.state == "aborted" and session.abort_reason == "no-show"


def test_critical_alerts_come_first(running, nurse, clinic_a, login):
    session, clock = running
    from tests.infusions.conftest import VITALS

    actions.record_observation(
        user=nurse, clinic=clinic_a, session=session, kind="vitals",
        data=VITALS | {"systolic_mmhg": 185, "diastolic_mmhg": 100}, idempotency_key="v-crit",
    )  # fmt: skip
    clock.shift(timedelta(minutes=1))
    actions.record_observation(
        user=nurse, clinic=clinic_a, session=session, kind="vitals",
        data=VITALS | {"heart_rate_bpm": 130}, idempotency_key="v-warn",
    )  # fmt: skip
    rank = {"critical": 0, "warning": 1}
    listed = [
        (rank.get(a.severity, 2), a.raised_at)
        for a in Alert.objects.filter(session=session).order_by(*Alert.WORST_FIRST)
    ]
    assert listed == sorted(listed, key=lambda r: (r[0], -r[1].timestamp()))
    critical = Alert.objects.get(session=session, severity="critical")
    assert Alert.objects.filter(
        session=session, severity="warning", raised_at__gt=critical.raised_at
    ).exists()
    chair = login(nurse).get(reverse("infusions-chair", args=[session.pk])).content.decode()
    from ketaclinic.infusions.pages import floor_rows

    [row] = floor_rows(clinic_a)
    assert row["alerts"][0].severity == "critical"
    assert chair.index("<strong>Critical:") < chair.index("<strong>Warning:")


def test_iv_observation_counts_from_the_end_of_the_infusion(running, nurse, clinic_a):
    from ketaclinic.infusions.actions import observation_from, session_protocol

    session, clock = running
    proto = session_protocol(session)
    assert observation_from(session, proto) is None  # still running: observation has not begun
    clock.shift(timedelta(minutes=40))
    stop = dose(nurse, clinic_a, session, "stop", "e")
    assert observation_from(session, proto) == stop.at


def test_the_floor_board_shows_the_pump(running, nurse, clinic_a, login):
    session, clock = running  # started 2 min ago at 5.3 mL/h
    clock.shift(timedelta(minutes=18))  # 20 min: 1.77 mL = 17.7 mg of 35 mg
    page = login(nurse).get(reverse("infusions-floor")).content.decode()
    assert "51% given (17.7 of 35.0 mg) · 5.3 mL/h · 20 min left" in page


def test_the_front_desk_sees_the_schedule_without_drug_or_dose(login, frontdesk, nurse, clinic_a, iv_order):
    from tests.infusions.conftest import scheduled

    session = scheduled(frontdesk, nurse, clinic_a, iv_order)
    desk = login(frontdesk).get(reverse("infusions-list")).content.decode()
    assert "Lopez, Maria" in desk and iv_order.regimen_text not in desk and " mg" not in desk
    assert (
        reverse("infusions-chair", args=[session.pk]) not in desk and reverse("infusions-floor") not in desk
    )
    ward = login(nurse).get(reverse("infusions-list")).content.decode()
    assert iv_order.regimen_text in ward and reverse("infusions-chair", args=[session.pk]) in ward
