"""Paging and resume parameters out of any database's range are a 422 naming the parameter, not a 500."""

from __future__ import annotations

import pytest
from django.utils import timezone

from ketaclinic.infusions import actions


@pytest.mark.parametrize(
    ("path", "query", "name"),
    [
        ("/api/patients", "offset=99999999999999999999", "offset"),
        ("/api/patients", "offset=1000000001", "offset"),
        ("/api/infusions", "offset=99999999999999999999", "offset"),
        ("/api/infusions/{session}/events", "after=99999999999999999999", "after"),
    ],
)
def test_out_of_range_paging_is_a_422(client, nurse, frontdesk, clinic_a, patient, path, query, name):
    session = actions.schedule_session(
        user=frontdesk, clinic=clinic_a, patient=patient, chair="Chair 1", scheduled_at=timezone.now()
    )
    client.force_login(nurse)
    response = client.get(path.format(session=session.pk) + "?" + query)
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["detail"]] == [["query", name]]


def test_the_largest_offset_is_an_empty_page(client, nurse, patient):
    client.force_login(nurse)
    response = client.get("/api/patients?offset=1000000000")
    assert response.status_code == 200 and response.json()["items"] == []
