"""The access rules called directly, stated exactly: who ``require`` lets through and the words of
each refusal, another clinic's record refused by field, and what a signed-out or refused page
request gets back. (The whole role x clinic matrix over every URL is tests/test_access_matrix.py.)"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import RequestFactory

from ketaclinic.accounts import access
from ketaclinic.accounts.models import Membership, User
from ketaclinic.patients.models import Patient


def denial(call):
    with pytest.raises(PermissionDenied) as caught:
        call()
    return str(caught.value)


def test_require_returns_the_membership_that_grants_the_permission(clinic_a, prescriber):
    membership = access.require(prescriber, clinic_a, "orders.sign")
    assert (membership.user, membership.clinic, membership.role) == (prescriber, clinic_a, "prescriber")


def test_require_refuses_a_role_without_the_permission_in_words_it_names(clinic_a, nurse):
    assert denial(lambda: access.require(nurse, clinic_a, "orders.sign")) == (
        f"Your role (Nurse) at {clinic_a} does not allow this (orders.sign)."
    )


def test_require_refuses_another_clinics_user_and_an_inactive_membership(clinic_a, outsider, nurse):
    assert denial(lambda: access.require(outsider, clinic_a, "infusions.view")) == (
        f"bea holds no active role at {clinic_a} (infusions.view)."
    )
    Membership.objects.filter(user=nurse).update(is_active=False)
    assert denial(lambda: access.require(nurse, clinic_a, "infusions.view")) == (
        f"nate holds no active role at {clinic_a} (infusions.view)."
    )
    assert denial(lambda: access.require(User(), clinic_a, "infusions.view")) == (
        f"anonymous holds no active role at {clinic_a} (infusions.view)."
    )


def test_require_trusts_only_a_membership_of_this_user_in_this_clinic(
    clinic_a, clinic_b, nurse, outsider, prescriber
):
    mine = Membership.objects.get(user=nurse)
    assert access.require(nurse, clinic_a, "infusions.view", membership=mine) == mine
    theirs = Membership.objects.get(user=outsider)
    # another user's or another clinic's membership is not taken on trust: it is looked up again
    assert access.require(nurse, clinic_a, "infusions.view", membership=theirs) == mine
    with pytest.raises(PermissionDenied):
        access.require(outsider, clinic_a, "infusions.view", membership=theirs)
    # A colleague's membership in this clinic is not the nurse's: a prescriber's role signs nothing for her.
    colleague = Membership.objects.get(user=prescriber)
    assert access.require(nurse, clinic_a, "infusions.view", membership=colleague) == mine
    with pytest.raises(PermissionDenied, match=r"Your role \(Nurse\)"):
        access.require(nurse, clinic_a, "orders.sign", membership=colleague)
    inactive = Membership(user=nurse, clinic=clinic_a, role="nurse", is_active=False)
    inactive.user_id, inactive.clinic_id = nurse.pk, clinic_a.pk
    Membership.objects.filter(user=nurse).update(is_active=False)
    with pytest.raises(PermissionDenied):
        access.require(nurse, clinic_a, "infusions.view", membership=inactive)


def test_has_permission_needs_an_active_membership_with_the_role(clinic_a, nurse):
    membership = Membership.objects.get(user=nurse)
    assert access.has_permission(membership, "infusions.run")
    assert not access.has_permission(membership, "orders.sign")
    assert not access.has_permission(None, "infusions.run")
    membership.is_active = False
    assert not access.has_permission(membership, "infusions.run")


def test_an_unknown_permission_is_a_named_error():
    with pytest.raises(KeyError, match="unknown permission 'orders.sing'; add it to PERMISSIONS"):
        access.roles_for("orders.sing")


def test_another_clinics_record_is_refused_on_its_field(clinic_a, clinic_b):
    access.same_clinic(clinic_a.pk, clinic_a, "patient")
    for clinic_id in (clinic_b.pk, None):
        with pytest.raises(ValidationError) as caught:
            access.same_clinic(clinic_id, clinic_a, "patient")
        assert caught.value.message_dict == {"patient": ["No such record in this clinic."]}
        assert isinstance(caught.value, PermissionDenied)


@pytest.mark.parametrize("pk", ["abc", None, 2**70, -1])
def test_load_scoped_is_a_404_for_anything_not_this_clinics(clinic_a, pk):
    with pytest.raises(Http404) as caught:
        access.load_scoped(Patient, clinic_a, pk)
    assert str(caught.value) == "No such record in this clinic."


def test_load_scoped_through_the_clinic(clinic_a, clinic_b, patient, nurse):
    assert access.load_scoped(Patient, clinic_a, patient.pk) == patient
    assert access.load_scoped(Patient, clinic_a, str(patient.pk)) == patient
    with pytest.raises(Http404):
        access.load_scoped(Patient, clinic_b, patient.pk)


def test_a_signed_out_background_request_gets_a_401_that_swaps_nothing():
    response = access.signed_out()
    assert (response.status_code, response["HX-Reswap"], response["Content-Type"]) == (
        401,
        "none",
        "text/plain",
    )
    assert response.content == b"Signed out: sign in again to send this."


def _view(request, **kwargs):
    from django.http import HttpResponse

    return HttpResponse("ok " + ",".join(f"{k}={v.pk}" for k, v in kwargs.items()))


def test_clinic_view_answers_each_kind_of_caller(clinic_a, nurse, frontdesk, patient):
    from django.contrib.auth.models import AnonymousUser

    view = access.clinic_view("infusions.run", load={"patient": Patient})(_view)
    assert (view.access, view.loads) == ("infusions.run", {"patient": Patient})
    factory = RequestFactory()

    def call(user, membership=None, hx=False, pk=patient.pk):
        request = factory.get("/p/1/", **({"HTTP_HX_REQUEST": "true"} if hx else {}))
        request.user = user
        if membership is not None:
            request.membership = membership
        return view(request, patient_id=pk)

    signed_out = call(AnonymousUser())
    assert signed_out.status_code == 302 and signed_out["Location"].startswith("/accounts/login/?next=/p/1/")
    assert call(AnonymousUser(), hx=True).status_code == 401
    no_clinic = call(nurse)
    assert no_clinic.status_code == 302 and no_clinic["Location"] == "/accounts/clinic/"
    refused = call(frontdesk, Membership.objects.get(user=frontdesk))
    assert refused.status_code == 403
    assert (
        f"Your role (Front desk) at {clinic_a} does not allow this (infusions.run)."
        in refused.content.decode()
    )
    ok = call(nurse, Membership.objects.get(user=nurse))
    assert (ok.status_code, ok.content) == (200, f"ok patient={patient.pk}".encode())
    with pytest.raises(Http404):
        call(nurse, Membership.objects.get(user=nurse), pk=patient.pk + 1000)


def test_user_and_public_views_are_stamped(nurse):
    from django.contrib.auth.models import AnonymousUser

    user_only = access.user_view(_view)
    assert user_only.access == access.AUTHENTICATED
    request = RequestFactory().get("/me/")
    request.user = AnonymousUser()
    assert user_only(request).status_code == 302
    request.user = nurse
    assert user_only(request).content == b"ok "
    assert access.public_view(_view).access == access.PUBLIC
