"""Withdrawing an observation entered in error (issue #5).

What is asserted: a withdrawal is a new row pointing at the entry, with the reason and its author and
no values; the entry is kept unchanged; neither counts anywhere (gates, alerts, chart, floor board,
discharge); the open alerts the entry raised stay open and say the reading was withdrawn; a withdrawn
entry cannot be corrected or withdrawn again, a corrected one only through its correction; bad input
changes nothing; audited and published; the chair view, the printed record and the API show it.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.events.models import Event
from ketaclinic.infusions import actions, pages
from ketaclinic.infusions.models import Alert, Observation, Session
from tests.api.conftest import ApiClient, error_fields, token_for
from tests.infusions.conftest import VITALS

HX = {"HTTP_HX_REQUEST": "true"}


def observe(nurse, clinic, session, kind, data, key):
    return actions.record_observation(
        user=nurse, clinic=clinic, session=session, kind=kind, data=data, idempotency_key=key
    )[0]


def withdraw(user, clinic, original, key, reason="entered for the wrong patient"):
    return actions.withdraw_observation(
        user=user, clinic=clinic, original=original, reason=reason, idempotency_key=key
    )


def dose(nurse, clinic, session, kind, key, **kw):
    return actions.record_dosing_event(
        user=nurse, clinic=clinic, session=session, kind=kind, idempotency_key=key, **kw
    )


def counts():
    return (Observation.objects.count(), AuditEntry.objects.count(), Event.objects.count())


# --- actions ------------------------------------------------------------------------------------


def test_withdrawn_predose_vitals_no_longer_pass_the_gate(iv_session, nurse, clinic_a):
    pre = Observation.objects.get(session=iv_session, idempotency_key="pre-1")
    now = timezone.now()
    assert not [b for b in pages.transition_buttons(iv_session, now) if b["to"] == "dosing"][0]["failures"]
    withdrawal, created = withdraw(nurse, clinic_a, pre, "w1")
    assert created
    assert (withdrawal.withdrawn, withdrawal.corrects, withdrawal.recorded_by) == (True, pre, nurse)
    assert (withdrawal.kind, withdrawal.observed_at, withdrawal.phase) == (
        pre.kind,
        pre.observed_at,
        pre.phase,
    )
    assert withdrawal.systolic_mmhg is None and withdrawal.to_dict()["values"] == {}
    assert withdrawal.correction_reason == "entered for the wrong patient"
    # The entry is kept as it was; neither it nor the withdrawal is a current observation.
    pre.refresh_from_db()
    assert pre.systolic_mmhg == VITALS["systolic_mmhg"]
    assert list(Observation.current().filter(session=iv_session)) == []
    assert actions.predose_vitals(iv_session) is None
    failures = [b for b in pages.transition_buttons(iv_session, now) if b["to"] == "dosing"][0]["failures"]
    assert "no pre-dose vital signs recorded" in failures
    with pytest.raises(ValidationError):
        actions.transition(user=nurse, clinic=clinic_a, session=iv_session, to="dosing")
    entry = AuditEntry.objects.get(action="infusions.observation.withdraw")
    assert entry.user == nurse and entry.object_id == str(withdrawal.pk)
    assert entry.detail["withdraws"] == pre.pk and entry.detail["reason"] == "entered for the wrong patient"
    assert entry.detail["values"]["systolic_mmhg"] == VITALS["systolic_mmhg"]
    events = Event.objects.filter(type="observation").order_by("-id")[:2]
    assert {e.channel for e in events} == {f"session:{iv_session.pk}", f"floor:{clinic_a.pk}"}
    assert all(e.payload["withdraws"] == pre.pk and e.payload["observation"]["withdrawn"] for e in events)


def test_alert_stays_open_and_says_the_reading_was_withdrawn(iv_session, nurse, clinic_a, login):
    dose(nurse, clinic_a, iv_session, "start", "s")
    wrong = observe(
        nurse, clinic_a, iv_session, "vitals", VITALS | {"systolic_mmhg": 196, "diastolic_mmhg": 80}, "v"
    )
    alert = Alert.objects.get(session=iv_session, code="bp_severe")
    raised = sorted(Alert.objects.filter(observation=wrong).values_list("pk", flat=True))
    withdraw(nurse, clinic_a, wrong, "w", reason="other patient's reading")
    alert.refresh_from_db()
    assert alert.is_open  # a nurse still acknowledges it (the reading may be another patient's)
    entry = AuditEntry.objects.get(action="infusions.observation.withdraw")
    assert entry.detail["open_alerts"] == raised and alert.pk in raised
    assert Alert.noting_withdrawn(Alert.objects.filter(pk=alert.pk)).get().reading_withdrawn
    # The chart, the floor board's last vitals and the baseline of later readings ignore it.
    assert pages.chart_data(iv_session)["vitals"]["systolic"] == [VITALS["systolic_mmhg"]]
    assert pages.floor_rows(clinic_a)[0]["vitals"].idempotency_key == "pre-1"
    assert pages.floor_rows(clinic_a)[0]["alerts"][0].reading_withdrawn
    client = login(nurse)
    panels = client.get(reverse("infusions-chair", args=[iv_session.pk]), **HX).content.decode()
    assert "reading withdrawn as entered in error" in panels
    assert "reading withdrawn as entered in error" in client.get(reverse("infusions-floor")).content.decode()
    record = client.get(reverse("infusions-record", args=[iv_session.pk])).content.decode()
    assert "(reading withdrawn as entered in error)" in record
    # The next reading raises alerts as usual: the withdrawn one is not its history.
    observe(nurse, clinic_a, iv_session, "vitals", VITALS | {"systolic_mmhg": 130}, "v2")
    assert Alert.objects.filter(session=iv_session).count() == len(raised)


def test_withdrawn_discharge_check_no_longer_counts(iv_session, nurse, clinic_a):
    dose(nurse, clinic_a, iv_session, "start", "s")
    dose(nurse, clinic_a, iv_session, "stop", "e", reason="patient asked to stop")
    observe(nurse, clinic_a, iv_session, "vitals", VITALS, "rv")
    observe(nurse, clinic_a, iv_session, "moaas", {"score": 5}, "rm")
    observe(nurse, clinic_a, iv_session, "cadss6", {"items": [0] * 6}, "rc")
    items = {"gait_steady": True, "escort_present": True, "no_driving_advice_given": True}
    check = observe(nurse, clinic_a, iv_session, "discharge_check", {"items": items}, "rd")
    assert actions.discharge_assessment(iv_session)[0].passed
    withdraw(nurse, clinic_a, check, "w", reason="recorded for chair 2")
    assert actions.discharge_assessment(iv_session)[0] is None


def test_withdrawal_rules(iv_session, nurse, clinic_a, frontdesk, outsider, clinic_b):
    obs = observe(nurse, clinic_a, iv_session, "pain", {"score": 7}, "p")
    before = counts()
    for reason, message in ((" ", "Say why"), ("x" * 201, "At most 200")):
        with pytest.raises(ValidationError) as exc:
            withdraw(nurse, clinic_a, obs, "k", reason=reason)
        assert message in exc.value.message_dict["withdrawal_reason"][0]
    with pytest.raises(ValidationError) as exc:
        withdraw(nurse, clinic_a, obs, " ")
    assert "idempotency_key" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        withdraw(frontdesk, clinic_a, obs, "fd")
    with pytest.raises(ValidationError) as exc:
        withdraw(outsider, clinic_b, obs, "out")
    assert exc.value.message_dict["observation"] == ["No such record in this clinic."]
    assert counts() == before  # refused: nothing stored, audited or published

    first, created = withdraw(nurse, clinic_a, obs, "k1")
    # A retry stores nothing more; the same key with another reason is refused.
    assert withdraw(nurse, clinic_a, obs, "k1") == (first, False)
    with pytest.raises(ValidationError) as exc:
        withdraw(nurse, clinic_a, obs, "k1", reason="another reason")
    assert "idempotency_key" in exc.value.message_dict
    # Withdrawn once: not again, not corrected; the withdrawal itself neither.
    with pytest.raises(ValidationError) as exc:
        withdraw(nurse, clinic_a, obs, "k2")
    assert f"withdrawn as entered in error (#{first.pk}" in exc.value.message_dict["corrects"][0]
    with pytest.raises(ValidationError) as exc:
        actions.correct_observation(
            user=nurse, clinic=clinic_a, original=obs, data={"score": 3}, reason="r", idempotency_key="c"
        )
    assert "record a new one instead" in exc.value.message_dict["corrects"][0]
    for attempt in (
        lambda: withdraw(nurse, clinic_a, first, "k3"),
        lambda: actions.correct_observation(
            user=nurse, clinic=clinic_a, original=first, data={"score": 3}, reason="r", idempotency_key="c"
        ),
    ):
        with pytest.raises(ValidationError) as exc:
            attempt()
        assert exc.value.message_dict["corrects"] == [actions.IS_WITHDRAWAL]
    assert Observation.objects.filter(kind="pain").count() == 2


def test_a_corrected_entry_is_withdrawn_through_its_correction(iv_session, nurse, clinic_a):
    obs = observe(nurse, clinic_a, iv_session, "nausea", {"score": 2}, "n")
    fixed, _ = actions.correct_observation(
        user=nurse, clinic=clinic_a, original=obs, data={"score": 1}, reason="typo", idempotency_key="n-fix"
    )
    with pytest.raises(ValidationError) as exc:
        withdraw(nurse, clinic_a, obs, "w")
    assert exc.value.message_dict["corrects"] == [
        f"This observation was corrected by #{fixed.pk}; withdraw the correction instead."
    ]
    withdrawal, _ = withdraw(nurse, clinic_a, fixed, "w")
    assert withdrawal.corrects == fixed
    assert not Observation.current().filter(session=iv_session, kind="nausea").exists()
    assert Observation.objects.filter(session=iv_session, kind="nausea").count() == 3


def test_a_discharged_session_entry_can_still_be_withdrawn(iv_session, nurse, clinic_a):
    note = observe(nurse, clinic_a, iv_session, "note", {"text": "meant for chair 2"}, "n")
    actions.transition(user=nurse, clinic=clinic_a, session=iv_session, to="aborted", reason="patient left")
    withdrawal, created = withdraw(nurse, clinic_a, note, "w")
    assert created and withdrawal.phase == note.phase


# --- the chair view -----------------------------------------------------------------------------


def test_withdraw_an_observation_on_the_chair_view(login, nurse, auditor, outsider, clinic_a, iv_session):
    wrong = observe(nurse, clinic_a, iv_session, "pain", {"score": 8}, "p")
    client = login(nurse)
    correct_url = reverse("infusions-correct", args=[wrong.pk])
    url = reverse("infusions-withdraw", args=[wrong.pk])
    dialog = client.get(correct_url, **HX).content.decode()
    assert f'hx-post="{url}"' in dialog and "Withdraw (entered in error)" in dialog
    assert 'name="withdrawal_reason"' in dialog and 'for="fix-withdraw-reason"' in dialog
    before = counts()
    # No reason: refused next to the field, in the dialog; nothing stored.
    refused = client.post(url, {"idempotency_key": "w1", "withdrawal_reason": " "}, **HX)
    body = refused.content.decode()
    assert refused.status_code == 200 and 'id="fix-withdraw-reason-err"' in body
    assert 'aria-invalid="true" aria-describedby="fix-withdraw-reason-err"' in body
    assert counts() == before
    # Without htmx the same refusal is a 400 page.
    assert client.post(url, {"idempotency_key": "w1"}).status_code == 400
    saved = client.post(url, {"idempotency_key": "w1", "withdrawal_reason": "recorded twice"}, **HX)
    assert saved.status_code == 200 and saved.content == b"" and saved["HX-Trigger"] == "live:refresh"
    withdrawal = Observation.objects.get(corrects=wrong)
    assert (withdrawal.withdrawn, withdrawal.correction_reason, withdrawal.recorded_by) == (
        True,
        "recorded twice",
        nurse,
    )
    panels = client.get(reverse("infusions-chair", args=[iv_session.pk]), **HX).content.decode()
    assert f"<s>{wrong.summary}</s>" in panels and f"withdrawn: recorded twice (#{withdrawal.pk})" in panels
    assert f'id="obs-{withdrawal.pk}"' not in panels  # shown on the row it withdraws
    assert f'hx-get="{correct_url}"' not in panels
    again = client.get(correct_url, **HX).content.decode()
    assert f"withdrawn as entered in error by #{withdrawal.pk}" in again and f'hx-post="{url}"' not in again
    twice = client.post(url, {"idempotency_key": "w2", "withdrawal_reason": "again"}, **HX).content.decode()
    assert f"withdrawn as entered in error by #{withdrawal.pk}" in twice
    assert Observation.objects.filter(corrects=wrong).count() == 1
    # Without htmx: a redirect back to the chair view.
    other = observe(nurse, clinic_a, iv_session, "note", {"text": "wrong chair"}, "n")
    back = client.post(
        reverse("infusions-withdraw", args=[other.pk]), {"idempotency_key": "w3", "withdrawal_reason": "x"}
    )
    assert back.status_code == 302 and back["Location"] == reverse("infusions-chair", args=[iv_session.pk])
    # The printable record shows both, linked, with the author.
    record = client.get(reverse("infusions-record", args=[iv_session.pk])).content.decode()
    assert f"withdraws #{wrong.pk} (entered in error): recorded twice" in record
    assert f"withdrawn by #{withdrawal.pk}: recorded twice" in record
    # An auditor reads but does not withdraw; another clinic does not see it.
    assert login(auditor).post(url, {"idempotency_key": "a", "withdrawal_reason": "x"}).status_code == 403
    assert login(outsider).post(url, {"idempotency_key": "o", "withdrawal_reason": "x"}).status_code == 404
    assert Observation.objects.filter(session=iv_session).count() == 5  # pre-1, 2 entries, 2 withdrawals


# --- the API ------------------------------------------------------------------------------------


def test_withdrawal_over_the_api(iv_session, nurse, frontdesk, clinic_a):
    api = ApiClient(token_for(nurse))
    base = f"/api/infusions/{iv_session.pk}"
    dose(nurse, clinic_a, iv_session, "start", "s")
    first = api.post(
        base + "/observations", {"kind": "vitals", "idempotency_key": "v1", **VITALS, "heart_rate_bpm": 130}
    )
    original_id = first.json()["observation"]["id"]
    path = f"{base}/observations/{original_id}/withdrawal"
    missing = api.post(path, {"idempotency_key": "w1", "reason": " "})
    assert missing.status_code == 422 and "why" in error_fields(missing)["reason"].lower()
    extra = api.post(path, {"idempotency_key": "w1", "reason": "x", "score": 3})
    assert extra.status_code == 422
    assert (
        ApiClient(token_for(frontdesk)).post(path, {"idempotency_key": "f", "reason": "x"}).status_code == 403
    )
    body = {"idempotency_key": "w1", "reason": "other patient's monitor"}
    answer = api.post(path, body)
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["observation"]["withdrawn"] and data["observation"]["corrects"] == original_id
    assert data["withdraws"]["values"]["heart_rate_bpm"] == 130
    assert [a["code"] for a in data["alerts_still_open"]] == ["hr_high"]
    assert data["alerts_still_open"][0]["reading_withdrawn"] is True
    assert api.post(path, body).status_code == 200  # a retry
    again = api.post(path, {"idempotency_key": "w2", "reason": "again"})
    assert again.status_code == 422 and "withdrawn" in error_fields(again)["corrects"]
    detail = api.get(base).json()
    assert detail["open_alerts"][0]["reading_withdrawn"] is True
    assert detail["last_vitals"]["id"] != original_id
    other = Session.objects.create(
        clinic=clinic_a,
        patient=iv_session.patient,
        chair="Chair 9",
        scheduled_at=timezone.now(),
        created_by=nurse,
    )
    wrong_session = api.post(f"/api/infusions/{other.pk}/observations/{original_id}/withdrawal", body)
    assert wrong_session.status_code == 404
