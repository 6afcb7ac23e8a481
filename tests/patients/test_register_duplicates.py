"""Registration assigns the next MRN when none is typed, and refuses a likely duplicate (the same
name and date of birth) until someone confirms it is a different person (issue 11)."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from ketaclinic.patients import actions
from ketaclinic.patients.models import Patient

ANA = {
    "given_name": "Ana",
    "family_name": "Reyes",
    "date_of_birth": date(1979, 5, 6),
    "sex": "female",
    "pregnancy_status": "not_pregnant",
}


def register(user, clinic, **kw):
    return actions.register_patient(user=user, clinic=clinic, data=ANA | kw)


def test_an_empty_mrn_gets_the_clinics_next_number(clinic_a, nurse, patient):
    assert patient.mrn == "A-1001"  # typed by hand in the clinic's shape
    first = register(nurse, clinic_a, mrn="")
    assert first.mrn == "N-1001"  # Northside: N-, from 1001
    second = register(nurse, clinic_a, mrn="", given_name="Bea", family_name="Stone")
    assert second.mrn == "N-1002"
    register(nurse, clinic_a, mrn="N-77x", given_name="Cy", family_name="Hall")  # another shape: skipped
    assert actions.next_mrn(clinic_a) == "N-1003"


def test_the_same_name_and_birth_date_is_refused_until_confirmed(clinic_a, nurse):
    first = register(nurse, clinic_a, mrn="")
    with pytest.raises(ValidationError) as exc:
        register(nurse, clinic_a, mrn="", given_name="ana", family_name="REYES")
    [message] = exc.value.message_dict["not_duplicate"]
    assert f"already (MRN {first.mrn})" in message and "different person" in message
    assert Patient.objects.count() == 1
    other = register(nurse, clinic_a, mrn="", not_duplicate=True)
    assert other.pk != first.pk and Patient.objects.count() == 2


def test_another_birth_date_is_not_a_duplicate(clinic_a, nurse):
    register(nurse, clinic_a, mrn="")
    assert register(nurse, clinic_a, mrn="", date_of_birth=date(1979, 5, 7)).mrn == "N-1002"


def test_another_clinics_patient_is_not_a_duplicate(clinic_a, clinic_b, nurse, outsider):
    register(nurse, clinic_a, mrn="")
    assert register(outsider, clinic_b, mrn="").mrn == "S-1001"


def test_the_register_page_asks_for_the_confirmation(login, clinic_a, frontdesk):
    register(frontdesk, clinic_a, mrn="")
    client = login(frontdesk)
    form = {"mrn": "", "given_name": "Ana", "family_name": "Reyes", "date_of_birth": "1979-05-06",
            "sex": "female", "pregnancy_status": "not_pregnant", "weight_unit": "kg",
            "height_unit": "cm"}  # fmt: skip
    refused = client.post(reverse("patients-register"), form)
    page = refused.content.decode()
    assert refused.status_code == 400 and "is registered already" in page
    assert 'name="not_duplicate"' in page
    done = client.post(reverse("patients-register"), form | {"not_duplicate": "on"})
    assert done.status_code == 302 and Patient.objects.filter(family_name="Reyes").count() == 2


def test_the_api_assigns_the_mrn_and_refuses_a_duplicate(clinic_a, frontdesk):
    from tests.api.conftest import ApiClient, token_for

    api = ApiClient(token_for(frontdesk))
    body = {"given_name": "Ana", "family_name": "Reyes", "date_of_birth": "1979-05-06", "sex": "female",
            "pregnancy_status": "not_pregnant"}  # fmt: skip
    created = api.post("/api/patients", body)
    assert created.status_code == 201 and created.json()["mrn"] == "N-1001"
    again = api.post("/api/patients", body)
    assert again.status_code == 422 and "not_duplicate" in again.content.decode()
    assert api.post("/api/patients", body | {"not_duplicate": True}).status_code == 201


def test_none_known_allergies_read_as_such_not_as_a_warning(login, clinic_a, nurse):
    p = register(nurse, clinic_a, mrn="", allergies="None known.")
    assert p.no_known_allergies
    page = login(nurse).get(reverse("patients-detail", args=[p.pk])).content.decode()
    assert (
        '<span class="badge ok">none known</span>' in page
        and "allergy" not in page.split("Allergies")[1][:80]
    )
    q = register(nurse, clinic_a, mrn="", given_name="Bo", allergies="penicillin")
    assert not q.no_known_allergies


def test_pregnancy_is_not_asked_of_a_male_patient(login, clinic_a, nurse):
    man = register(nurse, clinic_a, mrn="", given_name="Tom", sex="male", pregnancy_status="unknown")
    assert man.pregnancy_status == "not_applicable"
    page = login(nurse).get(reverse("patients-detail", args=[man.pk])).content.decode()
    assert "<dt>Pregnancy</dt>" not in page
    with pytest.raises(ValidationError) as exc:
        register(nurse, clinic_a, mrn="", given_name="Tim", sex="male", pregnancy_status="pregnant")
    assert "check the sex" in exc.value.message_dict["pregnancy_status"][0]
