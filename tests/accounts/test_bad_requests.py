"""Bad input on the clinic chooser and the audit trail's filters is a clear refusal, never a 500."""

from __future__ import annotations

import pytest

from ketaclinic.accounts.views import SESSION_CLINIC
from tests.conftest import make_user


@pytest.mark.parametrize("clinic", ["abc", "", "99999999999999999999999", "1 OR 1=1"])
def test_choosing_a_clinic_that_is_not_yours_says_so(client, nurse, clinic, clinic_b):
    client.force_login(nurse)
    response = client.post("/accounts/clinic/", {"clinic": clinic})
    assert response.status_code == 200
    assert "Choose one of your clinics." in response.content.decode()
    assert SESSION_CLINIC not in client.session


def test_choosing_another_users_clinic_is_refused_and_ones_own_works(client, nurse, clinic_a, clinic_b):
    make_user(clinic_b, "sam", "nurse")
    client.force_login(nurse)
    assert SESSION_CLINIC not in client.session or client.session[SESSION_CLINIC] != clinic_b.pk
    client.post("/accounts/clinic/", {"clinic": str(clinic_b.pk)})
    assert client.session.get(SESSION_CLINIC) != clinic_b.pk
    response = client.post("/accounts/clinic/", {"clinic": f" {clinic_a.pk} "})
    assert response.status_code == 302 and client.session[SESSION_CLINIC] == clinic_a.pk


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_to=9999-12-31", "date_to"),
        ("date_from=2026-01-01&date_to=9999-12-31", "date_to"),
        ("date_from=0001-01-01", "date_from"),
        ("date_from=2025-02-30", "date_from"),
        ("patient_id=99999999999999999999", "patient_id"),
    ],
)
@pytest.mark.parametrize("path", ["/audit/", "/audit/export.csv"])
def test_impossible_audit_filters_are_a_422_naming_the_field(client, clinic_admin, query, field, path):
    client.force_login(clinic_admin)
    response = client.get(f"{path}?{query}")
    assert response.status_code == 422
    assert set(response.context["form"].errors) == {field}
