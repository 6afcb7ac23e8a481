"""API tokens with a scope and an expiry: a monitor gateway's token records observations and reads
the floor, and nothing else its user's role may do; an expired token is refused like a revoked
one (accounts/api_access.py SCOPES, accounts/actions.py create_token; docs/security.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts import actions as accounts
from ketaclinic.accounts.models import ApiToken, Membership
from ketaclinic.audit.models import AuditEntry
from ketaclinic.infusions import actions
from ketaclinic.infusions.models import Observation
from tests.api.conftest import ApiClient
from tests.infusions.conftest import VITALS


@pytest.fixture
def checked_in(frontdesk, nurse, clinic_a, patient):
    session = actions.schedule_session(
        user=frontdesk, clinic=clinic_a, patient=patient, chair="Chair 3", scheduled_at=timezone.now()
    )
    return actions.transition(user=nurse, clinic=clinic_a, session=session, to="checked_in")


def api_with(user, **token):
    _, raw = accounts.create_token(Membership.objects.get(user=user), "gateway", **token)
    return ApiClient(raw)


def reading(key):
    return {"kind": "vitals", "idempotency_key": key, **VITALS}


def test_an_observations_token_records_readings_and_reads_the_floor_only(checked_in, nurse, patient):
    api = api_with(nurse, scope="observations")
    r = api.post(f"/api/infusions/{checked_in.pk}/observations", reading("m-1"))
    assert r.status_code == 201, r.content
    assert api.get("/api/infusions/floor").status_code == 200
    assert api.get(f"/api/infusions/{checked_in.pk}").status_code == 200
    # Everything else the nurse may do is refused for this token, naming the scope.
    for path in ("/api/patients", f"/api/patients/{patient.pk}", "/api/infusions"):
        refused = api.get(path)
        assert refused.status_code == 403, path
        assert "scope (a bedside device: record observations) does not cover GET" in refused.json()["detail"]
    refused = api.post(f"/api/infusions/{checked_in.pk}/transitions", {"to": "pre_checks"})
    assert refused.status_code == 403
    assert checked_in.transitions.count() == 1 and Observation.objects.count() == 1


def test_a_read_token_reads_and_writes_nothing(checked_in, nurse):
    api = api_with(nurse, scope="read")
    assert api.get("/api/patients").status_code == 200
    refused = api.post(f"/api/infusions/{checked_in.pk}/observations", reading("r-1"))
    assert refused.status_code == 403 and "read only" in refused.json()["detail"]
    assert not Observation.objects.exists()


def test_the_scope_narrows_the_role_and_never_widens_it(checked_in, frontdesk):
    # The front desk may not record observations; an observations token does not change that.
    api = api_with(frontdesk, scope="observations")
    r = api.post(f"/api/infusions/{checked_in.pk}/observations", reading("f-1"))
    assert r.status_code == 403 and not Observation.objects.exists()


def test_a_token_stops_working_when_it_expires(checked_in, nurse):
    api = api_with(nurse, days=1)
    token = ApiToken.objects.get()
    assert token.expires_at - timezone.now() == pytest.approx(timedelta(days=1), abs=timedelta(seconds=30))
    assert api.get("/api/patients").status_code == 200
    with time_machine.travel(token.expires_at - timedelta(seconds=1)):
        assert api.get("/api/patients").status_code == 200
    with time_machine.travel(token.expires_at + timedelta(seconds=1)):
        assert api.get("/api/patients").status_code == 401
        assert ApiToken.objects.get().is_expired and not ApiToken.objects.get().is_active


@pytest.mark.parametrize(
    ("token", "field"),
    [
        ({"scope": "everything"}, "scope"),
        ({"days": 0}, "days"),
        ({"days": 366}, "days"),
        ({"days": "30"}, "days"),
        ({"days": True}, "days"),
    ],
)
def test_a_bad_scope_or_lifetime_is_refused_and_no_token_made(nurse, token, field):
    with pytest.raises(ValidationError) as exc:
        accounts.create_token(Membership.objects.get(user=nurse), "gateway", **token)
    assert list(exc.value.message_dict) == [field]
    assert not ApiToken.objects.exists()


def test_the_account_page_issues_a_scoped_expiring_token(login, nurse, clinic_a):
    client = login(nurse)
    session = client.session
    session["clinic_id"] = clinic_a.pk
    session.save()
    r = client.post(
        reverse("accounts-tokens"), {"name": "monitor gateway", "scope": "observations", "days": "30"}
    )
    assert r.status_code == 200, r.content.decode()[:500]
    token = ApiToken.objects.get()
    assert token.scope == "observations"
    assert token.expires_at.date() == (timezone.now() + timedelta(days=30)).date()
    page = r.content.decode()
    assert "a bedside device: record observations" in page and "Copy this token now" in page
    created = AuditEntry.objects.get(action="token.create")
    assert (
        created.detail["scope"] == "observations"
        and created.detail["expires_at"] == token.expires_at.isoformat()
    )
    bad = client.post(reverse("accounts-tokens"), {"name": "x", "days": "400"})
    assert bad.status_code == 422 and ApiToken.objects.count() == 1
