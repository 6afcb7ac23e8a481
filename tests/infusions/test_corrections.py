"""Corrections: an observation or a dosing event is never edited; a correction is a new record pointing at it.

What is asserted: the old record is kept unchanged and shown struck through with "corrected by #N";
the correction shows "corrects #M: reason"; every reading (gates, alerts, chart, floor board,
discharge, running totals, REMS) uses the current records only; bad input changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.events.models import Event
from ketaclinic.infusions import actions, pages
from ketaclinic.infusions.models import Alert, DosingEvent, Observation, Session
from tests.infusions.conftest import VITALS

HX = {"HTTP_HX_REQUEST": "true"}


def observe(nurse, clinic, session, kind, data, key):
    return actions.record_observation(
        user=nurse, clinic=clinic, session=session, kind=kind, data=data, idempotency_key=key
    )[0]


def fix(nurse, clinic, original, data, key, reason="typing error", **kw):
    return actions.correct_observation(
        user=nurse, clinic=clinic, original=original, data=data, reason=reason, idempotency_key=key, **kw
    )[0]


def dose(nurse, clinic, session, kind, key, **kw):
    return actions.record_dosing_event(
        user=nurse, clinic=clinic, session=session, kind=kind, idempotency_key=key, **kw
    )[0]


def fix_dose(nurse, clinic, original, key, reason="wrong entry", **kw):
    return actions.correct_dosing_event(
        user=nurse, clinic=clinic, original=original, reason=reason, idempotency_key=key, **kw
    )


# --- observations: what reads them ---------------------------------------------------------------


def test_corrected_predose_vitals_stay_the_baseline_and_move_the_gate(iv_session, nurse, clinic_a):
    pre = Observation.objects.get(session=iv_session, idempotency_key="pre-1")
    now = timezone.now()
    assert not [b for b in pages.transition_buttons(iv_session, now) if b["to"] == "dosing"][0]["failures"]
    # Recorded while the session is already past check-in: the correction keeps the original's phase,
    # so it is still the pre-dose baseline (not a new reading of the current phase).
    high = fix(nurse, clinic_a, pre, VITALS | {"systolic_mmhg": 152, "diastolic_mmhg": 96}, "fix-pre")
    assert (high.phase, high.observed_at) == (pre.phase, pre.observed_at)
    assert actions.predose_vitals(iv_session).systolic_mmhg == 152
    failures = [b for b in pages.transition_buttons(iv_session, now) if b["to"] == "dosing"][0]["failures"]
    assert "pre-dose systolic blood pressure 152 mmHg is above the gate of 140 mmHg" in failures
    # Correcting the correction restores it; the chain is kept.
    back = fix(nurse, clinic_a, high, VITALS, "fix-pre-2", reason="re-measured")
    assert actions.predose_vitals(iv_session).systolic_mmhg == VITALS["systolic_mmhg"]
    assert list(Observation.current().filter(session=iv_session)) == [back]
    assert Observation.objects.filter(session=iv_session).count() == 3


def test_alerts_chart_and_floor_read_the_correction(iv_session, nurse, clinic_a):
    dose(nurse, clinic_a, iv_session, "start", "s")
    wrong = observe(
        nurse, clinic_a, iv_session, "vitals", VITALS | {"systolic_mmhg": 196, "diastolic_mmhg": 80}, "v"
    )
    raised = Alert.objects.filter(session=iv_session).count()
    assert Alert.objects.filter(session=iv_session, code="bp_severe").count() == 1
    right = fix(nurse, clinic_a, wrong, VITALS | {"systolic_mmhg": 136}, "v-fix", reason="typed 196 for 136")
    # The corrected value raises nothing; the alert of the wrong one stays for a nurse to acknowledge.
    assert Alert.objects.filter(session=iv_session).count() == raised
    chart = pages.chart_data(iv_session)
    assert chart["vitals"]["systolic"] == [126, 136]  # the pre-dose reading and the correction
    rows = pages.floor_rows(clinic_a)
    assert rows[0]["vitals"].pk == right.pk
    entry = AuditEntry.objects.get(action="infusions.observation.correct")
    assert entry.detail["corrects"] == wrong.pk and entry.detail["reason"] == "typed 196 for 136"
    event = Event.objects.filter(type="observation").last()
    assert event.payload["observation"]["corrects"] == wrong.pk


def test_corrected_recovery_rating_counts_for_discharge(iv_session, nurse, clinic_a):
    dose(nurse, clinic_a, iv_session, "start", "s")
    dose(nurse, clinic_a, iv_session, "stop", "e", reason="patient asked to stop")
    observe(nurse, clinic_a, iv_session, "vitals", VITALS, "rv")
    moaas = observe(nurse, clinic_a, iv_session, "moaas", {"score": 4}, "rm")
    observe(nurse, clinic_a, iv_session, "cadss6", {"items": [0] * 6}, "rc")
    observe(
        nurse,
        clinic_a,
        iv_session,
        "discharge_check",
        {"items": {"gait_steady": True, "escort_present": True, "no_driving_advice_given": True}},
        "rd",
    )
    checklist, _ = actions.discharge_assessment(iv_session)
    assert "Fully alert: MOAA/S 4" in checklist.failures
    fix(nurse, clinic_a, moaas, {"score": 5}, "rm-fix", reason="tapped 4 for 5")
    checklist, _ = actions.discharge_assessment(iv_session)
    assert checklist.passed, checklist.failures


def test_observation_correction_rules(iv_session, nurse, clinic_a, frontdesk, outsider, clinic_b):
    obs = observe(nurse, clinic_a, iv_session, "pain", {"score": 7}, "p")
    with pytest.raises(ValidationError) as exc:
        fix(nurse, clinic_a, obs, {"score": 7}, "same")
    assert "Nothing differs" in exc.value.message_dict["corrects"][0]
    with pytest.raises(ValidationError) as exc:
        fix(nurse, clinic_a, obs, {"score": 11}, "bad")
    assert exc.value.message_dict["score"] == ["pain NRS score: 11 is outside 0-10"]
    with pytest.raises(PermissionDenied):
        fix(frontdesk, clinic_a, obs, {"score": 3}, "fd")
    with pytest.raises(ValidationError):
        fix(outsider, clinic_b, obs, {"score": 3}, "out")
    first = fix(nurse, clinic_a, obs, {"score": 3}, "k1")
    # A retry stores nothing more; the same key for other content is refused; a second correction too.
    assert fix(nurse, clinic_a, obs, {"score": 3}, "k1").pk == first.pk
    with pytest.raises(ValidationError) as exc:
        fix(nurse, clinic_a, obs, {"score": 2}, "k2")
    assert "already corrected" in exc.value.message_dict["corrects"][0]
    assert Observation.objects.filter(kind="pain").count() == 2


def test_an_old_observation_keeps_its_time_when_corrected(iv_session, nurse, clinic_a):
    obs = observe(nurse, clinic_a, iv_session, "note", {"text": "patient clam"}, "n")
    with time_machine.travel(timezone.now() + timedelta(hours=30)):
        fixed = fix(nurse, clinic_a, obs, {"text": "patient calm"}, "n-fix")
        assert fixed.observed_at == obs.observed_at
        with pytest.raises(ValidationError) as exc:
            fix(
                nurse,
                clinic_a,
                fixed,
                {"text": "patient calm"},
                "n-fix-2",
                observed_at=obs.observed_at - timedelta(minutes=5),
            )
        assert "More than 24 hours ago" in exc.value.message_dict["observed_at"][0]


# --- observations: the chair view --------------------------------------------------------------


def test_correct_an_observation_on_the_chair_view(login, nurse, auditor, outsider, clinic_a, iv_session):
    wrong = observe(nurse, clinic_a, iv_session, "vitals", VITALS | {"systolic_mmhg": 216}, "v")
    client = login(nurse)
    url = reverse("infusions-correct", args=[wrong.pk])
    chair = client.get(reverse("infusions-chair", args=[iv_session.pk])).content.decode()
    assert f'hx-get="{url}"' in chair
    form = client.get(url, **HX)
    body = form.content.decode()
    assert form.status_code == 200 and 'name="systolic_mmhg"' in body and 'value="216"' in body
    assert 'id="fix-sys"' in body and "Reason for the correction" in body
    assert AuditEntry.objects.filter(action="infusions.session.correct").exists()
    values = pages.form_values(wrong) | {"systolic_mmhg": "126", "idempotency_key": "c1"}
    # No reason: refused next to the field, nothing stored, what was typed is kept.
    refused = client.post(url, values, **HX)
    body = refused.content.decode()
    assert refused.status_code == 200 and 'id="fix-reason-err"' in body and 'value="126"' in body
    assert Observation.objects.filter(session=iv_session).count() == 2
    saved = client.post(url, values | {"correction_reason": "typed 216 for 126"}, **HX)
    assert saved.status_code == 200 and saved.content == b"" and saved["HX-Trigger"] == "live:refresh"
    fixed = Observation.objects.get(corrects=wrong)
    assert (fixed.systolic_mmhg, fixed.correction_reason, fixed.recorded_by) == (
        126,
        "typed 216 for 126",
        nurse,
    )
    wrong.refresh_from_db()
    assert wrong.systolic_mmhg == 216
    panels = client.get(reverse("infusions-chair", args=[iv_session.pk]), **HX).content.decode()
    assert f"<s>{wrong.summary}</s>" in panels and f"corrected by #{fixed.pk}" in panels
    assert f"corrects #{wrong.pk}: typed 216 for 126" in panels
    assert f'hx-get="{url}"' not in panels  # only the current one can be corrected
    again = client.get(url, **HX).content.decode()
    assert f"already corrected by #{fixed.pk}" in again
    # Without htmx: a page, and a redirect back to the chair view.
    page = client.get(reverse("infusions-correct", args=[fixed.pk]))
    assert page.status_code == 200 and "<html" in page.content.decode()
    back = client.post(
        reverse("infusions-correct", args=[fixed.pk]),
        pages.form_values(fixed)
        | {"systolic_mmhg": "128", "idempotency_key": "c2", "correction_reason": "x"},
    )
    assert back.status_code == 302 and back["Location"] == reverse("infusions-chair", args=[iv_session.pk])
    bad = client.post(
        reverse("infusions-correct", args=[fixed.pk]),
        pages.form_values(fixed) | {"idempotency_key": "c3", "correction_reason": "x"},
    )
    assert bad.status_code == 400  # fixed is corrected already
    # The printable record shows both, linked.
    record = client.get(reverse("infusions-record", args=[iv_session.pk])).content.decode()
    assert f"corrects #{wrong.pk}: typed 216 for 126" in record and f"corrected by #{fixed.pk}" in record
    assert 'class="superseded"' in record
    # An auditor reads but does not correct; another clinic does not see it.
    assert (
        f'hx-get="{url}"'
        not in login(auditor).get(reverse("infusions-chair", args=[iv_session.pk])).content.decode()
    )
    assert login(auditor).post(url, values).status_code == 403
    assert login(outsider).get(url).status_code == 404


@pytest.mark.parametrize(
    ("kind", "data", "change", "expected"),
    [
        ("cadss", {"items": [0] * 23}, {"cadss_22": "3"}, ("score", 3)),
        (
            "bprs",
            {
                "items": dict.fromkeys(
                    (
                        "conceptual_disorganization",
                        "suspiciousness",
                        "hallucinations",
                        "unusual_thought_content",
                    ),
                    1,
                )
            },
            {"bprs_hallucinations": "4"},
            ("score", 7),
        ),
        (
            "adverse_event",
            {"ae_term": "nausea", "ctcae_grade": 1, "action_taken": "observed"},
            {"ctcae_grade": "2"},
            ("ctcae_grade", 2),
        ),
        (
            "prn",
            {"drug": "ondansetron", "dose_value": "8", "dose_unit": "mg", "route": "po"},
            {"dose_value": "4"},
            ("dose_value", D("4")),
        ),
        (
            "setting",
            {"setting": {"music": "A", "eye_shade": True}},
            {"eye_shade": "no"},
            ("setting", {"music": "A", "eye_shade": False}),
        ),
        ("moaas", {"score": 3}, {"score": "4"}, ("score", 4)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_kind_is_corrected_through_its_form(
    login, nurse, clinic_a, iv_session, kind, data, change, expected
):
    obs = observe(nurse, clinic_a, iv_session, kind, data, f"o-{kind}")
    client = login(nurse)
    url = reverse("infusions-correct", args=[obs.pk])
    form = client.get(url, **HX).content.decode()
    for name in change:
        assert f'name="{name}"' in form
    values = pages.form_values(obs) | change | {"idempotency_key": "k", "correction_reason": "wrong"}
    saved = client.post(url, values, **HX)
    assert saved.content == b"", saved.content.decode()[:2000]
    field, value = expected
    assert getattr(Observation.objects.get(corrects=obs), field) == value


# --- dosing events -----------------------------------------------------------------------------


def test_rate_correction_replaces_the_event_in_the_totals(iv_session, nurse, clinic_a, iv_order):
    t0 = iv_session.state_changed_at + timedelta(seconds=5)
    with time_machine.travel(t0, tick=False) as clock:
        start = dose(nurse, clinic_a, iv_session, "start", "s", rate_ml_per_h="5.3")
        clock.shift(timedelta(minutes=20))
        before = actions.progress_for(iv_session)
        assert before.given_ml == D("1.77")  # 20 min at 5.3 mL/h
        fixed, created = fix_dose(
            nurse, clinic_a, start, "s-fix", reason="pump set to 2.6", rate_ml_per_h="2.6"
        )
        assert created and fixed.corrects == start and fixed.at == start.at and fixed.kind == "start"
        after = actions.progress_for(iv_session)
        assert after.given_ml == D("0.87") and after.rate_ml_per_h == D("2.6")  # 20 min at 2.6 mL/h
        # A retry stores nothing more.
        again, created = fix_dose(
            nurse, clinic_a, start, "s-fix", reason="pump set to 2.6", rate_ml_per_h="2.6"
        )
        assert not created and again.pk == fixed.pk
    start.refresh_from_db()
    assert start.rate_ml_per_h == D("5.3")  # never edited
    assert list(DosingEvent.current().filter(session=iv_session)) == [fixed]
    entry = AuditEntry.objects.get(action="infusions.dose.correct")
    assert (
        entry.detail["before"]["rate_ml_per_h"] == "5.3" and entry.detail["event"]["rate_ml_per_h"] == "2.6"
    )
    assert entry.detail["reason"] == "pump set to 2.6" and entry.user_id == nurse.pk
    event = Event.objects.filter(type="dose", channel=f"session:{iv_session.pk}").last()
    assert event.payload["corrects"] == start.pk and event.payload["progress"]["rate_ml_per_h"] == "2.6"
    assert Event.objects.filter(type="dose", channel=f"floor:{clinic_a.pk}").count() == 2


def test_start_time_correction_moves_the_totals_and_the_observation_clock(iv_session, nurse, clinic_a):
    ready = iv_session.state_changed_at
    with time_machine.travel(ready + timedelta(minutes=10), tick=False) as clock:
        start = dose(nurse, clinic_a, iv_session, "start", "s")  # pressed 5 min late
        clock.shift(timedelta(minutes=10))
        assert actions.progress_for(iv_session).given_ml == D("0.88")  # 10 min at 5.3 mL/h
        with pytest.raises(ValidationError) as exc:
            fix_dose(nurse, clinic_a, start, "early", at=ready - timedelta(minutes=1))
        assert "before the pre-dose assessment was done" in exc.value.message_dict["at"][0]
        fixed, _ = fix_dose(
            nurse, clinic_a, start, "s-fix", reason="pressed late", at=ready + timedelta(minutes=5)
        )
        assert actions.progress_for(iv_session).given_ml == D("1.33")  # 15 min
        assert actions.dosing_started_at(iv_session) == fixed.at
        proto = actions.session_protocol(iv_session)
        assert actions.observation_from(iv_session, proto) is None  # IV: it counts from the stop
        stop = dose(nurse, clinic_a, iv_session, "stop", "e", reason="stopped early")
        fixed_stop, _ = fix_dose(
            nurse, clinic_a, stop, "e-fix", reason="pressed late", at=stop.at - timedelta(minutes=1)
        )
        assert actions.observation_from(iv_session, proto) == fixed_stop.at


def test_device_lot_correction_reaches_the_rems_form(nasal_session, nurse, clinic_a):
    with time_machine.travel(nasal_session.state_changed_at + timedelta(seconds=5), tick=False) as clock:
        dose(nurse, clinic_a, nasal_session, "start", "n0")
        first = dose(nurse, clinic_a, nasal_session, "device", "n1", lot_number="LOT1")
        with pytest.raises(ValidationError) as exc:
            fix_dose(nurse, clinic_a, first, "n1-mg", mg="30")
        assert exc.value.message_dict["mg"] == ["A nasal device has no amount to correct."]
        fixed, _ = fix_dose(nurse, clinic_a, first, "n1-fix", reason="misread the lot", lot_number="LOT7")
        assert (fixed.device_number, fixed.mg, fixed.lot_number) == (1, first.mg, "LOT7")
        clock.shift(timedelta(minutes=5))
        second = dose(nurse, clinic_a, nasal_session, "device", "n2", lot_number="LOT7")
        assert second.device_number == 2  # the corrected device is not counted twice
        form = pages.rems_form(nasal_session)
        assert form.fields["lot_numbers"] == "LOT7 LOT7" and form.fields["dose_mg"] == "56"
        progress = actions.progress_for(nasal_session)
        assert (progress.devices_given, progress.given_mg) == (2, D("56.0"))


def test_a_correction_that_breaks_the_sequence_is_refused(nasal_session, nurse, clinic_a):
    with time_machine.travel(nasal_session.state_changed_at + timedelta(seconds=5), tick=False) as clock:
        dose(nurse, clinic_a, nasal_session, "start", "n0")
        first = dose(nurse, clinic_a, nasal_session, "device", "n1")
        clock.shift(timedelta(minutes=6))
        second = dose(nurse, clinic_a, nasal_session, "device", "n2")
        with pytest.raises(ValidationError) as exc:
            fix_dose(nurse, clinic_a, second, "x", at=first.at + timedelta(minutes=3))
        assert exc.value.message_dict["at"][0].startswith("Wait 5 min between devices")
        with pytest.raises(ValidationError) as exc:
            fix_dose(nurse, clinic_a, first, "y", at=first.at + timedelta(minutes=2))
        message = exc.value.message_dict["at"][0]
        local = second.at.astimezone(clinic_a.tz)
        assert message.startswith(
            f"With this correction, the nasal device at {local:%H:%M} would no longer fit"
        )
    assert not DosingEvent.objects.filter(corrects__isnull=False).exists()


def test_dosing_correction_rules(bolus_session, nurse, clinic_a, frontdesk, outsider, clinic_b):
    with time_machine.travel(bolus_session.state_changed_at + timedelta(seconds=5), tick=False) as clock:
        start = dose(nurse, clinic_a, bolus_session, "start", "s")
        clock.shift(timedelta(minutes=5))
        bolus = dose(nurse, clinic_a, bolus_session, "bolus", "b", mg="5")
        clock.shift(timedelta(minutes=5))
        stop = dose(nurse, clinic_a, bolus_session, "stop", "e", reason="patient asked to stop")
        cases = [
            (start, {"reason": "", "rate_ml_per_h": "3"}, "correction_reason", "Say why"),
            (stop, {"rate_ml_per_h": "3"}, "rate_ml_per_h", "A stop has no pump rate"),
            (start, {"mg": "5"}, "mg", "Only an IM start gives an amount"),
            (stop, {"lot_number": "L1"}, "lot_number", "Only a nasal device carries a lot"),
            (stop, {"mg": "5"}, "mg", "A stop has no amount to correct"),
            (start, {"rate_ml_per_h": "-2"}, "rate_ml_per_h", "Enter a number above 0"),
            (start, {"at": "yesterday"}, "at", "is not a date and time"),
            (start, {"at": timezone.now() + timedelta(hours=1)}, "at", "in the future"),
            (start, {"rate_ml_per_h": str(start.rate_ml_per_h)}, "corrects", "Nothing differs"),
            (bolus, {"mg": "100"}, "mg", "above the 94.5"),
            (start, {"rate_ml_per_h": "2.65"}, "rate_ml_per_h", "at most one decimal place"),
            (stop, {"at": bolus.at - timedelta(minutes=1)}, "kind", "the bolus at"),
        ]
        for original, kw, field, message in cases:
            with pytest.raises(ValidationError) as exc:
                fix_dose(nurse, clinic_a, original, f"bad-{field}", **({"reason": "r"} | kw))
            assert message in exc.value.message_dict[field][0], (kw, exc.value.message_dict)
        with pytest.raises(PermissionDenied):
            fix_dose(frontdesk, clinic_a, start, "fd", rate_ml_per_h="3")
        with pytest.raises(ValidationError) as exc:
            fix_dose(outsider, clinic_b, start, "out", rate_ml_per_h="3")
        assert "dosing_event" in exc.value.message_dict
        assert not DosingEvent.objects.filter(corrects__isnull=False).exists()
        # A bolus corrected to a smaller amount: mL follow from the order's concentration.
        smaller, _ = fix_dose(nurse, clinic_a, bolus, "b-fix", mg="2.5")
        assert (smaller.mg, smaller.ml) == (D("2.5"), D("0.25"))
        with pytest.raises(ValidationError) as exc:
            fix_dose(nurse, clinic_a, bolus, "b-fix-2", mg="3")
        assert "already corrected" in exc.value.message_dict["corrects"][0]
        with pytest.raises(ValidationError) as exc:
            fix_dose(nurse, clinic_a, start, "b-fix", rate_ml_per_h="3")  # the key of another correction
        assert "idempotency_key" in exc.value.message_dict
        again, _ = fix_dose(nurse, clinic_a, smaller, "b-fix-3", mg="3")  # correcting the correction
        assert again.corrects == smaller
    session = Session.objects.get(pk=bolus_session.pk)
    assert session.state == "recovery"  # a correction never moves the state


def test_correct_a_dosing_event_on_the_chair_view(login, nurse, auditor, clinic_a, iv_session):
    start = dose(nurse, clinic_a, iv_session, "start", "s", rate_ml_per_h="5.3")
    client = login(nurse)
    url = reverse("infusions-correct-dose", args=[start.pk])
    chair = client.get(reverse("infusions-chair", args=[iv_session.pk])).content.decode()
    assert f'hx-get="{url}"' in chair
    form = client.get(url, **HX).content.decode()
    assert 'name="rate_ml_per_h"' in form and 'value="5.3"' in form and 'name="lot_number"' not in form
    at = form.split('name="at" type="datetime-local" step="1" required value="')[1].split('"')[0]
    values = {"at": at, "rate_ml_per_h": "2.6", "idempotency_key": "k"}
    refused = client.post(url, values, **HX).content.decode()
    assert 'id="fix-reason-err"' in refused and not DosingEvent.objects.filter(corrects=start).exists()
    saved = client.post(url, values | {"correction_reason": "wrong rate entered"}, **HX)
    assert saved.content == b"" and saved["HX-Trigger"] == "live:refresh"
    fixed = DosingEvent.objects.get(corrects=start)
    assert fixed.at == start.at  # the time shown to the second, posted back unchanged, keeps the time
    panels = client.get(reverse("infusions-chair", args=[iv_session.pk]), **HX).content.decode()
    assert f"corrected by #{fixed.pk}" in panels and f"corrects #{start.pk}: wrong rate entered" in panels
    assert "<s>" in panels.split(f'id="dose-{start.pk}"')[1].split("</li>")[0]
    record = client.get(reverse("infusions-record", args=[iv_session.pk])).content.decode()
    assert f"corrects #{start.pk}: wrong rate entered" in record and f"corrected by #{fixed.pk}" in record
    assert login(auditor).get(url).status_code == 403
