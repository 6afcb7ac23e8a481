"""Strict numbers at the API and plausible PRN doses: JSON true is not 1, "٨٠" is not 80, and
999,999 g is not a dose (ketaclinic/web.py StrictSchema; infusions/observations.py PRN_DOSE_MAX)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from ketaclinic.infusions import actions
from ketaclinic.infusions.models import Observation
from ketaclinic.infusions.observations import PRN_DOSE_MAX
from tests.api.conftest import ApiClient, error_fields, token_for
from tests.infusions.conftest import VITALS


@pytest.fixture
def checked_in(frontdesk, nurse, clinic_a, patient):
    session = actions.schedule_session(
        user=frontdesk, clinic=clinic_a, patient=patient, chair="Chair 3", scheduled_at=timezone.now()
    )
    return actions.transition(user=nurse, clinic=clinic_a, session=session, to="checked_in")


def post(nurse, session, body):
    return ApiClient(token_for(nurse)).post(f"/api/infusions/{session.pk}/observations", body)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (True, "expected a number, not true or false"),
        (False, "expected a number, not true or false"),
        ("٨٠", "write the number with the digits 0-9"),  # Arabic-Indic 80
        ("८०", "write the number with the digits 0-9"),  # Devanagari 80
    ],
)
def test_a_boolean_or_foreign_digits_are_not_a_number(checked_in, nurse, value, says):
    r = post(nurse, checked_in, {"kind": "vitals", "idempotency_key": "k", **VITALS, "heart_rate_bpm": value})
    assert r.status_code == 422
    assert says in error_fields(r)["heart_rate_bpm"]
    assert not Observation.objects.exists()


@pytest.mark.parametrize("value", [80, "80"])
def test_a_number_as_a_json_number_or_an_ascii_string_is_read(checked_in, nurse, value):
    r = post(nurse, checked_in, {"kind": "vitals", "idempotency_key": "k", **VITALS, "heart_rate_bpm": value})
    assert r.status_code == 201, r.content
    assert Observation.objects.get().heart_rate_bpm == 80


def test_a_query_number_in_foreign_digits_is_refused(prescriber):
    r = ApiClient(token_for(prescriber)).get("/api/patients", params={"offset": "٣"})
    assert r.status_code == 422 and "offset" in error_fields(r)


def test_an_id_cannot_be_true(prescriber, patient):
    from ketaclinic.protocols.models import TreatmentPlan

    body = {"protocol_id": True, "indication": "trd", "goal_scale": "madrs", "sessions_planned": 6}
    r = ApiClient(token_for(prescriber)).post(f"/api/patients/{patient.pk}/plans", body)
    assert r.status_code == 422
    assert error_fields(r)["protocol_id"].endswith("expected a number, not true or false")
    assert not TreatmentPlan.objects.exists()


PRN = {"kind": "prn", "idempotency_key": "p", "drug": "ondansetron", "route": "iv"}


@pytest.mark.parametrize(("unit", "ceiling"), sorted(PRN_DOSE_MAX.items()))
def test_a_prn_dose_at_its_units_ceiling_is_taken_and_above_it_refused(checked_in, nurse, unit, ceiling):
    above = post(nurse, checked_in, PRN | {"dose_value": str(ceiling + 1), "dose_unit": unit})
    assert above.status_code == 422
    assert "implausibly large for one PRN dose" in error_fields(above)["dose_value"]
    assert not Observation.objects.exists()
    at = post(nurse, checked_in, PRN | {"dose_value": str(ceiling), "dose_unit": unit})
    assert at.status_code == 201, at.content


def test_the_issues_999999_g_is_refused(checked_in, nurse):
    r = post(nurse, checked_in, PRN | {"dose_value": "999999", "dose_unit": "g"})
    assert r.status_code == 422
    assert error_fields(r)["dose_value"].startswith(
        "999999 g is implausibly large for one PRN dose (at most 2 g"
    )
