"""Clinic admins manage the users of their own clinic, and only theirs; every change is audited."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts import actions
from ketaclinic.accounts.models import Membership, User
from ketaclinic.audit.models import AuditEntry
from tests.conftest import PASSWORD

GOOD_PASSWORD = "violet-ferry-harbour-47"


def membership(user):
    return Membership.objects.get(user=user)


def new_user_form(**over):
    data = {
        "username": "nina",
        "first_name": "Nina",
        "last_name": "Okafor",
        "email": "nina@example.org",
        "credentials": "RN",
        "role": "nurse",
        "password": GOOD_PASSWORD,
        "password2": GOOD_PASSWORD,
    }
    return data | over


def test_admin_adds_a_user(login, clinic_admin, clinic_a):
    client = login(clinic_admin)
    response = client.post(reverse("accounts-user-add"), new_user_form())
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts-users")

    nina = User.objects.get(username="nina")
    assert nina.check_password(GOOD_PASSWORD)
    assert nina.credentials == "RN"
    m = Membership.objects.get(user=nina)
    assert (m.clinic, m.role, m.is_active) == (clinic_a, "nurse", True)
    entry = AuditEntry.objects.get(action="user.create")
    assert entry.user == clinic_admin and entry.clinic == clinic_a
    assert entry.object_id == str(nina.pk) and entry.detail == {"username": "nina", "role": "nurse"}


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short1!", "too short"),
        ("password1234", "too common"),
        ("83749201837465", "entirely numeric"),
        ("nina@example.org", "too similar"),
    ],
)
def test_initial_password_must_pass_the_rules(login, clinic_admin, password, fragment):
    client = login(clinic_admin)
    response = client.post(reverse("accounts-user-add"), new_user_form(password=password, password2=password))
    assert response.status_code == 422
    assert fragment in response.content.decode()
    assert not User.objects.filter(username="nina").exists()
    assert not AuditEntry.objects.filter(action="user.create").exists()


def test_duplicate_username_and_unknown_role_are_named(login, clinic_admin, nurse):
    client = login(clinic_admin)
    response = client.post(reverse("accounts-user-add"), new_user_form(username="nate"))
    assert response.status_code == 422
    assert "username already exists" in response.content.decode()

    with pytest.raises(ValidationError) as exc:
        actions.create_user(membership(clinic_admin), username="x1", password=GOOD_PASSWORD, role="wizard")
    assert "role" in exc.value.message_dict
    assert User.objects.filter(username="x1").count() == 0


def test_only_admins_manage_users(login, personas):
    for name in ("prescriber", "nurse", "frontdesk", "auditor"):
        client = login(personas[name])
        assert client.get(reverse("accounts-users")).status_code == 403
        response = client.post(reverse("accounts-user-add"), new_user_form(username=f"x_{name}"))
        assert response.status_code == 403
    assert not User.objects.filter(username__startswith="x_").exists()
    with pytest.raises(PermissionDenied):
        actions.create_user(membership(personas["nurse"]), username="y", password=GOOD_PASSWORD, role="nurse")


def test_users_list_shows_this_clinic_only(login, personas, django_assert_max_num_queries):
    client = login(personas["admin"])
    with django_assert_max_num_queries(8):
        response = client.get(reverse("accounts-users"))
    body = response.content.decode()
    assert response.status_code == 200
    for name in ("priya", "nate", "fran", "ada", "otto"):
        assert name in body
    assert "bea" not in body  # the nurse of clinic B


def test_users_list_query_count_does_not_grow(login, clinic_admin, clinic_a, django_assert_max_num_queries):
    from tests.conftest import make_user

    for i in range(15):
        make_user(clinic_a, f"staff{i}", "nurse")
    client = login(clinic_admin)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("accounts-users")).status_code == 200


def test_change_role(login, clinic_admin, nurse, clinic_a):
    client = login(clinic_admin)
    m = membership(nurse)
    response = client.post(
        reverse("accounts-user-edit", kwargs={"member_id": m.pk}), {"op": "role", "role": "prescriber"}
    )
    assert response.status_code == 302
    m.refresh_from_db()
    assert m.role == "prescriber"
    entry = AuditEntry.objects.get(action="user.role_change")
    assert entry.detail == {"username": "nate", "from": "nurse", "to": "prescriber"}
    assert entry.clinic == clinic_a and entry.user == clinic_admin


def test_admin_cannot_remove_own_admin_role_or_deactivate_self(login, clinic_admin):
    client = login(clinic_admin)
    m = membership(clinic_admin)
    url = reverse("accounts-user-edit", kwargs={"member_id": m.pk})
    response = client.post(url, {"op": "role", "role": "nurse"})
    assert response.status_code == 422
    assert "cannot remove your own admin role" in response.content.decode()
    response = client.post(url, {"op": "deactivate"}, follow=True)
    assert "cannot deactivate yourself" in response.content.decode()
    m.refresh_from_db()
    assert (m.role, m.is_active) == ("admin", True)
    assert not AuditEntry.objects.filter(action__in=["user.role_change", "user.deactivate"]).exists()


def test_deactivate_and_reactivate(login, client, clinic_admin, nurse):
    admin = login(clinic_admin)
    m = membership(nurse)
    url = reverse("accounts-user-edit", kwargs={"member_id": m.pk})
    assert admin.post(url, {"op": "deactivate"}).status_code == 302
    m.refresh_from_db()
    assert m.is_active is False
    assert AuditEntry.objects.filter(action="user.deactivate", object_id=str(nurse.pk)).exists()

    # The deactivated nurse has no clinic left: clinic pages send them to choose one.
    nurse_client = type(client)()
    nurse_client.force_login(nurse)
    response = nurse_client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"] == reverse("accounts-choose-clinic")

    assert admin.post(url, {"op": "reactivate"}).status_code == 302
    m.refresh_from_db()
    assert m.is_active is True
    assert AuditEntry.objects.filter(action="user.reactivate").count() == 1


def test_unlock_a_locked_account(login, clinic_admin, nurse, settings):
    nurse.locked_until = timezone.now() + timezone.timedelta(minutes=10)
    nurse.failed_login_count = 0
    nurse.save()
    client = login(clinic_admin)
    page = client.get(reverse("accounts-users"))
    assert "locked until" in page.content.decode()
    response = client.post(
        reverse("accounts-user-edit", kwargs={"member_id": membership(nurse).pk}), {"op": "unlock"}
    )
    assert response.status_code == 302
    nurse.refresh_from_db()
    assert nurse.locked_until is None and not nurse.is_locked()
    assert AuditEntry.objects.get(action="user.unlock").detail == {"username": "nate", "was_locked": True}


def test_unlock_lifts_the_pause_of_every_address(login, clinic_admin, nurse, settings):
    from django.test import Client

    from ketaclinic.accounts.models import SignInFailure

    def sign_in(address, password):
        return Client(REMOTE_ADDR=address).post(
            reverse("accounts-login"), {"username": "nate", "password": password}
        )

    for _ in range(settings.LOCKOUT_ATTEMPTS):
        sign_in("10.0.0.9", "wrong")
    assert sign_in("10.0.0.9", PASSWORD).status_code == 401
    login(clinic_admin).post(
        reverse("accounts-user-edit", kwargs={"member_id": membership(nurse).pk}), {"op": "unlock"}
    )
    assert not SignInFailure.objects.filter(username="nate").exists()
    assert AuditEntry.objects.get(action="user.unlock").detail == {"username": "nate", "was_locked": True}
    assert sign_in("10.0.0.9", PASSWORD).status_code == 302


def test_reset_password(login, clinic_admin, nurse):
    client = login(clinic_admin)
    url = reverse("accounts-user-edit", kwargs={"member_id": membership(nurse).pk})
    response = client.post(url, {"op": "password", "new_password": "123"})
    assert response.status_code == 422
    assert "too short" in response.content.decode()
    nurse.refresh_from_db()
    assert not nurse.check_password("123")

    assert client.post(url, {"op": "password", "new_password": GOOD_PASSWORD}).status_code == 302
    nurse.refresh_from_db()
    assert nurse.check_password(GOOD_PASSWORD)
    assert AuditEntry.objects.filter(action="user.password_reset", object_id=str(nurse.pk)).count() == 1


def test_a_reset_password_must_be_replaced_before_anything_else_and_signs_nothing(
    login, clinic_admin, prescriber, clinic_a
):
    from django.test import Client

    from ketaclinic.accounts.actions import reauthenticate

    actions.reset_password(membership(clinic_admin), membership(prescriber), GOOD_PASSWORD)
    prescriber.refresh_from_db()
    assert prescriber.must_change_password
    # Whoever holds the reset password (the admin knows it) signs nothing with it.
    with pytest.raises(ValidationError, match="An admin reset your password: choose your own first"):
        reauthenticate(prescriber, GOOD_PASSWORD)

    client = Client()
    assert (
        client.post(reverse("accounts-login"), {"username": "priya", "password": GOOD_PASSWORD}).status_code
        == 302
    )
    for name in ("home", "patients-list"):
        response = client.get(reverse(name))
        assert (response.status_code, response["Location"]) == (302, reverse("accounts-password"))
    assert client.get(reverse("patients-list"), HTTP_HX_REQUEST="true").status_code == 401
    assert client.get(reverse("accounts-password")).status_code == 200

    own = "my-own-quiet-river-2026"
    changed = client.post(
        reverse("accounts-password"),
        {"old_password": GOOD_PASSWORD, "new_password": own, "new_password2": own},
    )
    assert changed.status_code == 302
    prescriber.refresh_from_db()
    assert not prescriber.must_change_password
    assert client.get(reverse("patients-list")).status_code == 200
    reauthenticate(prescriber, own)


def test_no_password_reset_for_someone_who_also_works_elsewhere(clinic_admin, nurse, clinic_b):
    Membership.objects.create(user=nurse, clinic=clinic_b, role="nurse")
    target = Membership.objects.get(user=nurse, clinic=clinic_admin.memberships.get().clinic)
    with pytest.raises(ValidationError) as exc:
        actions.reset_password(membership(clinic_admin), target, GOOD_PASSWORD)
    assert "new_password" in exc.value.message_dict
    nurse.refresh_from_db()
    assert not nurse.check_password(GOOD_PASSWORD)


def test_admin_of_a_cannot_touch_users_of_b(login, clinic_admin, outsider):
    client = login(clinic_admin)
    theirs = membership(outsider)
    url = reverse("accounts-user-edit", kwargs={"member_id": theirs.pk})
    assert client.get(url).status_code == 404
    for data in (
        {"op": "role", "role": "admin"},
        {"op": "deactivate"},
        {"op": "password", "new_password": GOOD_PASSWORD},
    ):
        assert client.post(url, data).status_code == 404
    theirs.refresh_from_db()
    outsider.refresh_from_db()
    assert (theirs.role, theirs.is_active) == ("nurse", True)
    assert not outsider.check_password(GOOD_PASSWORD)
    # The action refuses too, whoever calls it.
    with pytest.raises(PermissionDenied):
        actions.change_role(membership(clinic_admin), theirs, "admin")
    assert not AuditEntry.objects.filter(action__startswith="user.").exists()


def test_unknown_operation_changes_nothing(login, clinic_admin, nurse):
    client = login(clinic_admin)
    m = membership(nurse)
    response = client.post(reverse("accounts-user-edit", kwargs={"member_id": m.pk}), {"op": "delete"})
    assert response.status_code == 302
    assert Membership.objects.filter(pk=m.pk, is_active=True, role="nurse").exists()
    assert not AuditEntry.objects.exists()
