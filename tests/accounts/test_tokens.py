"""Each user's own API tokens: created with the raw value shown once, stored hashed, revocable."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from ketaclinic.accounts import actions
from ketaclinic.accounts.models import ApiToken, Membership, hash_token
from ketaclinic.audit.models import AuditEntry


def test_create_token_shows_raw_once_and_stores_hash(login, nurse, clinic_a):
    client = login(nurse)
    response = client.post(reverse("accounts-tokens"), {"name": "monitor gateway"})
    assert response.status_code == 200
    token = ApiToken.objects.get(name="monitor gateway")
    body = response.content.decode()
    raw = body.split('id="raw-token" readonly value="')[1].split('"')[0]
    assert raw.startswith("kc_") and token.token_hash == hash_token(raw)
    assert raw not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert token.membership == Membership.objects.get(user=nurse, clinic=clinic_a)
    entry = AuditEntry.objects.get(action="token.create")
    assert entry.user == nurse and entry.clinic == clinic_a and raw not in str(entry.detail)

    # The list shows it afterwards, but never the raw value again.
    page = client.get(reverse("accounts-tokens")).content.decode()
    assert "monitor gateway" in page and raw not in page and token.prefix in page


def test_token_panel_fragment_for_htmx(login, nurse):
    client = login(nurse)
    response = client.post(reverse("accounts-tokens"), {"name": "script"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and "Copy this token now" in body


def test_token_name_required(login, nurse):
    client = login(nurse)
    response = client.post(reverse("accounts-tokens"), {"name": "  "})
    assert response.status_code == 422
    assert "This field is required" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoke_own_token(login, nurse):
    token, _ = actions.create_token(Membership.objects.get(user=nurse), "cron")
    client = login(nurse)
    response = client.post(reverse("accounts-token-revoke", kwargs={"token_id": token.pk}))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and not token.is_active
    assert AuditEntry.objects.filter(action="token.revoke", object_id=str(token.pk)).count() == 1
    # Revoking again changes nothing.
    client.post(reverse("accounts-token-revoke", kwargs={"token_id": token.pk}))
    assert AuditEntry.objects.filter(action="token.revoke").count() == 1


def test_cannot_revoke_someone_elses_token(login, nurse, prescriber):
    token, _ = actions.create_token(Membership.objects.get(user=prescriber), "theirs")
    client = login(nurse)
    assert client.post(reverse("accounts-token-revoke", kwargs={"token_id": token.pk})).status_code == 404
    assert client.get(reverse("accounts-token-revoke", kwargs={"token_id": token.pk})).status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None
    with pytest.raises(PermissionDenied):
        actions.revoke_token(nurse, token)


def test_deactivated_membership_deactivates_tokens(nurse, clinic_admin):
    m = Membership.objects.get(user=nurse)
    token, _ = actions.create_token(m, "cron")
    assert token.is_active
    actions.set_active(Membership.objects.get(user=clinic_admin), m, False)
    token.refresh_from_db()
    assert not token.is_active
    with pytest.raises(PermissionDenied):
        actions.create_token(Membership.objects.get(pk=m.pk), "another")
