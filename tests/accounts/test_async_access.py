"""The async door (``async_clinic_view``) and the live streams' re-check (``stream_guard``), called
directly: each kind of caller, and each way a reader stops being allowed. The streams that use
them end to end are tests/events/test_stream_guard.py."""

from __future__ import annotations

from importlib import import_module

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpResponse
from django.test import AsyncRequestFactory

from ketaclinic.accounts import access
from ketaclinic.accounts.models import Membership, User
from ketaclinic.patients.models import Patient

SessionStore = import_module(settings.SESSION_ENGINE).SessionStore


def signed_in_session(user):
    store = SessionStore()
    if user.pk is not None:
        store[SESSION_KEY] = str(user.pk)
    store.create()
    return store


def make_request(user, membership=None, session=None):
    request = AsyncRequestFactory().get("/stream/1/")
    request.user = user

    async def auser():
        return user

    request.auser = auser
    request.session = session if session is not None else signed_in_session(user)
    if membership is not None:
        request.membership = membership
    return request


def member(user):
    # As the middleware loads it, with its clinic: an async view reads no row lazily.
    return Membership.objects.select_related("clinic").get(user=user)


async def _view(request, **kwargs):
    allowed = await request.stream_allowed()
    loaded = ",".join(f"{k}={v.pk}" for k, v in kwargs.items())
    return HttpResponse(f"ok {loaded} allowed={allowed}")


def test_async_clinic_view_answers_each_kind_of_caller(clinic_a, nurse, frontdesk, patient):
    view = access.async_clinic_view("infusions.run", load={"patient": Patient})(_view)
    assert (view.access, view.loads, view.__name__) == ("infusions.run", {"patient": Patient}, "_view")

    def call(user, membership=None, pk=patient.pk):
        return async_to_sync(view)(make_request(user, membership), patient_id=pk)

    anonymous = call(AnonymousUser())
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/?next=/stream/1/")
    no_clinic = call(nurse)
    assert (no_clinic.status_code, no_clinic["Location"]) == (302, "/accounts/clinic/")
    refused = call(frontdesk, member(frontdesk))
    assert refused.status_code == 403
    assert (
        f"Your role (Front desk) at {clinic_a} does not allow this (infusions.run)."
        in refused.content.decode()
    )
    ok = call(nurse, member(nurse))
    assert (ok.status_code, ok.content) == (200, f"ok patient={patient.pk} allowed=True".encode())
    with pytest.raises(Http404):
        call(nurse, member(nurse), pk=patient.pk + 1000)


def test_async_clinic_view_without_loaders_passes_the_url_kwargs_through(clinic_a, nurse):
    async def view(request, **kwargs):
        return HttpResponse(repr(sorted(kwargs)))

    wrapped = access.async_clinic_view("infusions.board")(view)
    assert wrapped.loads == {}
    response = async_to_sync(wrapped)(make_request(nurse, member(nurse)), page="2")
    assert response.content == b"['page']"


def test_async_clinic_view_fails_at_import_on_an_unknown_permission():
    with pytest.raises(KeyError, match="unknown permission 'infusions.veiw'"):
        access.async_clinic_view("infusions.veiw")


def guard_answer(user, membership, permission="clinic.home", session=None):
    guard = access.stream_guard(make_request(user, membership, session), permission)
    return async_to_sync(guard)()


# "clinic.home" is every role's: a guard that dropped any one of its conditions would find another
# active member of the clinic (the prescriber) and say yes where the answer is no.
def test_the_guard_says_yes_while_the_reader_is_still_allowed(clinic_a, nurse, prescriber):
    assert guard_answer(nurse, Membership.objects.get(user=nurse)) is True
    assert guard_answer(nurse, Membership.objects.get(user=nurse), "infusions.run") is True


def test_the_guard_says_no_after_sign_out(clinic_a, nurse, prescriber):
    membership = Membership.objects.get(user=nurse)
    session = signed_in_session(nurse)
    guard = access.stream_guard(make_request(nurse, membership, session), "clinic.home")
    assert async_to_sync(guard)() is True
    session.delete()
    assert async_to_sync(guard)() is False


def test_the_guard_says_no_to_a_session_that_was_never_saved(clinic_a, nurse, prescriber):
    assert guard_answer(nurse, Membership.objects.get(user=nurse), session=SessionStore()) is False


def test_the_guard_says_no_when_the_session_now_holds_another_user(clinic_a, nurse, prescriber):
    membership = Membership.objects.get(user=nurse)
    assert guard_answer(nurse, membership, session=signed_in_session(prescriber)) is False


def test_the_guard_says_no_to_an_anonymous_reader(clinic_a, nurse, prescriber):
    anonymous_session = SessionStore()
    anonymous_session.create()
    assert (
        guard_answer(AnonymousUser(), Membership.objects.get(user=nurse), session=anonymous_session) is False
    )


def test_the_guard_says_no_after_deactivation(clinic_a, nurse, prescriber):
    membership = Membership.objects.get(user=nurse)
    User.objects.filter(pk=nurse.pk).update(is_active=False)
    assert guard_answer(nurse, membership) is False


def test_the_guard_says_no_after_the_role_in_this_clinic_ends(clinic_a, clinic_b, nurse, prescriber):
    membership = Membership.objects.get(user=nurse)
    Membership.objects.filter(pk=membership.pk).update(is_active=False)
    # A role in another clinic does not keep this clinic's stream open.
    Membership.objects.create(user=nurse, clinic=clinic_b, role="nurse", is_active=True)
    assert guard_answer(nurse, membership) is False


def test_the_guard_says_no_when_the_role_no_longer_grants_the_permission(clinic_a, nurse, prescriber):
    membership = Membership.objects.get(user=nurse)
    Membership.objects.filter(pk=membership.pk).update(role="frontdesk")
    assert guard_answer(nurse, membership, "infusions.run") is False
    assert guard_answer(nurse, membership, "clinic.home") is True


def test_forbidden_renders_the_page_for_the_request(rf, nurse):
    request = rf.get("/x/")
    request.user = nurse
    response = access.forbidden(request, "Not for you <b>today</b>.")
    assert response.status_code == 403
    body = response.content.decode()
    assert "Not for you &lt;b&gt;today&lt;/b&gt;." in body  # escaped, never markup
    assert "<h1>Not allowed</h1>" in body
    assert 'data-user="nate"' in body  # drawn for this request: the page knows who is signed in
