"""Every URL and every API operation against the role x clinic access matrix.

1. Every URL pattern of the project and every django-ninja operation carries an ``.access`` stamp
   (from ``clinic_view``/``user_view``/``public_view`` or ``api_access``) naming a permission of
   ``accounts.access.PERMISSIONS``; a view without one fails here.
2. Each clinic-scoped page and operation is requested as every persona: anonymous, the five roles
   of clinic A, and the nurse of clinic B. What each should get is computed from PERMISSIONS:

   | who                         | page                         | API |
   |-----------------------------|------------------------------|-----|
   | anonymous                   | 302 to the sign-in page      | 401 |
   | role without the permission | 403                          | 403 |
   | clinic B (outsider)         | 403/404, or 200 without any of clinic A's data |
   | role holding it             | not 403/404 (200, 302, 405 for POST-only, 422 for an empty API body) |

URL kwargs ``<name>_id`` get the id of a real object of clinic A: the model comes from the view's
``load`` mapping (``clinic_view(..., load={"patient": Patient})`` stamps ``.loads``), the object from
``Model.in_clinic(clinic_a)``, seeded below. A model nobody seeded yet gets an id that exists in no
clinic, and then the role holding the permission must get 404: the scoping still shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from ketaclinic.accounts.access import AUTHENTICATED, PERMISSIONS, PUBLIC, has_permission
from ketaclinic.accounts.models import ApiToken, Membership
from ketaclinic.api import api

# URL patterns that carry no stamp, each with the reason.
UNSTAMPED_OK = {
    "api:api-root": "django-ninja's root: always 404; it exists so reverse() knows the API prefix",
}
# Anything matching these is served without a view of ours (none in the URLconf today).
STATIC_PREFIXES = ("static/", "media/")

# Pages that need a query string to show anything (without it they answer 404 by design).
QUERY = {"protocols-copy": "?template=iv-racemic-depression"}

# Pages that answer 404 by design for the seeded object (role checks still run before it).
NOT_FOR_THIS_OBJECT = {"infusions-rems": "the REMS form is for esketamine sessions; the seeded session is IV"}

ROLES = ("prescriber", "nurse", "frontdesk", "admin", "auditor")
MISSING_ID = 987654321


@dataclass
class Route:
    route: str
    name: str
    callback: Callable[..., Any]
    methods: tuple[str, ...] = ()
    loads: dict[str, type] = field(default_factory=dict)

    @property
    def access(self) -> str | None:
        return getattr(self.callback, "access", None)

    @property
    def kwargs(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.route) + re.findall(r"{(?:\w+:)?(\w+)}", self.route)


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}:{p.namespace}".strip(":") if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}".strip(":") if p.name else ""
            yield Route(prefix + str(p.pattern), name, p.callback, loads=getattr(p.callback, "loads", {}))


def is_ninja_operation_view(callback: Any) -> bool:
    return getattr(callback, "__qualname__", "").startswith("PathView.get_view")


def url_routes() -> list[Route]:
    return [
        r
        for r in _walk(get_resolver().url_patterns)
        if not r.route.startswith(STATIC_PREFIXES) and not is_ninja_operation_view(r.callback)
    ]


def api_routes() -> list[Route]:
    out = []
    for bound in api._get_bound_routers():
        prefix = bound.prefix.strip("/")
        for path, path_view in bound.path_operations.items():
            for op in path_view.operations:
                full = "/api/" + "/".join(p for p in (prefix, path.strip("/")) if p)
                loads = getattr(op.view_func, "loads", {})
                out.append(Route(full, op.view_func.__name__, op.view_func, tuple(op.methods), loads))
    return out


URLS = url_routes()
OPERATIONS = api_routes()
CLINIC_URLS = [r for r in URLS if r.access in PERMISSIONS]


# ----- 1. every view is stamped ----------------------------------------------------------------


def test_every_url_is_stamped():
    missing = [
        f"{r.route} ({r.name or r.callback})" for r in URLS if r.access is None and r.name not in UNSTAMPED_OK
    ]
    assert not missing, "views without clinic_view/user_view/public_view: " + ", ".join(missing)
    unknown = [r.route for r in URLS if r.access not in (*PERMISSIONS, PUBLIC, AUTHENTICATED, None)]
    assert not unknown, f"stamped with a permission missing from PERMISSIONS: {unknown}"
    assert len(CLINIC_URLS) >= 10


def test_every_api_operation_is_stamped():
    assert OPERATIONS, "no API operations found"
    missing = [f"{op.methods} {op.route}" for op in OPERATIONS if op.access not in PERMISSIONS]
    assert not missing, "API operations without api_access(<permission>): " + ", ".join(missing)
    # The URLconf serves exactly these operations, none beside them.
    ninja_patterns = [r for r in _walk(get_resolver().url_patterns) if is_ninja_operation_view(r.callback)]
    assert len(ninja_patterns) == len(OPERATIONS)


def test_exemptions_are_still_needed():
    names = {r.name for r in URLS}
    stale = [name for name in UNSTAMPED_OK if name not in names]
    assert not stale, f"remove these from UNSTAMPED_OK: {stale}"


# ----- seeding clinic A ------------------------------------------------------------------------


@pytest.fixture
def world(personas, patient, clinic_a):
    """One of each record of clinic A that a URL can name, and the values of other URL kwargs."""
    from ketaclinic.patients.models import Consent, ConsentText, Intake, Patient, Screening, WeightMeasurement

    nurse, prescriber, admin = personas["nurse"], personas["prescriber"], personas["admin"]
    now = timezone.now()
    # Names found nowhere else (not in a form's example text), so a leak to clinic B shows.
    Patient.objects.filter(pk=patient.pk).update(mrn="A-7Q9X", family_name="Quillfeather")
    patient.refresh_from_db()
    WeightMeasurement.objects.create(
        patient=patient,
        measured_at=now,
        weight_kg=Decimal("70"),
        entered_value=Decimal("70"),
        entered_unit="kg",
        recorded_by=nurse,
    )
    intake = Intake.objects.create(patient=patient, version=1, taken_by=nurse, history={})
    Screening.objects.create(
        patient=patient,
        intake=intake,
        findings=[],
        decision="eligible",
        signed_by=prescriber,
        signed_at=now,
        expires_at=now + timedelta(days=365),
        rules_version="test",
    )
    text = ConsentText.objects.create(
        clinic=clinic_a, title="Treatment", version="1", body="...", created_by=admin
    )
    Consent.objects.create(
        patient=patient,
        text=text,
        signed_by_name="Maria Lopez",
        signed_at=now,
        witness=nurse,
        recorded_by=nurse,
    )
    extra: dict[str, Any] = {"version": intake.version}
    _seed_protocols(clinic_a, personas, patient, extra)
    _seed_ledger(clinic_a, personas, patient)
    return {"clinic": clinic_a, "patient": patient, "extra": extra}


def _seed_ledger(clinic_a, personas, patient) -> None:
    """Stock, a session with a draw closed out short (a discrepancy), a count, a loss report."""
    from ketaclinic.ledger import actions
    from tests.infusions.conftest import make_order, ready_for_dosing, scheduled
    from tests.ledger.conftest import keep_ledger, receive, sign

    admin, nurse, prescriber = personas["admin"], personas["nurse"], personas["prescriber"]
    safe, vials, _ = keep_ledger(clinic_a, admin, [admin, nurse, prescriber])
    vial = receive(clinic_a, admin, nurse, vials, safe).containers.first()
    order = make_order(clinic_a, prescriber, nurse, patient, admin)
    session = ready_for_dosing(nurse, clinic_a, scheduled(personas["frontdesk"], nurse, clinic_a, order))
    actions.draw(user=nurse, clinic=clinic_a, session=session, container=vial, ml="5")
    from ketaclinic.infusions import actions as infusions

    infusions.transition(user=nurse, clinic=clinic_a, session=session, to="aborted", reason="patient unwell")
    actions.close_out(user=nurse, clinic=clinic_a, session=session, wasted="4", witness=sign(prescriber))
    actions.record_count(
        user=nurse,
        clinic=clinic_a,
        location=safe,
        kind="daily",
        counted={c.pk: str(c.balance_ml) for c in safe.containers.all()},
        witness=sign(prescriber),
    )
    actions.report_loss(
        user=admin,
        clinic=clinic_a,
        kind="significant_loss",
        discovered_at=timezone.now(),
        quantity_mg="1",
        description="Vial dropped and broken in the safe",
        container=vial,
    )


def _seed_protocols(clinic_a, personas, patient, extra: dict[str, Any]) -> None:
    from ketaclinic.protocols import actions as protocol_actions
    from ketaclinic.protocols.models import LibraryEntry

    admin, prescriber = personas["admin"], personas["prescriber"]
    library = protocol_actions.create_default_library(admin, clinic_a)
    template = "iv-racemic-depression"
    protocol = protocol_actions.copy_protocol(admin, clinic_a, source_template=template, name="IV depression")
    protocol_actions.create_plan(
        prescriber,
        clinic_a,
        patient,
        protocol=protocol,
        indication="trd",
        goal_scale="madrs",
        response_rule="pct_reduction",
        response_value="50",
        sessions_planned=6,
        baseline_score="32",
        sign=False,
    )
    extra["code"] = template
    extra["library_id"] = library.pk
    extra["key"] = LibraryEntry.objects.filter(library=library).values_list("key", flat=True).first()


def fill(route: Route, world: dict[str, Any]) -> tuple[str, bool]:
    """(route with its kwargs filled in, whether a loaded model had no object and got MISSING_ID)."""
    values: dict[str, Any] = {}
    missing = False
    for kwarg in route.kwargs:
        name = kwarg.removesuffix("_id")
        if kwarg.endswith("_id") and name in route.loads:
            obj = route.loads[name].in_clinic(world["clinic"]).order_by("pk").first()
            values[kwarg] = obj.pk if obj is not None else MISSING_ID
            missing = missing or obj is None
        elif kwarg in world["extra"]:
            values[kwarg] = world["extra"][kwarg]
        else:
            pytest.fail(f"{route.route}: no value for <{kwarg}>; seed it in world() of {__name__}")
    path = route.route
    for key, value in values.items():
        path = re.sub(rf"<(?:\w+:)?{key}>|{{(?:\w+:)?{key}}}", str(value), path)
    return ("/" + path.lstrip("/")), missing


def clinic_a_markers(world: dict[str, Any]) -> list[str]:
    return [world["clinic"].name, world["patient"].mrn, world["patient"].family_name]


def body_of(response) -> str:
    # A stream (CSV export, live events) is not read: it may never end. Nor is it closed, since
    # closing fires request_finished, which drops the test's database connection on PostgreSQL.
    if getattr(response, "streaming", False):
        return ""
    return response.content.decode(errors="replace")


# ----- 2. the matrix for pages -----------------------------------------------------------------


@pytest.mark.parametrize("route", CLINIC_URLS, ids=lambda r: r.name or r.route)
def test_page_matrix(route: Route, world, personas):
    path, missing = fill(route, world)
    path += QUERY.get(route.name, "")
    permission = route.access
    login_url = reverse("accounts-login")

    # A POST-only view answers GET with 405 (when require_POST sits outside the access decorator,
    # even before the sign-in check); such views are tried with an empty POST instead.
    method = "get"
    response = Client().get(path)
    if response.status_code == 405:
        method = "post"
        response = Client().post(path)
    assert response.status_code == 302 and response["Location"].startswith(login_url), "anonymous"

    for who in (*ROLES, "outsider"):
        user = personas[who]
        membership = Membership.objects.get(user=user)
        client = Client()
        client.force_login(user)
        response = getattr(client, method)(path)
        status, body = response.status_code, body_of(response)
        allowed = has_permission(membership, permission)
        if not allowed:
            assert status == 403, f"{who} lacks {permission} but got {status} on {method.upper()}"
        elif who == "outsider":
            assert status in (403, 404) or not any(m in body for m in clinic_a_markers(world)), (
                f"the nurse of clinic B got {status} with clinic A data"
            )
        elif missing or route.name in NOT_FOR_THIS_OBJECT:
            assert status == 404, f"{who}: an id of no clinic must be 404, got {status}"
        else:
            ok = (200, 302, 405) if method == "get" else (200, 302, 400, 422)
            assert status in ok, f"{who} holds {permission} but got {status} on {method.upper()}"
            if status == 302:
                assert not response["Location"].startswith(login_url)


@pytest.mark.parametrize("route", [r for r in URLS if r.access == AUTHENTICATED], ids=lambda r: r.name)
def test_signed_in_pages_need_a_sign_in(route: Route, world):
    token = ApiToken.objects.create(
        membership=Membership.objects.first(), name="x", prefix="kc_x", token_hash="0" * 64
    )
    path, _ = fill(route, world | {"extra": world["extra"] | {"token_id": token.pk}})
    response = Client().get(path)
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts-login"))


# ----- 2b. the matrix for the API --------------------------------------------------------------


def call(client: Client, method: str, path: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "GET":
        return client.get(path, headers=headers)
    return client.generic(method, path, data="{}", content_type="application/json", headers=headers)


@pytest.mark.parametrize(
    ("route", "method"),
    [(r, m) for r in OPERATIONS for m in r.methods],
    ids=lambda v: v.name if isinstance(v, Route) else v,
)
def test_api_matrix(route: Route, method: str, world, personas):
    from ketaclinic.accounts import actions

    path, missing = fill(route, world)
    assert call(Client(), method, path, None).status_code == 401, "anonymous"

    for who in (*ROLES, "outsider"):
        membership = Membership.objects.get(user=personas[who])
        _, raw = actions.create_token(membership, "matrix")
        response = call(Client(), method, path, raw)
        status, body = response.status_code, body_of(response)
        allowed = has_permission(membership, route.access)
        if not allowed:
            assert status == 403, f"{who} lacks {route.access} but got {status}: {body[:200]}"
        elif who == "outsider":
            assert status in (403, 404, 422) or not any(m in body for m in clinic_a_markers(world)), (
                f"the nurse of clinic B got {status} with clinic A data"
            )
        elif missing:
            # ninja validates the (empty) body before the id is loaded: 422 then, the same for
            # every id, so it tells nothing about records of other clinics.
            expected = (404,) if method == "GET" else (404, 422)
            assert status in expected, f"{who}: an id of no clinic must be 404, got {status}"
        else:
            expected = (200,) if method == "GET" else (200, 201, 422)
            assert status in expected, f"{who} holds {route.access} but got {status}: {body[:300]}"
