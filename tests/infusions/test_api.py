"""Infusion sessions over the JSON API: the actions' rules, idempotent writes, roles and clinics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.events.models import Event
from ketaclinic.infusions import actions
from ketaclinic.infusions.models import Alert, DosingEvent, Observation, Session, Transition
from tests.api.conftest import ApiClient, error_fields, token_for
from tests.infusions.conftest import VITALS


@pytest.fixture
def api_as():
    return lambda user: ApiClient(token_for(user) if user is not None else None)


@pytest.fixture
def checked_in(frontdesk, nurse, clinic_a, patient):
    session = actions.schedule_session(
        user=frontdesk, clinic=clinic_a, patient=patient, chair="Chair 3", scheduled_at=timezone.now()
    )
    return actions.transition(user=nurse, clinic=clinic_a, session=session, to="checked_in")


def url(session, rest=""):
    return f"/api/infusions/{session.pk}{rest}"


def counts():
    """Everything a write could add: rows, audit entries, events."""
    return (
        Observation.objects.count(),
        DosingEvent.objects.count(),
        Alert.objects.count(),
        Transition.objects.count(),
        AuditEntry.objects.exclude(action__startswith="infusions.session.view").count(),
        Event.objects.count(),
    )


# --- observations -------------------------------------------------------------------------------


def test_observation_is_stored_once_whatever_the_retries(api_as, checked_in, nurse):
    api = api_as(nurse)
    body = {"kind": "vitals", "idempotency_key": "tab-1", **VITALS, "temperature_c": "36.8"}
    first = api.post(url(checked_in, "/observations"), body)
    assert first.status_code == 201, first.content
    stored = first.json()
    assert stored["replayed"] is False and stored["alerts"] == []
    assert stored["observation"]["values"]["systolic_mmhg"] == 126
    assert stored["observation"]["phase"] == "checked_in"
    before = counts()

    again = api.post(url(checked_in, "/observations"), body)
    assert again.status_code == 200, again.content
    assert again.json()["replayed"] is True
    assert again.json()["observation"] == stored["observation"]
    assert counts() == before
    obs = Observation.objects.get(session=checked_in, idempotency_key="tab-1")
    assert obs.recorded_by == nurse and obs.systolic_mmhg == 126
    assert AuditEntry.objects.filter(action="infusions.observation.record").count() == 1


def test_key_reused_with_different_content_is_refused(api_as, checked_in, nurse):
    api = api_as(nurse)
    api.post(url(checked_in, "/observations"), {"kind": "vitals", "idempotency_key": "k", **VITALS})
    before = counts()
    response = api.post(
        url(checked_in, "/observations"),
        {"kind": "vitals", "idempotency_key": "k", **VITALS, "systolic_mmhg": 150},
    )
    assert response.status_code == 422
    assert "different observation" in error_fields(response)["idempotency_key"]
    other_kind = api.post(
        url(checked_in, "/observations"), {"kind": "moaas", "idempotency_key": "k", "score": 5}
    )
    assert other_kind.status_code == 422 and "idempotency_key" in error_fields(other_kind)
    assert counts() == before
    assert Observation.objects.get(idempotency_key="k").systolic_mmhg == 126


def test_the_answer_lists_the_alerts_raised(api_as, checked_in, nurse):
    api = api_as(nurse)
    body = {"kind": "vitals", "idempotency_key": "bp", "systolic_mmhg": 184, "diastolic_mmhg": 96}
    response = api.post(url(checked_in, "/observations"), body)
    assert response.status_code == 201
    alerts = response.json()["alerts"]
    assert [a["code"] for a in alerts] == ["bp_severe"]
    assert alerts[0]["severity"] == "critical" and alerts[0]["acknowledged_at"] is None
    # A retry answers with the same alerts, and raises none again.
    again = api.post(url(checked_in, "/observations"), body)
    assert again.status_code == 200 and again.json()["alerts"] == alerts
    assert Alert.objects.filter(session=checked_in).count() == 1


def _in_two_hours():
    return f"{timezone.now() + timedelta(hours=2):%Y-%m-%dT%H:%M:%SZ}"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"kind": "vitals", "systolic_mmhg": 1200, "diastolic_mmhg": 80}, "systolic_mmhg", "40 to 300"),
        ({"kind": "vitals", "systolic_mmhg": 120, "diastolic_mmhg": 130}, "diastolic_mmhg", "below systolic"),
        ({"kind": "vitals", "systolic_mmhg": "high", "diastolic_mmhg": 80}, "systolic_mmhg", "integer"),
        ({"kind": "vitals", "systolic": 120}, "systolic", "not permitted"),
        ({"kind": "moaas", "score": 3, "systolic_mmhg": 120}, "systolic_mmhg", "Not a field of moaas"),
        ({"kind": "moaas", "score": 6}, "score", "outside 0-5"),
        ({"kind": "fever", "score": 1}, "kind", "unknown observation kind"),
        ({"kind": "vitals", **VITALS, "source": "fax"}, "source", "manual or device"),
        (
            {"kind": "vitals", **VITALS, "observed_at": "2999-01-01T10:00:00Z"},
            "observed_at",
            "not a plausible date",
        ),
        ({"kind": "vitals", **VITALS, "observed_at": _in_two_hours()}, "observed_at", "future"),
        ({"kind": "vitals", **VITALS, "observed_at": "yesterday"}, "observed_at", "datetime"),
        ({"kind": "note", "text": "  "}, "text", "required"),
    ],
)
def test_bad_observation_names_the_field_and_changes_nothing(api_as, checked_in, nurse, body, field, words):
    api = api_as(nurse)
    before = counts()
    response = api.post(url(checked_in, "/observations"), {"idempotency_key": "bad", **body})
    assert response.status_code == 422, response.content
    errors = error_fields(response)
    assert field in errors, errors
    assert words.lower() in errors[field].lower()
    assert counts() == before


def test_missing_key_is_refused(api_as, checked_in, nurse):
    response = api_as(nurse).post(url(checked_in, "/observations"), {"kind": "vitals", **VITALS})
    assert response.status_code == 422 and "idempotency_key" in error_fields(response)
    response = api_as(nurse).post(
        url(checked_in, "/observations"), {"kind": "vitals", "idempotency_key": " "}
    )
    assert response.status_code == 422 and "idempotency_key" in error_fields(response)
    assert not Observation.objects.exists()


def test_device_source_and_time_are_kept(api_as, checked_in, nurse):
    at = (timezone.now() - timedelta(minutes=3)).replace(microsecond=0)
    body = {
        "kind": "vitals",
        "idempotency_key": "mon-7",
        "heart_rate_bpm": 71,
        "spo2_pct": 97,
        "source": "device",
        "device_id": "monitor-7",
        "observed_at": at.isoformat(),
    }
    response = api_as(nurse).post(url(checked_in, "/observations"), body)
    assert response.status_code == 201, response.content
    obs = Observation.objects.get(idempotency_key="mon-7")
    assert (obs.source, obs.device_id, obs.observed_at) == ("device", "monitor-7", at)


def test_scheduled_session_takes_no_observation(api_as, nurse, frontdesk, clinic_a, patient):
    session = actions.schedule_session(
        user=frontdesk, clinic=clinic_a, patient=patient, chair="1", scheduled_at=timezone.now()
    )
    response = api_as(nurse).post(
        url(session, "/observations"), {"kind": "moaas", "idempotency_key": "a", "score": 5}
    )
    assert response.status_code == 422 and "scheduled" in error_fields(response)["session"].lower()


# --- corrections --------------------------------------------------------------------------------


def test_correction_is_a_new_observation_pointing_at_the_old(api_as, checked_in, nurse):
    api = api_as(nurse)
    first = api.post(url(checked_in, "/observations"), {"kind": "vitals", "idempotency_key": "v1", **VITALS})
    original_id = first.json()["observation"]["id"]
    path = url(checked_in, f"/observations/{original_id}/corrections")

    missing = api.post(path, {"idempotency_key": "c1", **VITALS, "systolic_mmhg": 136, "reason": " "})
    assert missing.status_code == 422 and "why" in error_fields(missing)["reason"].lower()
    no_reason = api.post(path, {"idempotency_key": "c1", **VITALS})
    assert no_reason.status_code == 422 and "reason" in error_fields(no_reason)
    foreign = api.post(path, {"idempotency_key": "c1", "score": 4, "reason": "typo"})
    assert foreign.status_code == 422 and "score" in error_fields(foreign)

    body = {"idempotency_key": "c1", **VITALS, "systolic_mmhg": 136, "reason": "typed 126 for 136"}
    fixed = api.post(path, body)
    assert fixed.status_code == 201, fixed.content
    corrected = fixed.json()["observation"]
    assert corrected["corrects"] == original_id and corrected["values"]["systolic_mmhg"] == 136
    assert api.post(path, body).status_code == 200  # a retry
    original = Observation.objects.get(pk=original_id)
    assert original.systolic_mmhg == 126  # kept, never edited
    assert Observation.objects.filter(corrects=original).count() == 1
    entry = AuditEntry.objects.get(action="infusions.observation.correct")
    assert entry.user == nurse and entry.detail["reason"] == "typed 126 for 136"


def test_correction_of_another_sessions_observation_is_404(api_as, checked_in, nurse, frontdesk, clinic_a):
    api = api_as(nurse)
    first = api.post(url(checked_in, "/observations"), {"kind": "vitals", "idempotency_key": "v1", **VITALS})
    other = Session.objects.create(
        clinic=clinic_a,
        patient=checked_in.patient,
        chair="9",
        scheduled_at=timezone.now(),
        created_by=frontdesk,
    )
    oid = first.json()["observation"]["id"]
    body = {"idempotency_key": "c1", **VITALS, "reason": "x"}
    assert api.post(url(other, f"/observations/{oid}/corrections"), body).status_code == 404
    assert Observation.objects.count() == 1


# --- dosing, transitions, alerts ----------------------------------------------------------------


def test_dosing_events_are_idempotent_and_move_the_session(api_as, iv_session, nurse):
    api = api_as(nurse)
    path = url(iv_session, "/dosing-events")
    start = api.post(path, {"kind": "start", "idempotency_key": "start-1"})
    assert start.status_code == 201, start.content
    body = start.json()
    assert body["session"]["state"] == "dosing" and body["dose"]["kind"] == "start"
    assert body["progress"]["running"] is True and body["replayed"] is False
    again = api.post(path, {"kind": "start", "idempotency_key": "start-1"})
    assert again.status_code == 200 and again.json()["dose"] == body["dose"]
    assert DosingEvent.objects.filter(session=iv_session).count() == 1

    before = counts()
    no_reason = api.post(path, {"kind": "pause", "idempotency_key": "p1"})
    assert no_reason.status_code == 422 and "reason" in error_fields(no_reason)
    bad_rate = api.post(path, {"kind": "rate", "idempotency_key": "r1", "rate_ml_per_h": "-4", "reason": "x"})
    assert bad_rate.status_code == 422 and "rate_ml_per_h" in error_fields(bad_rate)
    unknown = api.post(path, {"kind": "push", "idempotency_key": "x1"})
    assert unknown.status_code == 422 and "kind" in error_fields(unknown)
    assert counts() == before

    paused = api.post(path, {"kind": "pause", "idempotency_key": "p1", "reason": "nausea"})
    assert paused.status_code == 201 and paused.json()["session"]["state"] == "paused"
    assert Session.objects.get(pk=iv_session.pk).state == "paused"


def test_dosing_event_correction(api_as, iv_session, nurse, auditor):
    api = api_as(nurse)
    path = url(iv_session, "/dosing-events")
    start = api.post(path, {"kind": "start", "idempotency_key": "s1"}).json()["dose"]
    rate = api.post(path, {"kind": "rate", "idempotency_key": "r1", "rate_ml_per_h": "4", "reason": "BP up"})
    rate_id = rate.json()["dose"]["id"]
    fix_path = url(iv_session, f"/dosing-events/{rate_id}/corrections")
    before = counts()
    assert "reason" in error_fields(api.post(fix_path, {"idempotency_key": "f1", "rate_ml_per_h": "3"}))
    blank = api.post(fix_path, {"idempotency_key": "f1", "rate_ml_per_h": "3", "reason": " "})
    assert blank.status_code == 422 and "why" in error_fields(blank)["reason"].lower()
    no_amount = api.post(fix_path, {"idempotency_key": "f1", "mg": "5", "reason": "x"})
    assert no_amount.status_code == 422 and "mg" in error_fields(no_amount)
    assert api_as(auditor).post(fix_path, {"idempotency_key": "f1", "reason": "x"}).status_code == 403
    assert counts()[:2] == before[:2]

    body = {"idempotency_key": "f1", "rate_ml_per_h": "3", "reason": "typed 4 for 3"}
    fixed = api.post(fix_path, body)
    assert fixed.status_code == 201, fixed.content
    assert (
        fixed.json()["dose"]["rate_ml_per_h"] == "3.0" and fixed.json()["progress"]["rate_ml_per_h"] == "3.0"
    )
    assert api.post(fix_path, body).status_code == 200
    assert DosingEvent.objects.get(pk=rate_id).rate_ml_per_h == 4  # kept, never edited
    assert DosingEvent.objects.filter(corrects_id=rate_id).count() == 1
    other = url(iv_session, f"/dosing-events/{start['id'] + 10_000}/corrections")
    assert api.post(other, body).status_code == 404


def test_refused_start_lists_every_failed_condition(api_as, checked_in, nurse, iv_order):
    actions.link_order(user=nurse, clinic=checked_in.clinic, session=checked_in, order=iv_order)
    api = api_as(nurse)
    before = counts()
    response = api.post(url(checked_in, "/dosing-events"), {"kind": "start", "idempotency_key": "s"})
    assert response.status_code == 422
    # checked_in cannot move to dosing: the message names the current state.
    assert "checked in" in error_fields(response)["state"]
    assert counts() == before


def test_transition_refused_with_the_failed_conditions(api_as, checked_in, nurse):
    api = api_as(nurse)
    before = counts()
    response = api.post(url(checked_in, "/transitions"), {"to": "predose_done"})
    assert response.status_code == 422
    failures = [d["msg"] for d in response.json()["detail"] if d["loc"] == ["body", "state"]]
    assert failures == ["no pre-dose vital signs recorded"]
    assert counts() == before
    illegal = api.post(url(checked_in, "/transitions"), {"to": "discharged"})
    assert illegal.status_code == 422 and "checked in" in error_fields(illegal)["state"]

    abort = api.post(url(checked_in, "/transitions"), {"to": "aborted", "reason": "patient unwell"})
    assert abort.status_code == 200 and abort.json()["session"]["state"] == "aborted"
    assert Transition.objects.filter(session=checked_in, to_state="aborted", by=nurse).exists()


def test_acknowledge_an_alert(api_as, checked_in, nurse, frontdesk, clinic_a):
    api = api_as(nurse)
    body = {"kind": "vitals", "idempotency_key": "bp", "systolic_mmhg": 184, "diastolic_mmhg": 96}
    alert_id = api.post(url(checked_in, "/observations"), body).json()["alerts"][0]["id"]
    path = url(checked_in, f"/alerts/{alert_id}/acknowledge")
    empty = api.post(path, {"action_taken": " "})
    assert empty.status_code == 422 and "action_taken" in error_fields(empty)
    other = Session.objects.create(
        clinic=clinic_a,
        patient=checked_in.patient,
        chair="9",
        scheduled_at=timezone.now(),
        created_by=frontdesk,
    )
    assert api.post(url(other, f"/alerts/{alert_id}/acknowledge"), {"action_taken": "x"}).status_code == 404
    done = api.post(path, {"action_taken": "repeated in 5 min, prescriber informed"})
    assert done.status_code == 200 and done.json()["acknowledged_at"] is not None
    alert = Alert.objects.get(pk=alert_id)
    assert alert.acknowledged_by == nurse and alert.action_taken.startswith("repeated")
    again = api.post(path, {"action_taken": "again"})
    assert again.status_code == 422 and "already" in error_fields(again)["action_taken"]


# --- reads --------------------------------------------------------------------------------------


def test_session_detail(api_as, iv_session, nurse, auditor):
    api = api_as(nurse)
    api.post(url(iv_session, "/dosing-events"), {"kind": "start", "idempotency_key": "s1"})
    api.post(
        url(iv_session, "/observations"),
        {"kind": "vitals", "idempotency_key": "v", "systolic_mmhg": 184, "diastolic_mmhg": 96},
    )
    response = api_as(auditor).get(url(iv_session))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["session"]["state"] == "dosing" and body["seconds_in_state"] >= 0
    assert body["patient"]["mrn"] == "A-1001"
    assert body["order"]["route"] == "iv" and body["order"]["dose_mg_base"] is not None
    assert body["progress"]["running"] is True and body["progress"]["planned_mg"]
    assert "bp_severe" in [a["code"] for a in body["open_alerts"]]
    assert body["last_vitals"]["values"]["systolic_mmhg"] == 184
    assert {n["to"] for n in body["next"]} == {"paused", "recovery"}
    assert body["last_event_id"] == Event.objects.filter(channel=f"session:{iv_session.pk}").latest("id").id
    entry = AuditEntry.objects.filter(action="infusions.session.view").latest("seq")
    assert entry.user == auditor and entry.patient_id == iv_session.patient_id


def test_order_numbers_hidden_from_a_nurse_until_the_double_check(api_as, checked_in, nurse, iv_order):
    from ketaclinic.protocols.models import DoseOrder

    DoseOrder.objects.filter(pk=iv_order.pk).update(status="signed", verified_at=None, verified_by=None)
    actions.link_order(user=nurse, clinic=checked_in.clinic, session=checked_in, order=iv_order)
    order = api_as(nurse).get(url(checked_in)).json()["order"]
    assert order["hidden_until_double_check"] is True
    assert order["dose_mg_base"] is None and order["rate_ml_per_h"] is None and order["regimen"] is None


def test_list_sessions_by_day_and_state(api_as, checked_in, frontdesk, patient, clinic_a):
    later = actions.schedule_session(
        user=frontdesk,
        clinic=clinic_a,
        patient=patient,
        chair="Chair 4",
        scheduled_at=timezone.now() + timedelta(days=3),
    )
    api = api_as(frontdesk)
    everything = api.get("/api/infusions").json()
    assert everything["count"] == 2 and [s["id"] for s in everything["items"]] == [checked_in.pk, later.pk]
    assert everything["items"][0]["patient"]["family_name"] == "Lopez"
    today = timezone.localdate().isoformat()
    assert [s["id"] for s in api.get(f"/api/infusions?date={today}").json()["items"]] == [checked_in.pk]
    assert [s["id"] for s in api.get("/api/infusions?state=scheduled").json()["items"]] == [later.pk]
    bad = api.get("/api/infusions?state=dosing,asleep")
    assert bad.status_code == 422 and "asleep" in error_fields(bad)["state"]
    backwards = api.get("/api/infusions?from=2025-02-02&to=2025-02-01")
    assert backwards.status_code == 422 and "to" in error_fields(backwards)


def test_events_since_an_id(api_as, checked_in, nurse):
    api = api_as(nurse)
    api.post(url(checked_in, "/observations"), {"kind": "vitals", "idempotency_key": "v", **VITALS})
    page = api.get(url(checked_in, "/events?after=0&limit=2")).json()
    assert [e["type"] for e in page["events"]] == ["session", "state"] and page["more"] is True
    rest = api.get(url(checked_in, f"/events?after={page['last_event_id']}")).json()
    assert [e["type"] for e in rest["events"]] == ["observation"] and rest["more"] is False
    assert rest["events"][0]["data"]["observation"]["values"]["systolic_mmhg"] == 126
    reads = AuditEntry.objects.filter(action="infusions.session.events").count()
    empty = api.get(url(checked_in, f"/events?after={rest['last_event_id']}")).json()
    assert empty == {"events": [], "last_event_id": rest["last_event_id"], "more": False}
    # An empty poll shows nothing of the patient and is not audited.
    assert AuditEntry.objects.filter(action="infusions.session.events").count() == reads


def test_floor(api_as, checked_in, nurse, frontdesk):
    api_as(nurse).post(url(checked_in, "/observations"), {"kind": "vitals", "idempotency_key": "v", **VITALS})
    rows = api_as(nurse).get("/api/infusions/floor").json()
    assert [r["session"]["id"] for r in rows] == [checked_in.pk]
    assert rows[0]["last_vitals"]["values"]["heart_rate_bpm"] == 72
    assert AuditEntry.objects.filter(action="infusions.floor.view", user=nurse).exists()
    assert api_as(frontdesk).get("/api/infusions/floor").status_code == 403


# --- roles and clinics --------------------------------------------------------------------------


def test_roles(api_as, checked_in, frontdesk, auditor, prescriber):
    obs = {"kind": "vitals", "idempotency_key": "r", **VITALS}
    for user in (frontdesk, auditor):
        api = api_as(user)
        assert api.post(url(checked_in, "/observations"), obs).status_code == 403
        assert api.post(url(checked_in, "/transitions"), {"to": "aborted", "reason": "x"}).status_code == 403
        assert (
            api.post(url(checked_in, "/dosing-events"), {"kind": "start", "idempotency_key": "s"}).status_code
            == 403
        )
    assert api_as(frontdesk).get(url(checked_in)).status_code == 403  # the schedule only
    assert api_as(frontdesk).get("/api/infusions").status_code == 200
    assert api_as(auditor).get(url(checked_in)).status_code == 200  # read-only
    assert api_as(None).post(url(checked_in, "/observations"), obs).status_code == 401
    assert not Observation.objects.exists()
    assert api_as(prescriber).post(url(checked_in, "/observations"), obs).status_code == 201


def test_another_clinics_ids_are_404(api_as, checked_in, nurse, outsider):
    alert_id = (
        api_as(nurse)
        .post(
            url(checked_in, "/observations"),
            {"kind": "vitals", "idempotency_key": "bp", "systolic_mmhg": 184, "diastolic_mmhg": 96},
        )
        .json()["alerts"][0]["id"]
    )
    api = api_as(outsider)
    before = counts()
    assert api.get(url(checked_in)).status_code == 404
    assert api.get(url(checked_in, "/events")).status_code == 404
    obs = {"kind": "vitals", "idempotency_key": "x", **VITALS}
    assert api.post(url(checked_in, "/observations"), obs).status_code == 404
    assert api.post(url(checked_in, "/transitions"), {"to": "aborted", "reason": "x"}).status_code == 404
    assert (
        api.post(url(checked_in, f"/alerts/{alert_id}/acknowledge"), {"action_taken": "x"}).status_code == 404
    )
    assert counts() == before
    assert api.get("/api/infusions").json() == {"count": 0, "items": []}
    assert api.get("/api/infusions/floor").json() == []
