"""Session actions on the database: roles and clinics, transitions, observations, alerts, audit, events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.events.models import Event
from ketaclinic.infusions import actions
from ketaclinic.infusions.models import Alert, Observation, Session, Transition

VITALS = {
    "systolic_mmhg": 126,
    "diastolic_mmhg": 80,
    "heart_rate_bpm": 72,
    "spo2_pct": 98,
    "resp_rate_per_min": 14,
}


@pytest.fixture
def session(frontdesk, clinic_a, patient):
    return actions.schedule_session(
        user=frontdesk, clinic=clinic_a, patient=patient, chair="Chair 2", scheduled_at=timezone.now()
    )


@pytest.fixture
def checked_in(session, nurse, clinic_a):
    return actions.transition(user=nurse, clinic=clinic_a, session=session, to="checked_in")


def record(nurse, clinic, session, *, kind="vitals", data=None, key="k1", **kw):
    data = VITALS if data is None else data
    return actions.record_observation(
        user=nurse, clinic=clinic, session=session, kind=kind, data=data, idempotency_key=key, **kw
    )


def test_schedule_audits_and_announces(session, frontdesk, clinic_a):
    assert session.state == "scheduled" and session.chair == "Chair 2"
    entry = AuditEntry.objects.get(action="infusions.session.schedule")
    assert entry.user == frontdesk and entry.patient_id == session.patient_id
    channels = set(Event.objects.values_list("channel", flat=True))
    assert channels == {f"session:{session.pk}", f"floor:{clinic_a.pk}"}


def test_schedule_refuses_bad_input_and_other_clinics(personas, clinic_a, clinic_b, patient):
    frontdesk, outsider, auditor = personas["frontdesk"], personas["outsider"], personas["auditor"]
    with pytest.raises(ValidationError) as exc:
        actions.schedule_session(user=frontdesk, clinic=clinic_a, patient=patient, chair=" ", scheduled_at="")
    assert "chair" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        actions.schedule_session(
            user=frontdesk, clinic=clinic_a, patient=patient, chair="1", scheduled_at="soon"
        )
    assert "scheduled_at" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        actions.schedule_session(
            user=outsider, clinic=clinic_b, patient=patient, chair="1", scheduled_at=timezone.now()
        )
    assert "patient" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        actions.schedule_session(
            user=auditor, clinic=clinic_a, patient=patient, chair="1", scheduled_at=timezone.now()
        )
    assert not Session.objects.exists()


def test_check_in_records_who_and_when(checked_in, nurse):
    t = Transition.objects.get(session=checked_in)
    assert (t.from_state, t.to_state, t.by) == ("scheduled", "checked_in", nurse)
    entry = AuditEntry.objects.get(action="infusions.session.transition")
    assert entry.detail == {"from": "scheduled", "to": "checked_in", "reason": ""}
    state_events = Event.objects.filter(type="state", channel=f"session:{checked_in.pk}")
    assert state_events.get().payload["session"]["state"] == "checked_in"


def test_illegal_transition_names_the_current_state_and_changes_nothing(session, nurse, clinic_a):
    with pytest.raises(ValidationError) as exc:
        actions.transition(user=nurse, clinic=clinic_a, session=session, to="recovery")
    assert exc.value.message_dict["state"] == [
        "The session is scheduled; it cannot move to recovery "
        "(from scheduled it can go to: checked in, aborted)."
    ]
    session.refresh_from_db()
    assert session.state == "scheduled" and not Transition.objects.exists()


def test_predose_done_needs_vitals_within_the_gates(checked_in, nurse, clinic_a):
    with pytest.raises(ValidationError) as exc:
        actions.transition(user=nurse, clinic=clinic_a, session=checked_in, to="predose_done")
    assert exc.value.message_dict["state"] == ["no pre-dose vital signs recorded"]
    record(nurse, clinic_a, checked_in, data=VITALS | {"systolic_mmhg": 150})
    with pytest.raises(ValidationError) as exc:
        actions.transition(user=nurse, clinic=clinic_a, session=checked_in, to="predose_done")
    assert exc.value.message_dict["state"] == [
        "pre-dose systolic blood pressure 150 mmHg is above the gate of 140 mmHg"
    ]
    record(nurse, clinic_a, checked_in, key="k2")
    done = actions.transition(user=nurse, clinic=clinic_a, session=checked_in, to="predose_done")
    assert done.state == "predose_done"


def test_dosing_refused_with_every_missing_condition(checked_in, nurse, clinic_a):
    record(nurse, clinic_a, checked_in)
    actions.transition(user=nurse, clinic=clinic_a, session=checked_in, to="predose_done")
    with pytest.raises(ValidationError) as exc:
        actions.transition(user=nurse, clinic=clinic_a, session=checked_in, to="dosing")
    failures = exc.value.message_dict["state"]
    assert "no signed dose order" in failures
    assert "eligibility screening is not current" in failures
    assert "no consent recorded" in failures
    assert "escort home not confirmed" in failures
    actions.confirm_escort(user=nurse, clinic=clinic_a, session=checked_in, escort_name="Carlos Lopez")
    with pytest.raises(ValidationError) as exc:
        actions.transition(user=nurse, clinic=clinic_a, session=checked_in, to="dosing")
    assert "escort home not confirmed" not in exc.value.message_dict["state"]
    checked_in.refresh_from_db()
    assert checked_in.state == "predose_done"


def test_abort_needs_a_reason_and_ends_the_session(checked_in, nurse, clinic_a):
    with pytest.raises(ValidationError, match="a reason for aborting is required"):
        actions.transition(user=nurse, clinic=clinic_a, session=checked_in, to="aborted")
    aborted = actions.transition(
        user=nurse, clinic=clinic_a, session=checked_in, to="aborted", reason="unwell"
    )
    assert (aborted.state, aborted.abort_reason) == ("aborted", "unwell")
    with pytest.raises(ValidationError, match="observations are recorded from check-in"):
        record(nurse, clinic_a, aborted)


def test_second_active_session_cannot_check_in(checked_in, frontdesk, nurse, clinic_a, patient):
    other = actions.schedule_session(
        user=frontdesk, clinic=clinic_a, patient=patient, chair="Chair 3", scheduled_at=timezone.now()
    )
    with pytest.raises(ValidationError, match="already has another active session"):
        actions.transition(user=nurse, clinic=clinic_a, session=other, to="checked_in")


def test_frontdesk_and_outsiders_cannot_run_sessions(session, frontdesk, outsider, clinic_a, clinic_b):
    with pytest.raises(PermissionDenied):
        actions.transition(user=frontdesk, clinic=clinic_a, session=session, to="checked_in")
    with pytest.raises(ValidationError):
        actions.transition(user=outsider, clinic=clinic_b, session=session, to="checked_in")
    with pytest.raises(PermissionDenied):
        record(outsider, clinic_a, session)


def test_observation_is_stored_once_whatever_the_retries(checked_in, nurse, clinic_a):
    obs, created = record(nurse, clinic_a, checked_in, key="device-abc-1")
    again, created_again = record(nurse, clinic_a, checked_in, key="device-abc-1")
    assert created and not created_again and again.pk == obs.pk
    assert Observation.objects.count() == 1
    assert AuditEntry.objects.filter(action="infusions.observation.record").count() == 1
    assert Event.objects.filter(type="observation", channel=f"session:{checked_in.pk}").count() == 1
    with pytest.raises(ValidationError) as exc:
        record(nurse, clinic_a, checked_in, key="device-abc-1", data=VITALS | {"heart_rate_bpm": 90})
    assert "idempotency_key" in exc.value.message_dict
    assert Observation.objects.count() == 1


def test_observation_fields_audit_and_phase(checked_in, nurse, clinic_a):
    obs, _ = record(nurse, clinic_a, checked_in, source="device", device_id="monitor-7")
    obs = Observation.objects.get(pk=obs.pk)
    assert (obs.systolic_mmhg, obs.phase, obs.source, obs.recorded_by) == (126, "checked_in", "device", nurse)
    entry = AuditEntry.objects.get(action="infusions.observation.record")
    assert entry.detail["values"]["systolic_mmhg"] == 126 and entry.detail["idempotency_key"] == "k1"
    event = Event.objects.get(type="observation", channel=f"session:{checked_in.pk}")
    assert event.payload["observation"]["values"]["heart_rate_bpm"] == 72


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("vitals", {"systolic_mmhg": 1200, "diastolic_mmhg": 80}, "systolic_mmhg"),
        ("vitals", {"systolic_mmhg": 120}, "diastolic_mmhg"),
        ("vitals", {}, "systolic_mmhg"),
        ("moaas", {"score": 7}, "score"),
        ("cadss", {"items": [0] * 22}, "items"),
        ("adverse_event", {"ae_term": "nausea", "ctcae_grade": 6, "action_taken": "x"}, "ctcae_grade"),
        ("prn", {"drug": "ondansetron", "dose_value": "4", "dose_unit": "mg", "route": "rectal"}, "route"),
        ("note", {"text": ""}, "text"),
        ("sleep", {}, "kind"),
    ],
)
def test_bad_observation_names_the_field_and_stores_nothing(checked_in, nurse, kind, data, field):
    with pytest.raises(ValidationError) as exc:
        record(nurse, checked_in.clinic, checked_in, kind=kind, data=data)
    assert field in exc.value.message_dict
    assert not Observation.objects.exists()


def test_observed_at_in_the_future_is_refused(checked_in, nurse, clinic_a):
    with pytest.raises(ValidationError) as exc:
        record(nurse, clinic_a, checked_in, observed_at=timezone.now() + timedelta(hours=1))
    assert "observed_at" in exc.value.message_dict


def test_ratings_prn_and_notes_are_stored(checked_in, nurse, clinic_a):
    cadss6, _ = record(
        nurse, clinic_a, checked_in, kind="cadss6", data={"items": [1, 2, 0, 0, 1, 0]}, key="a"
    )
    assert (cadss6.score, cadss6.items) == (4, {"1": 1, "2": 2, "6": 0, "7": 0, "15": 1, "22": 0})
    prn, _ = record(
        nurse,
        clinic_a,
        checked_in,
        kind="prn",
        key="b",
        data={
            "drug": "ondansetron",
            "dose_value": "4",
            "dose_unit": "mg",
            "route": "ODT",
            "indication": "nausea",
        },
    )
    prn = Observation.objects.get(pk=prn.pk)
    assert (str(prn.dose_value), prn.dose_unit, prn.route) == ("4.000", "mg", "odt")
    setting, _ = record(
        nurse,
        clinic_a,
        checked_in,
        kind="setting",
        key="c",
        data={"setting": {"music": "ambient playlist", "eye_shade": "yes", "lighting": "dim"}},
    )
    assert setting.setting == {"music": "ambient playlist", "eye_shade": True, "lighting": "dim"}


def test_correction_is_a_new_entry_pointing_at_the_old(checked_in, nurse, clinic_a):
    original, _ = record(nurse, clinic_a, checked_in, data=VITALS | {"systolic_mmhg": 216})
    with pytest.raises(ValidationError) as exc:
        actions.correct_observation(
            user=nurse, clinic=clinic_a, original=original, data=VITALS, reason="", idempotency_key="fix1"
        )
    assert "correction_reason" in exc.value.message_dict
    fixed, _ = actions.correct_observation(
        user=nurse,
        clinic=clinic_a,
        original=original,
        data=VITALS,
        reason="typed 216 for 126",
        idempotency_key="fix1",
    )
    original.refresh_from_db()
    assert original.systolic_mmhg == 216  # never edited
    assert (fixed.corrects, fixed.correction_reason, fixed.observed_at) == (
        original,
        "typed 216 for 126",
        original.observed_at,
    )
    assert list(Observation.current().filter(session=checked_in)) == [fixed]
    assert AuditEntry.objects.filter(action="infusions.observation.correct").count() == 1
    with pytest.raises(ValidationError) as exc:
        actions.correct_observation(
            user=nurse,
            clinic=clinic_a,
            original=original,
            data=VITALS,
            reason="again",
            idempotency_key="fix2",
        )
    assert "corrects" in exc.value.message_dict


def test_out_of_range_vitals_raise_one_open_alert_per_problem(checked_in, nurse, clinic_a):
    obs, _ = record(nurse, clinic_a, checked_in, data=VITALS | {"systolic_mmhg": 186, "spo2_pct": 88})
    codes = sorted(Alert.objects.values_list("code", flat=True))
    assert codes == ["bp_severe", "spo2_critical"]
    alert = Alert.objects.get(code="bp_severe")
    assert (alert.observation, alert.severity, alert.is_open) == (obs, "critical", True)
    event = Event.objects.get(type="observation", channel=f"floor:{clinic_a.pk}")
    assert {a["code"] for a in event.payload["alerts"]} == {"bp_severe", "spo2_critical"}
    record(nurse, clinic_a, checked_in, data=VITALS | {"systolic_mmhg": 188}, key="k2")
    assert Alert.objects.filter(code="bp_severe").count() == 1  # still open: not raised again


def test_acknowledge_alert_with_action(checked_in, nurse, clinic_a, auditor):
    record(nurse, clinic_a, checked_in, data=VITALS | {"systolic_mmhg": 186})
    alert = Alert.objects.get()
    with pytest.raises(ValidationError) as exc:
        actions.acknowledge_alert(user=nurse, clinic=clinic_a, alert=alert, action_taken=" ")
    assert "action_taken" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        actions.acknowledge_alert(user=auditor, clinic=clinic_a, alert=alert, action_taken="noted")
    actions.acknowledge_alert(
        user=nurse, clinic=clinic_a, alert=alert, action_taken="repeated BP, informed MD"
    )
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.action_taken) == (nurse, "repeated BP, informed MD")
    assert AuditEntry.objects.filter(action="infusions.alert.acknowledge").exists()
    with pytest.raises(ValidationError, match="already acknowledged"):
        actions.acknowledge_alert(user=nurse, clinic=clinic_a, alert=alert, action_taken="again")
    # Once acknowledged, the same problem opens a new alert.
    record(nurse, clinic_a, checked_in, data=VITALS | {"systolic_mmhg": 190}, key="k2")
    assert Alert.objects.filter(code="bp_severe").count() == 2


def test_overdue_check_in_recovery(checked_in, nurse, clinic_a):
    # Walk to recovery directly in the database: dosing needs the order link (assembly step).
    Session.objects.filter(pk=checked_in.pk).update(state="recovery", state_changed_at=timezone.now())
    checked_in.refresh_from_db()
    assert actions.check_overdue(session=checked_in, now=timezone.now() + timedelta(minutes=19)) == []
    raised = actions.check_overdue(session=checked_in, now=timezone.now() + timedelta(minutes=21))
    assert [a.code for a in raised] == ["overdue_vitals"]
    assert actions.check_overdue(session=checked_in, now=timezone.now() + timedelta(minutes=40)) == []
    assert AuditEntry.objects.filter(action="infusions.alert.overdue").count() == 1
