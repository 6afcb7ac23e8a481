"""The ledger's JSON API with a nurse's token: draw (idempotent), close out with a witness, read back."""

from __future__ import annotations

from ketaclinic.accounts import actions as accounts
from ketaclinic.accounts.models import Membership
from ketaclinic.ledger.models import EntryKind, LedgerEntry
from tests.conftest import PASSWORD
from tests.ledger.test_actions import run_pump


def token_for(user):
    return accounts.create_token(Membership.objects.get(user=user), "ledger")[1]


def post(client, path, body, token):
    return client.post(
        path, body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )


def test_draw_and_close_out_over_the_api(client, iv_session, ledger, vial, nurse, prescriber, clinic_a):
    token = token_for(nurse)
    path = f"/api/ledger/sessions/{iv_session.pk}/draws"
    body = {"container_id": vial.pk, "ml": "5", "idempotency_key": "cab-1"}
    first = post(client, path, body, token)
    assert (
        first.status_code == 201 and first.json()["mg"] == "50.00" and first.json()["balance_mg"] == "150.00"
    )
    again = post(client, path, body, token)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = post(client, path, body | {"ml": "1", "container_id": vial.pk + 1}, token)
    assert other.status_code == 422 and "another draw" in other.content.decode()
    assert LedgerEntry.objects.filter(kind=EntryKind.DRAW).count() == 1

    bad = post(client, path, {"container_id": vial.pk, "ml": "abc", "idempotency_key": "cab-2"}, token)
    assert bad.status_code == 422
    extra = post(client, path, body | {"idempotency_key": "cab-3", "mg": "5"}, token)
    assert extra.status_code == 422  # an unknown field is refused, not dropped

    run_pump(nurse, clinic_a, iv_session)
    close = f"/api/ledger/sessions/{iv_session.pk}/close-out"
    unwitnessed = post(client, close, {"wasted": "1.5"}, token)
    assert unwitnessed.status_code == 422 and "witness" in unwitnessed.content.decode()
    done = post(
        client,
        close,
        {"wasted": "1.5", "witness_username": prescriber.username, "witness_password": PASSWORD},
        token,
    )
    assert done.status_code == 201
    assert done.json()["reconciliation"]["status"] == "balanced"
    assert done.json()["reconciliation"]["administered_mg"] == "35.00"
    read = client.get(f"/api/ledger/sessions/{iv_session.pk}", headers={"Authorization": f"Bearer {token}"})
    assert read.json()["in_hand_mg"] == "0.00"


def test_containers_and_discrepancies_are_the_clinics_own(client, ledger, nurse, outsider):
    mine = client.get(
        "/api/ledger/containers", headers={"Authorization": f"Bearer {token_for(nurse)}"}
    ).json()
    assert [c["label"] for c in mine] == ["C-00001", "C-00002"] and mine[0]["balance_ml"] == "20.00"
    theirs = client.get("/api/ledger/containers", headers={"Authorization": f"Bearer {token_for(outsider)}"})
    assert theirs.status_code == 200 and theirs.json() == []
    assert (
        client.get(
            "/api/ledger/discrepancies", headers={"Authorization": f"Bearer {token_for(nurse)}"}
        ).json()
        == []
    )
