"""The pages: schedule list, chair view with htmx forms, floor board, chart data, record, REMS export."""

from __future__ import annotations

import json
from datetime import timedelta

import time_machine
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.infusions import actions
from ketaclinic.infusions.models import Alert, DosingEvent, Observation, Session
from tests.infusions.conftest import VITALS, scheduled

HX = {"HTTP_HX_REQUEST": "true"}


def post(client, name, session_or_pk, data, **extra):
    return client.post(reverse(name, args=[session_or_pk]), data, **HX, **extra)


def test_list_schedules_a_session_and_pins_queries(login, frontdesk, patient, django_assert_max_num_queries):
    client = login(frontdesk)
    when = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    bad = client.post(
        reverse("infusions-schedule"), {"patient": patient.pk, "chair": "", "scheduled_at": when}
    )
    assert (
        bad.status_code == 400 and "Choose a chair." in bad.content.decode() and not Session.objects.exists()
    )
    ok = client.post(
        reverse("infusions-schedule"), {"patient": patient.pk, "chair": "3", "scheduled_at": when}
    )
    assert ok.status_code == 302
    session = Session.objects.get()
    assert session.chair == "3" and AuditEntry.objects.filter(action="infusions.session.schedule").exists()
    with django_assert_max_num_queries(12):
        page = client.get(reverse("infusions-list"))
    assert page.status_code == 200 and patient.mrn in page.content.decode()


def test_nurse_runs_an_iv_session_on_the_chair_view(login, nurse, frontdesk, clinic_a, iv_order, settings):
    settings.IDLE_TIMEOUT_MINUTES = 600  # the test jumps 2 h ahead to discharge
    session = scheduled(frontdesk, nurse, clinic_a, iv_order)
    client = login(nurse)
    page = client.get(reverse("infusions-chair", args=[session.pk]))
    assert page.status_code == 200 and "Check in" in page.content.decode()
    assert AuditEntry.objects.filter(action="infusions.session.view", patient_id=session.patient_id).exists()
    # A refused transition names the failed condition.
    post(client, "infusions-move", session.pk, {"to": "checked_in"})
    refused = post(client, "infusions-move", session.pk, {"to": "predose_done"})
    assert "no pre-dose vital signs recorded" in refused.content.decode()
    post(client, "infusions-setup", session.pk, {"escort_name": "Carlos Lopez"})
    post(client, "infusions-observe", session.pk, {"kind": "vitals", "idempotency_key": "v1", **VITALS})
    # The same submission again (a retry) is stored once.
    post(client, "infusions-observe", session.pk, {"kind": "vitals", "idempotency_key": "v1", **VITALS})
    assert Observation.objects.filter(session=session).count() == 1
    post(client, "infusions-move", session.pk, {"to": "predose_done"})
    started = post(
        client,
        "infusions-dose",
        session.pk,
        {"kind": "start", "idempotency_key": "s1", "rate_ml_per_h": "5.3"},
    )
    assert started.status_code == 200
    session.refresh_from_db()
    assert session.state == "dosing"
    high = post(
        client,
        "infusions-observe",
        session.pk,
        {
            "kind": "vitals",
            "idempotency_key": "v2",
            **(VITALS | {"systolic_mmhg": 186, "diastolic_mmhg": 96}),
        },
    )
    assert "severe hypertension" in high.content.decode()
    alert = Alert.objects.get(session=session, code="bp_severe")
    no_action = client.post(reverse("infusions-acknowledge", args=[alert.pk]), {"action_taken": ""}, **HX)
    assert "Say what was done" in no_action.content.decode()
    client.post(reverse("infusions-acknowledge", args=[alert.pk]), {"action_taken": "Rechecked"}, **HX)
    alert.refresh_from_db()
    assert alert.action_taken == "Rechecked" and alert.acknowledged_by == nurse
    post(client, "infusions-observe", session.pk, {"kind": "moaas", "idempotency_key": "m1", "score": "4"})
    cadss = {f"item_{n}": "1" for n in (1, 2, 6, 7, 15, 22)}
    post(client, "infusions-observe", session.pk, {"kind": "cadss6", "idempotency_key": "c1", **cadss})
    chart = client.get(reverse("infusions-chart", args=[session.pk])).json()
    assert chart["predicted"]["ok"] and len(chart["predicted"]["t"]) == len(chart["predicted"]["effect_pct"])
    assert [r["kind"] for r in chart["ratings"]] == ["moaas", "cadss6"] and chart["doses"][0][
        "kind"
    ] == "start"
    assert chart["thresholds"]["severe_systolic"] == 180
    post(client, "infusions-dose", session.pk, {"kind": "stop", "idempotency_key": "s2"})
    session.refresh_from_db()
    assert session.state == "recovery"
    for kind, data in [
        ("vitals", VITALS),
        ("moaas", {"score": "5"}),
        ("cadss6", {f"item_{n}": "0" for n in (1, 2, 6, 7, 15, 22)}),
        ("padss", {"vital_signs": "2", "activity_mental_status": "2", "pain_nausea_vomiting": "2"}),
        ("discharge_check", {"gait_steady": "on", "escort_present": "on", "no_driving_advice_given": "on"}),
    ]:
        r = post(
            client, "infusions-observe", session.pk, {"kind": kind, "idempotency_key": f"r-{kind}", **data}
        )
        assert r.status_code == 200, kind
    early = post(client, "infusions-move", session.pk, {"to": "discharged"})
    assert "minimum observation time of 120 min not reached" in early.content.decode()
    with time_machine.travel(timezone.now() + timedelta(minutes=121)):
        done = post(client, "infusions-move", session.pk, {"to": "discharged"})
    assert done.status_code == 200
    session.refresh_from_db()
    assert session.state == "discharged"
    record = client.get(reverse("infusions-record", args=[session.pk]))
    body = record.content.decode()
    assert record.status_code == 200 and "Session record" in body and "Rechecked" in body and "Start" in body
    assert AuditEntry.objects.filter(action="infusions.session.print").exists()


def test_floor_board_shows_active_chairs_with_alerts(
    login, nurse, frontdesk, clinic_a, iv_session, django_assert_max_num_queries
):
    actions.record_dosing_event(
        user=nurse, clinic=clinic_a, session=iv_session, kind="start", idempotency_key="s"
    )
    actions.record_observation(
        user=nurse,
        clinic=clinic_a,
        session=iv_session,
        kind="vitals",
        data=VITALS | {"systolic_mmhg": 190, "diastolic_mmhg": 100},
        idempotency_key="hi",
    )
    client = login(nurse)
    with django_assert_max_num_queries(16):
        page = client.get(reverse("infusions-floor"))
    body = page.content.decode()
    assert page.status_code == 200 and "Chair Chair 1" in body and 'data-alert="bp_severe"' in body
    assert "190/100" in body
    assert AuditEntry.objects.filter(action="infusions.floor.view").exists()


def test_outsider_and_frontdesk_cannot_act(login, outsider, frontdesk, nurse, clinic_a, iv_session):
    r = login(outsider).get(reverse("infusions-chair", args=[iv_session.pk]))
    assert r.status_code in (403, 404)
    r = login(frontdesk).post(
        reverse("infusions-dose", args=[iv_session.pk]), {"kind": "start", "idempotency_key": "x"}
    )
    assert r.status_code == 403 and not DosingEvent.objects.exists()


def test_rems_form_view_and_exports(login, nurse, clinic_a, nasal_session):
    actions.record_dosing_event(
        user=nurse, clinic=clinic_a, session=nasal_session, kind="start", idempotency_key="s"
    )
    actions.record_dosing_event(
        user=nurse,
        clinic=clinic_a,
        session=nasal_session,
        kind="device",
        idempotency_key="d1",
        lot_number="L1",
    )
    client = login(nurse)
    page = client.get(reverse("infusions-rems", args=[nasal_session.pk]))
    assert page.status_code == 200 and "REMS" in page.content.decode()
    csv = client.get(reverse("infusions-rems", args=[nasal_session.pk]) + "?format=csv")
    assert csv["Content-Type"].startswith("text/csv") and "L1" in csv.content.decode()
    data = json.loads(client.get(reverse("infusions-rems", args=[nasal_session.pk]) + "?format=json").content)
    assert data and AuditEntry.objects.filter(action="infusions.session.rems.csv").exists()
