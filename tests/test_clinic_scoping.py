"""A second clinic with real records in it: its active session, its alerts and its limit events
never show in the first clinic's floor board (page and API), session list or limits report
(page and CSV). Scoping tests that only ever had one clinic's data could not fail."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.urls import reverse

from ketaclinic.patients.models import Patient
from ketaclinic.protocols import actions as protocol_actions
from tests.api.conftest import ApiClient, token_for
from tests.conftest import make_user
from tests.infusions.conftest import VITALS, make_order, ready_for_dosing, scheduled


@pytest.fixture
def clinic_b_staff(clinic_b):
    return {
        "prescriber": make_user(clinic_b, "bea", "prescriber", credentials="MD"),
        "nurse": make_user(clinic_b, "bo", "nurse"),
        "frontdesk": make_user(clinic_b, "bix", "frontdesk"),
        "admin": make_user(clinic_b, "bert", "admin"),
    }


@pytest.fixture
def clinic_b_session(clinic_b, clinic_b_staff):
    """An infusion checked in and assessed in clinic B, with a blood pressure that raised an alert."""
    from ketaclinic.infusions import actions

    s = clinic_b_staff
    patient = Patient.objects.create(
        clinic=clinic_b,
        mrn="B-7001",
        given_name="Otto",
        family_name="Southside",
        date_of_birth=date(1970, 5, 5),
        sex="male",
        escort_name="Ida Southside",
        escort_phone="555-0202",
        created_by=s["nurse"],
    )
    order = make_order(clinic_b, s["prescriber"], s["nurse"], patient, s["admin"])
    session = ready_for_dosing(s["nurse"], clinic_b, scheduled(s["frontdesk"], s["nurse"], clinic_b, order))
    actions.record_observation(
        user=s["nurse"],
        clinic=clinic_b,
        session=session,
        kind="vitals",
        data=VITALS | {"systolic_mmhg": 190, "diastolic_mmhg": 125},
        idempotency_key="b-high",
    )
    # A refused order in clinic B: a limit event that only clinic B's report may show.
    with pytest.raises(protocol_actions.OrderRefused):
        protocol_actions.sign_order(
            s["prescriber"], clinic_b, order.plan, {"dose_mg_per_kg": "2", "duration_min": "40"}
        )
    return session


@pytest.fixture
def clinic_a_session(clinic_a, prescriber, nurse, frontdesk, clinic_admin, patient):
    order = make_order(clinic_a, prescriber, nurse, patient, clinic_admin)
    with pytest.raises(protocol_actions.OrderRefused):
        protocol_actions.sign_order(
            prescriber, clinic_a, order.plan, {"dose_mg_per_kg": "2", "duration_min": "40"}
        )
    return ready_for_dosing(nurse, clinic_a, scheduled(frontdesk, nurse, clinic_a, order))


def test_floor_board_shows_only_the_clinics_own_chairs(login, nurse, clinic_a_session, clinic_b_session):
    body = login(nurse).get(reverse("infusions-floor")).content.decode()
    assert reverse("infusions-chair", args=[clinic_a_session.pk]) in body and "Maria L." in body
    assert reverse("infusions-chair", args=[clinic_b_session.pk]) not in body and "Otto" not in body
    assert "190" not in body  # clinic B's alert
    rows = ApiClient(token_for(nurse)).get("/api/infusions/floor").json()
    assert [r["session"]["id"] for r in rows] == [clinic_a_session.pk]


def test_floor_board_of_the_other_clinic_shows_its_own(
    login, clinic_b_staff, clinic_a_session, clinic_b_session
):
    body = login(clinic_b_staff["nurse"]).get(reverse("infusions-floor")).content.decode()
    assert "Otto S." in body and "190" in body and "Maria" not in body


def test_session_list_shows_only_the_clinics_own(login, frontdesk, clinic_a_session, clinic_b_session):
    body = login(frontdesk).get(reverse("infusions-list")).content.decode()
    assert "Lopez" in body and "Southside" not in body
    listed = ApiClient(token_for(frontdesk)).get("/api/infusions").json()["items"]
    assert {i["id"] for i in listed} == {clinic_a_session.pk}


def test_limits_report_shows_only_the_clinics_own_events(
    login, clinic_admin, clinic_a_session, clinic_b_session
):
    client = login(clinic_admin)
    body = client.get(reverse("protocols-limits-report")).content.decode()
    assert "priya" in body and "bea" not in body
    rows = list(
        csv.reader(
            io.StringIO(client.get(reverse("protocols-limits-report") + "?format=csv").content.decode())
        )
    )
    assert rows[1:] and {row[2] for row in rows[1:]} == {"priya"}
