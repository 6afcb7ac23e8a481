"""Informed consent against versioned consent texts that are never edited in place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients import actions
from ketaclinic.patients.models import Consent, ConsentText


@pytest.fixture
def text_v1(clinic_admin, clinic_a):
    return actions.create_consent_text(
        user=clinic_admin,
        clinic=clinic_a,
        title="Ketamine infusion",
        version="1",
        body="You may feel dissociated.",
    )


def consent_post(text, witness_user, **changes):
    return {
        "text": text.pk,
        "signed_by_name": "Maria Lopez",
        "signer_relation": "self",
        "signed_at": "2025-06-01T09:00",
        "witness": witness_user.pk,
    } | changes


def test_admin_publishes_a_text_from_the_page(login, clinic_admin, clinic_a):
    url = reverse("patients-consent-texts")
    response = login(clinic_admin).post(
        url, {"title": "Esketamine", "version": "2025-1", "effective_from": "2025-01-01", "body": "Text."}
    )
    assert response.status_code == 302
    text = ConsentText.objects.get(clinic=clinic_a)
    assert (text.title, text.version, text.body, text.retired_at) == ("Esketamine", "2025-1", "Text.", None)
    entry = AuditEntry.objects.get(action="consent_text.create")
    assert entry.user == clinic_admin and entry.detail["version"] == "2025-1"


def test_nurse_records_consent_against_the_exact_version(login, personas, patient, text_v1):
    nurse, prescriber = personas["nurse"], personas["prescriber"]
    url = reverse("patients-consent-add", kwargs={"patient_id": patient.pk})
    response = login(nurse).post(url, consent_post(text_v1, prescriber))

    assert response.status_code == 302
    consent = Consent.objects.get(patient=patient)
    assert (consent.text, consent.witness, consent.recorded_by) == (text_v1, prescriber, nurse)
    assert consent.signed_by_name == "Maria Lopez" and consent.signer_relation == "self"
    entry = AuditEntry.objects.get(action="patient.consent")
    assert (entry.patient_id, entry.user, entry.detail["text_id"]) == (patient.pk, nurse, text_v1.pk)

    html = login(nurse).get(reverse("patients-detail", kwargs={"patient_id": patient.pk})).content.decode()
    link = reverse("patients-consent-text", kwargs={"text_id": text_v1.pk})
    assert f'href="{link}">Ketamine infusion v1</a>' in html
    assert "Priya, MD" in html  # the witness


def test_a_new_version_retires_the_old_which_stays_readable(login, personas, clinic_a, patient, text_v1):
    clinic_admin, nurse, prescriber = personas["admin"], personas["nurse"], personas["prescriber"]
    actions.record_consent(
        user=nurse,
        clinic=clinic_a,
        patient=patient,
        text=text_v1,
        signed_by_name="Maria Lopez",
        signed_at=timezone.now(),
        witness=prescriber,
    )
    v2 = actions.create_consent_text(
        user=clinic_admin, clinic=clinic_a, title="Ketamine infusion", version="2", body="Revised wording."
    )
    text_v1.refresh_from_db()
    assert text_v1.retired_at is not None and text_v1.body == "You may feel dissociated."
    assert Consent.objects.get().text == text_v1  # still points at what was signed

    response = login(nurse).get(reverse("patients-consent-text", kwargs={"text_id": text_v1.pk}))
    assert response.status_code == 200
    assert "You may feel dissociated." in response.content.decode() and "retired" in response.content.decode()

    # the retired version cannot be signed any more; the form offers only v2
    form = (
        login(nurse).get(reverse("patients-consent-add", kwargs={"patient_id": patient.pk})).context["form"]
    )
    assert list(form.fields["text"].queryset) == [v2]
    with pytest.raises(ValidationError) as exc:
        actions.record_consent(
            user=nurse,
            clinic=clinic_a,
            patient=patient,
            text=text_v1.pk,
            signed_by_name="Maria Lopez",
            signed_at=timezone.now(),
            witness=prescriber,
        )
    assert "text" in exc.value.message_dict


def test_an_existing_version_is_never_overwritten(clinic_admin, clinic_a, text_v1):
    with pytest.raises(ValidationError) as exc:
        actions.create_consent_text(
            user=clinic_admin, clinic=clinic_a, title="Ketamine infusion", version="1", body="Changed!"
        )
    assert "version" in exc.value.message_dict
    text_v1.refresh_from_db()
    assert text_v1.body == "You may feel dissociated." and text_v1.retired_at is None
    assert ConsentText.objects.count() == 1


@pytest.mark.parametrize(
    "case",
    [
        ({"signed_at": f"{timezone.now() + timedelta(days=3):%Y-%m-%dT%H:%M}"}, "signed_at", "future"),
        # Year 0001 made the chart a 500 (issue 13); 2999 is a slip too.
        ({"signed_at": "0001-01-01T00:00"}, "signed_at", "0001-01-01 is not a plausible date"),
        ({"signed_at": "2999-01-01T00:00"}, "signed_at", "2999-01-01 is not a plausible date"),
        ({"signed_by_name": ""}, "signed_by_name", "required"),
        ({"witness": ""}, "witness", "required"),
    ],
)
def test_bad_consent_changes_nothing(login, personas, patient, text_v1, case):
    nurse, prescriber = personas["nurse"], personas["prescriber"]
    changes, field, words = case
    url = reverse("patients-consent-add", kwargs={"patient_id": patient.pk})
    before = AuditEntry.objects.count()
    response = login(nurse).post(url, consent_post(text_v1, prescriber, **changes))
    assert response.status_code == 400
    assert words in " ".join(response.context["form"].errors[field])
    assert not Consent.objects.exists()
    assert AuditEntry.objects.count() == before


def test_witness_must_be_staff_of_this_clinic(nurse, outsider, clinic_a, patient, text_v1):
    with pytest.raises(ValidationError) as exc:
        actions.record_consent(
            user=nurse,
            clinic=clinic_a,
            patient=patient,
            text=text_v1,
            signed_by_name="Maria Lopez",
            signed_at=timezone.now() - timedelta(minutes=5),
            witness=outsider,
        )
    assert "witness" in exc.value.message_dict
    assert not Consent.objects.exists()


def test_representative_signs_with_relation(nurse, frontdesk, clinic_a, patient, text_v1):
    consent = actions.record_consent(
        user=nurse,
        clinic=clinic_a,
        patient=patient,
        text=text_v1,
        signed_by_name="Rosa Lopez",
        signer_relation="legal guardian",
        signed_at="2025-06-01T09:00",
        witness=frontdesk,
    )
    consent.refresh_from_db()
    assert (consent.signed_by_name, consent.signer_relation, consent.witness) == (
        "Rosa Lopez",
        "legal guardian",
        frontdesk,
    )


def test_only_admins_manage_texts_and_only_clinical_staff_record_consent(login, personas, patient, text_v1):
    nurse, frontdesk, prescriber = personas["nurse"], personas["frontdesk"], personas["prescriber"]
    clinic_a = patient.clinic
    assert login(nurse).get(reverse("patients-consent-texts")).status_code == 403
    with pytest.raises(PermissionDenied):
        actions.create_consent_text(user=nurse, clinic=clinic_a, title="X", version="1", body="Y")
    url = reverse("patients-consent-add", kwargs={"patient_id": patient.pk})
    assert login(frontdesk).post(url, consent_post(text_v1, prescriber)).status_code == 403
    assert not Consent.objects.exists()


def test_new_version_form_starts_from_the_old_wording(login, clinic_admin, text_v1):
    response = login(clinic_admin).get(reverse("patients-consent-texts"), {"from": text_v1.pk})
    form = response.context["form"]
    assert (
        form.initial["title"] == "Ketamine infusion" and form.initial["body"] == "You may feel dissociated."
    )
