"""Intake: the form, versioning, formulary matching on save, validation, roles, clinic scoping, audit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients import history, intake_actions
from ketaclinic.patients.models import Intake, IntakeMedication

ALL_NO_DAST = {f"dast_{i}": "no" for i in range(1, 11)} | {"dast_3": "yes"}  # score 0


def intake_post(**extra):
    """A valid intake form post: psychosis present, Xanax and an unknown drug, BP 128/82, DAST 0."""
    data = {
        "h_psychosis": "on",
        "hn_psychosis": "single episode 2015",
        "med_name": ["Xanax", "Zyxoprilan", ""],
        "med_dose": ["0.5 mg three times daily", "1 tab daily", ""],
        "med_daily_mg": ["", "", ""],
        "baseline_systolic_mmhg": "128",
        "baseline_diastolic_mmhg": "82",
        "baseline_heart_rate_bpm": "72",
        "substance_use_notes": "alcohol socially",
        **ALL_NO_DAST,
    }
    data.update(extra)
    return data


def plain_data(**extra):
    data = {
        "history": {"psychosis": {"present": True, "note": ""}},
        "medications": [{"name": "sertraline", "dose_text": "100 mg daily", "daily_dose_mg": None}],
        "baseline_systolic_mmhg": 120,
        "baseline_diastolic_mmhg": 80,
    }
    data.update(extra)
    return data


def url(name, patient, **kw):
    return reverse(name, kwargs={"patient_id": patient.pk, **kw})


def test_nurse_sees_every_history_item_dast_and_vitals(login, nurse, patient):
    response = login(nurse).get(url("patients-intake", patient))
    assert response.status_code == 200
    body = response.content.decode()
    for item in history.ASKED_ITEMS:
        assert f'name="h_{item.code}"' in body
        assert f'name="hn_{item.code}"' in body
    assert 'name="hg_hepatic_impairment"' in body
    assert body.count('name="med_name"') == 3
    assert "always able to stop" in body
    assert 'name="baseline_systolic_mmhg"' in body
    # Nothing recorded yet: nothing read, nothing audited.
    assert not AuditEntry.objects.filter(action="patient.intake_view").exists()


def test_saving_creates_version_one_matches_the_formulary_and_is_audited(login, nurse, clinic_a, patient):
    response = login(nurse).post(url("patients-intake", patient), intake_post())
    assert response.status_code == 302
    assert response["Location"] == url("patients-intake-detail", patient, version=1)

    intake = Intake.objects.get(patient=patient)
    assert intake.version == 1 and intake.taken_by == nurse
    assert intake.history["psychosis"] == {"present": True, "note": "single episode 2015"}
    assert intake.history["aneurysmal_vascular_disease"]["present"] is False
    assert set(intake.history) == {i.code for i in history.ASKED_ITEMS}
    assert intake.dast10_score == 0
    assert (intake.baseline_systolic_mmhg, intake.baseline_diastolic_mmhg) == (128, 82)

    xanax, unknown = IntakeMedication.objects.filter(intake=intake).order_by("id")
    assert xanax.generic_name == "alprazolam" and xanax.recognised
    assert "benzodiazepine" in xanax.interaction_classes
    assert xanax.daily_dose_mg == Decimal("1.5")  # parsed from "0.5 mg three times daily"
    assert xanax.diazepam_equivalent_mg == Decimal("30.00")  # Ashton: 0.5 mg alprazolam = 10 mg diazepam
    assert unknown.name == "Zyxoprilan" and not unknown.recognised and unknown.interaction_classes == []

    entry = AuditEntry.objects.get(action="intake.create")
    assert entry.user == nurse and entry.clinic == clinic_a and entry.patient_id == patient.pk
    assert entry.detail["version"] == 1
    assert entry.detail["unrecognised"] == ["Zyxoprilan"]
    assert "benzodiazepine_high_dose" in entry.detail["findings"]


def test_detail_shows_the_version_its_flags_and_findings_and_audits_the_read(login, nurse, clinic_a, patient):
    client = login(nurse)
    client.post(url("patients-intake", patient), intake_post())
    response = client.get(url("patients-intake-detail", patient, version=1))
    assert response.status_code == 200
    body = response.content.decode()
    assert "History of psychosis" in body
    assert "not recognised: review" in body
    assert "Benzodiazepines 30 mg diazepam-equivalent a day" in body
    assert "clinical.md §6 Czech study [S79]" in body
    entry = AuditEntry.objects.filter(action="patient.intake_view").latest("seq")
    assert entry.patient_id == patient.pk and entry.detail == {"version": 1}


def test_a_new_version_needs_a_reason_and_leaves_the_old_one_intact(login, nurse, patient):
    client = login(nurse)
    client.post(url("patients-intake", patient), intake_post())
    v1 = Intake.objects.get(patient=patient)

    changed = intake_post(
        med_name=["Xanax", "Lamictal"], med_dose=["0.5 mg three times daily", "100 mg daily"]
    )
    response = client.post(url("patients-intake", patient), changed)
    assert response.status_code == 400
    assert "Say why this intake replaces version 1." in response.content.decode()
    assert Intake.objects.filter(patient=patient).count() == 1

    response = client.post(
        url("patients-intake", patient), changed | {"change_reason": "started lamotrigine"}
    )
    assert response.status_code == 302
    v2 = Intake.objects.get(patient=patient, version=2)
    assert v2.change_reason == "started lamotrigine"
    assert [m.generic_name for m in v2.medications.all()] == ["alprazolam", "lamotrigine"]
    v1.refresh_from_db()
    assert [m.name for m in v1.medications.all()] == ["Xanax", "Zyxoprilan"]
    assert v1.history["psychosis"]["present"] is True
    assert AuditEntry.objects.filter(action="intake.create").count() == 2


def test_the_form_starts_from_the_current_version_and_audits_that_read(login, nurse, patient):
    client = login(nurse)
    client.post(url("patients-intake", patient), intake_post())
    response = client.get(url("patients-intake", patient))
    body = response.content.decode()
    assert 'value="Zyxoprilan"' in body
    assert 'value="128"' in body
    assert "Reason for this new version" in body
    assert AuditEntry.objects.filter(action="patient.intake_view", detail__page="form").exists()


def test_an_unchanged_resubmission_is_refused(login, nurse, patient):
    client = login(nurse)
    client.post(url("patients-intake", patient), intake_post(med_daily_mg=["1.5", "", ""]))
    response = client.post(
        url("patients-intake", patient), intake_post(med_daily_mg=["1.5", "", ""], change_reason="again")
    )
    assert response.status_code == 400
    assert "Nothing changed since version 1" in response.content.decode()
    assert Intake.objects.filter(patient=patient).count() == 1


@pytest.mark.parametrize(
    "case",
    [
        (
            {"baseline_systolic_mmhg": "80", "baseline_diastolic_mmhg": "90"},
            "baseline_systolic_mmhg",
            "higher than",
        ),
        ({"baseline_systolic_mmhg": "300"}, "baseline_systolic_mmhg", "between 60 and 260"),
        ({"baseline_diastolic_mmhg": ""}, "baseline_diastolic_mmhg", "Enter both"),
        ({"baseline_heart_rate_bpm": "12"}, "baseline_heart_rate_bpm", "between 30 and 220"),
        ({"baseline_heart_rate_bpm": "fast"}, "baseline_heart_rate_bpm", "whole number"),
        ({"med_daily_mg": ["-2", "", ""]}, None, "above 0"),
        ({"med_name": ["", "", ""], "med_dose": ["1 mg daily", "", ""]}, None, "Give the medication"),
        ({"dast_5": ""}, "dast_5", "Answer every DAST-10 question"),
        (
            {"hg_hepatic_impairment": "Z", "h_hepatic_impairment": "on"},
            "hg_hepatic_impairment",
            "Select a valid",
        ),
    ],
)
def test_bad_input_is_shown_next_to_the_field_and_changes_nothing(login, nurse, patient, case):
    change, field, message = case
    response = login(nurse).post(url("patients-intake", patient), intake_post(**change))
    assert response.status_code == 400
    assert message in response.content.decode()
    if field:
        assert message in " ".join(response.context["form"].errors.get(field, []))
    assert not Intake.objects.exists()
    assert not AuditEntry.objects.filter(action="intake.create").exists()


def test_dast_left_blank_means_not_administered(login, nurse, patient):
    post = intake_post(**{f"dast_{i}": "" for i in range(1, 11)})
    assert login(nurse).post(url("patients-intake", patient), post).status_code == 302
    intake = Intake.objects.get(patient=patient)
    assert intake.dast10_answers is None and intake.dast10_score is None


def test_dast_item_3_is_scored_in_reverse_on_save(login, nurse, patient):
    post = intake_post(**{"dast_1": "yes", "dast_2": "yes", "dast_3": "no"})
    login(nurse).post(url("patients-intake", patient), post)
    assert Intake.objects.get(patient=patient).dast10_score == 3


@pytest.mark.parametrize("role", ["frontdesk", "admin", "auditor"])
def test_only_clinical_roles_take_an_intake(login, personas, patient, role):
    client = login(personas[role])
    assert client.get(url("patients-intake", patient)).status_code == 403
    assert client.post(url("patients-intake", patient), intake_post()).status_code == 403
    assert not Intake.objects.exists()


def test_prescriber_may_take_an_intake(login, prescriber, patient):
    assert login(prescriber).post(url("patients-intake", patient), intake_post()).status_code == 302


def test_auditor_may_read_a_version_but_front_desk_may_not(login, nurse, auditor, frontdesk, patient):
    login(nurse).post(url("patients-intake", patient), intake_post())
    assert login(auditor).get(url("patients-intake-detail", patient, version=1)).status_code == 200
    assert login(frontdesk).get(url("patients-intake-detail", patient, version=1)).status_code == 403


def test_outsider_gets_404_and_nothing_is_written(login, nurse, outsider, patient):
    login(nurse).post(url("patients-intake", patient), intake_post())
    client = login(outsider)
    assert client.get(url("patients-intake", patient)).status_code == 404
    assert client.post(url("patients-intake", patient), intake_post(change_reason="x")).status_code == 404
    assert client.get(url("patients-intake-detail", patient, version=1)).status_code == 404
    assert Intake.objects.count() == 1


def test_unknown_version_is_404(login, nurse, patient):
    assert login(nurse).get(url("patients-intake-detail", patient, version=7)).status_code == 404


def test_action_refuses_other_roles_and_other_clinics(frontdesk, outsider, clinic_a, clinic_b, patient):
    with pytest.raises(PermissionDenied):
        intake_actions.save_intake(user=frontdesk, clinic=clinic_a, patient=patient, data=plain_data())
    with pytest.raises(PermissionDenied):
        intake_actions.save_intake(user=outsider, clinic=clinic_b, patient=patient, data=plain_data())
    assert not Intake.objects.exists()


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"history": {"no_such_item": {"present": True}}}, "history.no_such_item"),
        ({"history": {"pregnancy": {"present": True}}}, "history.pregnancy"),
        ({"history": {"psychosis": {"present": "yes"}}}, "history.psychosis"),
        ({"medications": [{"name": "x" * 121}]}, "medications[0].name"),
        ({"medications": [{"name": "Valium", "daily_dose_mg": "lots"}]}, "medications[0].daily_dose_mg"),
        ({"dast10_answers": [True] * 9}, "dast10_answers"),
        ({"baseline_systolic_mmhg": 59}, "baseline_systolic_mmhg"),
    ],
)
def test_action_names_the_bad_field(nurse, clinic_a, patient, data, key):
    with pytest.raises(ValidationError) as exc:
        intake_actions.save_intake(user=nurse, clinic=clinic_a, patient=patient, data=plain_data(**data))
    assert key in exc.value.message_dict
    assert not Intake.objects.exists()


def test_action_takes_plain_values_and_explicit_daily_mg_wins(nurse, clinic_a, patient):
    data = plain_data(
        medications=[{"name": "KLONOPIN", "dose_text": "0.5 mg twice daily", "daily_dose_mg": "0.25"}],
        dast10_answers=[True, False, True, False, False, False, False, False, False, False],
    )
    intake = intake_actions.save_intake(user=nurse, clinic=clinic_a, patient=patient, data=data)
    med = intake.medications.get()
    assert med.generic_name == "clonazepam"
    assert med.daily_dose_mg == Decimal("0.25")
    assert med.diazepam_equivalent_mg == Decimal("5.00")
    assert intake.dast10_score == 1


def test_medication_row_fragment_and_formulary_lookup(login, nurse, frontdesk):
    client = login(nurse)
    row = client.get(reverse("patients-intake-medication-row"))
    assert row.status_code == 200 and 'name="med_name"' in row.content.decode()
    assert "<html" not in row.content.decode()
    hit = client.get(reverse("patients-formulary-lookup"), {"med_name": "nardil"})
    assert "phenelzine" in hit.content.decode() and "MAOI" in hit.content.decode()
    miss = client.get(reverse("patients-formulary-lookup"), {"med_name": "Zyxoprilan"})
    assert "Not in the formulary" in miss.content.decode()
    assert login(frontdesk).get(reverse("patients-intake-medication-row")).status_code == 403


def test_intake_detail_query_count_does_not_grow_with_versions(
    login, nurse, clinic_a, patient, django_assert_max_num_queries
):
    for i in range(6):
        meds = [{"name": f"drug{i}", "dose_text": "", "daily_dose_mg": None}]
        intake_actions.save_intake(
            user=nurse,
            clinic=clinic_a,
            patient=patient,
            data=plain_data(medications=meds, change_reason=f"v{i}"),
        )
    client = login(nurse)
    with django_assert_max_num_queries(20):
        response = client.get(url("patients-intake-detail", patient, version=6))
    assert response.status_code == 200
    assert response.content.decode().count("v6") >= 1
