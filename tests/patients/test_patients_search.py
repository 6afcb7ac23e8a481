"""The patient list: search by name, MRN and date of birth, paginated, and only ever the active clinic."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients.models import Patient
from ketaclinic.patients.views import PAGE_SIZE


def make(clinic, user, mrn, given, family, *, dob=date(1980, 1, 1)):
    return Patient.objects.create(
        clinic=clinic,
        mrn=mrn,
        given_name=given,
        family_name=family,
        date_of_birth=dob,
        sex="unknown",
        created_by=user,
    )


@pytest.fixture
def people(clinic_a, clinic_b, nurse, outsider):
    return {
        "maria": make(clinic_a, nurse, "A-1001", "Maria", "Lopez", dob=date(1984, 3, 2)),
        "mario": make(clinic_a, nurse, "A-1002", "Mario", "Rossi", dob=date(1990, 7, 15)),
        "ann": make(clinic_a, nurse, "B-7", "Ann", "Marlowe", dob=date(1984, 3, 2)),
        # Clinic B: a namesake with the same MRN and birth date, never shown to clinic A.
        "other": make(clinic_b, outsider, "A-1001", "Maria", "Lopez", dob=date(1984, 3, 2)),
    }


def found(client, query):
    response = client.get(reverse("patients-list"), {"q": query})
    assert response.status_code == 200
    return {p.pk for p in response.context["page"].object_list}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("mari", {"maria", "mario"}),  # partial given name
        ("LOPEZ", {"maria"}),  # family name, any case
        ("mar", {"maria", "mario", "ann"}),  # given or family (Marlowe)
        ("maria lop", {"maria"}),  # every word must match
        ("A-1001", {"maria"}),  # MRN
        ("a-100", {"maria", "mario"}),  # MRN prefix, any case
        ("1984-03-02", {"maria", "ann"}),  # date of birth, ISO
        ("03/02/1984", {"maria", "ann"}),  # date of birth, US
        ("3/2/1984", {"maria", "ann"}),
        ("nobody", set()),
    ],
)
def test_search_by_each_key(login, frontdesk, people, query, expected):
    assert found(login(frontdesk), query) == {people[name].pk for name in expected}


def test_list_never_shows_another_clinics_patients(login, nurse, outsider, people):
    assert people["other"].pk not in found(login(nurse), "")
    assert found(login(outsider), "") == {people["other"].pk}
    assert found(login(outsider), "mario") == set()


def test_search_is_audited_and_the_list_shows_matches(login, nurse, clinic_a, people):
    response = login(nurse).get(reverse("patients-list"), {"q": "lopez"})
    html = response.content.decode()
    assert "Lopez, Maria" in html and "Rossi" not in html
    entry = AuditEntry.objects.get(action="patient.search")
    assert (entry.user, entry.clinic, entry.detail) == (nurse, clinic_a, {"query": "lopez"})


def test_htmx_gets_only_the_results_fragment(login, nurse, people):
    response = login(nurse).get(reverse("patients-list"), {"q": "rossi"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Rossi, Mario" in html
    assert "<html" not in html and 'name="q"' not in html


def test_pages(login, nurse, clinic_a):
    for i in range(PAGE_SIZE + 3):
        make(clinic_a, nurse, f"P-{i:03}", "Pat", f"Family{i:03}")
    client = login(nurse)
    first = client.get(reverse("patients-list"))
    second = client.get(reverse("patients-list"), {"page": 2})
    assert len(first.context["page"].object_list) == PAGE_SIZE
    assert len(second.context["page"].object_list) == 3
    assert "Page 1 of 2" in first.content.decode()
    assert "Family000" in first.content.decode() and "Family027" in second.content.decode()


@pytest.mark.parametrize("query", ["", "pat"])
def test_list_query_count_is_pinned(login, nurse, clinic_a, django_assert_max_num_queries, query):
    client = login(nurse)
    client.get(reverse("patients-list"), {"q": "warm"})  # session and audit head exist from here on

    def queries_for(total):
        while Patient.objects.count() < total:
            n = Patient.objects.count()
            make(clinic_a, nurse, f"P-{n:03}", "Pat", f"Family{n:03}")
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("patients-list"), {"q": query})
        assert len(response.context["page"].object_list) == min(total, PAGE_SIZE)
        return len(ctx.captured_queries)

    assert queries_for(3) == queries_for(PAGE_SIZE * 2)
    # session, user, membership x2, count, page, session save (in a savepoint); a search adds the
    # audit append (savepoint, head lock, entry insert, head update, release).
    with django_assert_max_num_queries(9 if not query else 14):
        client.get(reverse("patients-list"), {"q": query})
