"""Bad input on the ledger's pages is a clear 400 or 404 that changes nothing, never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ketaclinic.ledger.models import LedgerEntry, LossReport

HUGE = "9" * 25


def test_an_impossible_discovery_time_is_refused_on_its_field(login, clinic_admin, ledger, vial):
    client = login(clinic_admin)
    before = LedgerEntry.objects.count()
    for value in ("2026-02-30T10:00", "yesterday", "2026-13-01T00:00"):
        response = client.post(
            reverse("ledger-container-loss", args=[vial.pk]),
            {
                "kind": "theft",
                "quantity_mg": "1",
                "description": "Missing from the safe",
                "discovered_at": value,
            },
        )
        assert response.status_code == 400 and b"discovered_at" in response.content, value
    assert not LossReport.objects.exists() and LedgerEntry.objects.count() == before


@pytest.mark.parametrize("field", ["container", "location"])
def test_ids_too_large_for_the_database_are_no_such_record(
    login, nurse, clinic_admin, iv_session, ledger, field
):
    if field == "container":
        response = login(nurse).post(
            reverse("ledger-session-draw", args=[iv_session.pk]), {"container": HUGE, "ml": "1"}
        )
        assert response.status_code == 400 and b"Choose the container" in response.content
    else:
        response = login(clinic_admin).get(reverse("ledger-count-new") + f"?location={HUGE}")
        assert response.status_code == 200
    assert not LedgerEntry.objects.filter(kind="draw").exists()


def test_a_huge_id_in_the_path_is_a_404(login, clinic_admin, ledger):
    client = login(clinic_admin)
    assert client.get(f"/ledger/containers/{HUGE}/").status_code == 404
    assert client.get(f"/ledger/receipts/{HUGE}/").status_code == 404


def test_a_huge_id_in_a_form_is_no_such_record(login, clinic_admin, ledger):
    client = login(clinic_admin)
    response = client.post(reverse("ledger-receive"), {"product": HUGE, "location": HUGE})
    assert response.status_code == 404
    response = client.post(reverse("ledger-setup-save"), {"form": "keyholders", "location": HUGE})
    assert response.status_code == 404
