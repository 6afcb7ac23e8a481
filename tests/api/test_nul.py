"""A NUL character anywhere in a request is refused before any view runs, on both databases
(PostgreSQL cannot store U+0000 in text and once answered such a request with a 500; SQLite stored
it invisibly). ketaclinic/web.py RefuseNulMiddleware."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory
from django.urls import reverse

from ketaclinic.patients.models import Patient
from ketaclinic.web import nul_location
from tests.api.conftest import ApiClient, token_for

BODY = {"given_name": "Ana", "family_name": "Reyes", "date_of_birth": "1979-05-06", "sex": "female",
        "pregnancy_status": "not_pregnant"}  # fmt: skip


@pytest.mark.parametrize("field", ["given_name", "family_name"])
def test_the_api_refuses_a_nul_in_a_json_string_and_writes_nothing(clinic_a, frontdesk, field):
    api = ApiClient(token_for(frontdesk))
    r = api.post("/api/patients", BODY | {field: "Re\x00yes"})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"loc": ["body", field], "msg": f"{field} must not contain the NUL character (U+0000)"}
    ]
    assert not Patient.objects.exists()
    assert api.post("/api/patients", BODY).status_code == 201  # the same body without it is taken


def test_the_api_refuses_a_nul_in_the_query_string(clinic_a, frontdesk):
    r = ApiClient(token_for(frontdesk)).get("/api/patients?q=Re%00yes")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "q"]


def test_a_page_refuses_a_nul_in_a_form_field_and_writes_nothing(login, clinic_a, frontdesk):
    form = {"given_name": "Ana", "family_name": "Reyes", "date_of_birth": "1979-05-06", "sex": "female",
            "pregnancy_status": "not_pregnant", "weight_unit": "kg", "height_unit": "cm",
            "address": "1 Main\x00 St"}  # fmt: skip
    r = login(frontdesk).post(reverse("patients-register"), form)
    assert r.status_code == 400 and "address" in r.content.decode()
    assert "Nothing was saved" in r.content.decode()
    assert not Patient.objects.exists()


def test_a_page_refuses_a_nul_in_the_query_string(login, clinic_a, frontdesk):
    r = login(frontdesk).get(reverse("patients-list") + "?q=%00")
    assert r.status_code == 400


def test_the_async_path_refuses_it_too(db):
    """Through the ASGI handler, where the middleware chain runs async (as under uvicorn)."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    r = async_to_sync(AsyncClient().get)("/api/patients?q=%00")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "q"]


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        ({"a": "ok", "b": {"c": ["x", "y\x00"]}}, ("body", "b", "c", 1)),
        ({"a\x00": "ok"}, ("body", "a\x00")),
        ([{"n": 1}, {"t": "\x00"}], ("body", 1, "t")),
        ({"a": "ok", "n": 5, "none": None}, None),
        # A literal backslash-u-0000 typed as text is six characters, not a NUL: it is kept.
        ({"a": "\\u0000"}, None),
    ],
)
def test_nul_location_walks_nested_json(data, loc):
    request = RequestFactory().post("/api/x", json.dumps(data), content_type="application/json")
    assert nul_location(request) == loc


def test_nul_location_reads_forms_and_queries():
    rf = RequestFactory()
    assert nul_location(rf.post("/x", {"a": "b\x00"})) == ("form", "a")
    assert nul_location(rf.post("/x", {"a": ["ok", "b\x00"]})) == ("form", "a")
    assert nul_location(rf.post("/x", {"a": "ok"})) is None
    assert nul_location(rf.get("/x", {"q": "a\x00"})) == ("query", "q")
    assert nul_location(rf.get("/x", {"q": "a"})) is None
    assert nul_location(rf.put("/x", "not json \\u0000", content_type="application/json")) is None
