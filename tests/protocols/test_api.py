"""The protocols API: same actions, same role and clinic rules as the pages."""

# pytest fixtures arrive as parameters, so test functions take many.
# ruff: noqa: PLR0917
from __future__ import annotations

import pytest

from ketaclinic.accounts.models import ApiToken, Membership
from ketaclinic.protocols.models import DoseOrder, DrugLibrary, LimitEvent, OrderStatus
from tests.conftest import PASSWORD  # noqa: E402


@pytest.fixture
def token_for(db):
    def make(user):
        raw, prefix, digest = ApiToken.generate()
        ApiToken.objects.create(
            membership=Membership.objects.get(user=user), name="t", prefix=prefix, token_hash=digest
        )
        return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    return make


def post(client, url, data, headers):
    return client.post(url, data, content_type="application/json", **headers)


def test_plan_and_order_over_the_api(client, token_for, prescriber, nurse, ready_patient, iv_protocol):
    h = token_for(prescriber)
    r = post(
        client,
        f"/api/patients/{ready_patient.pk}/plans",
        {
            "protocol_id": iv_protocol.pk,
            "indication": "trd",
            "goal_scale": "madrs",
            "response_rule": "pct_reduction",
            "response_value": "50",
            "sessions_planned": 6,
            "sign": True,
            "password": PASSWORD,
        },
        h,
    )
    assert r.status_code == 201, r.content
    plan_id = r.json()["id"]
    assert r.json()["status"] == "signed"

    r = post(
        client, f"/api/plans/{plan_id}/orders/preview", {"dose_mg_per_kg": "0.8", "duration_min": "40"}, h
    )
    assert r.status_code == 200 and r.json()["needs_override"] is True
    assert r.json()["computation"]["dose_mg"] == "56.0"
    assert r.json()["prediction"]["unnoticeable_min"] > 40
    assert not DoseOrder.objects.exists()

    r = post(
        client,
        f"/api/plans/{plan_id}/orders",
        {"dose_mg_per_kg": "0.8", "duration_min": "40", "password": PASSWORD},
        h,
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "override_reason"]

    r = post(
        client,
        f"/api/plans/{plan_id}/orders",
        {"dose_mg_per_kg": "1.5", "duration_min": "40", "password": PASSWORD},
        h,
    )
    assert r.status_code == 422
    assert any("hard maximum of 1 mg/kg" in d["msg"] for d in r.json()["detail"])
    assert LimitEvent.objects.filter(event="refusal").exists()

    r = post(
        client,
        f"/api/plans/{plan_id}/orders",
        {"dose_mg_per_kg": "0.8", "duration_min": "40", "override_reason": "Partial response"},
        h,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "password"  # re-authentication
    assert not DoseOrder.objects.exists()
    r = post(
        client,
        f"/api/plans/{plan_id}/orders",
        {
            "dose_mg_per_kg": "0.8",
            "duration_min": "40",
            "override_reason": "Partial response",
            "password": PASSWORD,
        },
        h,
    )
    assert r.status_code == 201
    order_id = r.json()["id"]
    assert r.json()["dose_mg_base"] == "56.0" and r.json()["library_version"] == 1

    hn = token_for(nurse)
    r = client.get(f"/api/orders/{order_id}", **hn)
    assert r.status_code == 200 and r.json()["dose_mg_base"] is None and r.json()["hidden_until_double_check"]
    r = post(
        client,
        f"/api/orders/{order_id}/double-check",
        {"weight": "70", "weight_unit": "kg", "dose_mg": "56", "rate_ml_per_h": "8.4"},
        hn,
    )
    assert r.status_code == 200 and r.json() == {
        "matched": True,
        "mismatches": [],
        "order_status": "verified",
    }
    assert DoseOrder.objects.get(pk=order_id).status == OrderStatus.VERIFIED
    r = client.get(f"/api/orders/{order_id}", **hn)
    assert r.json()["dose_mg_base"] == "56.0"


def test_api_roles_and_clinics(client, token_for, nurse, outsider, clinic_admin, prescriber, iv_plan):
    r = post(
        client,
        f"/api/plans/{iv_plan.pk}/orders",
        {"dose_mg_per_kg": "0.5", "duration_min": "40"},
        token_for(nurse),
    )
    assert r.status_code == 403
    r = client.get(f"/api/plans/{iv_plan.pk}", **token_for(outsider))
    assert r.status_code == 404
    r = client.get("/api/reports/limits", **token_for(prescriber))
    assert r.status_code == 403
    r = client.get("/api/reports/limits", **token_for(clinic_admin))
    assert r.status_code == 200 and r.json() == []
    assert client.get("/api/protocols").status_code == 401


def test_library_over_the_api(client, token_for, clinic_admin, clinic_a, library, prescriber):
    h = token_for(clinic_admin)
    lib = client.get("/api/library", **h).json()
    entry = next(e for e in lib["entries"] if e["key"] == "iv-depression")
    limits = {
        k: {
            "open": v["open"],
            **{b: v[b] for b in ("soft_min", "hard_min", "soft_max", "hard_max")},
            "source": v["source"],
        }
        for k, v in entry["limits"].items()
    }
    limits["bolus_mg"] = {"open": False}
    r = client.put(
        "/api/library/entries/iv-depression",
        {
            "name": entry["name"],
            "route": "iv",
            "product": "ketamine-10",
            "limits": limits,
            "reason": "Medical director allows a rescue bolus",
        },
        content_type="application/json",
        **h,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "bolus_mg__open"]
    limits["bolus_mg"] = {"open": True, "source": "bolus allowed without limit"}
    r = client.put(
        "/api/library/entries/iv-depression",
        {
            "name": entry["name"],
            "route": "iv",
            "product": "ketamine-10",
            "limits": limits,
            "reason": "Medical director allows a rescue bolus",
        },
        content_type="application/json",
        **h,
    )
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["status"] == "proposed"
    change = r.json()["changes"][0]
    assert change["what"] == "Bolus" and change["after"] == "open (no limit set)"
    assert DrugLibrary.current_for(clinic_a) == library
    assert client.get("/api/library", **h).json()["pending"]["version"] == 2
    review = f"/api/library/versions/{r.json()['id']}/review"
    approve = {"decision": "approve", "password": PASSWORD}
    r = client.post(review, approve, content_type="application/json", **h)
    assert r.status_code == 422 and "second person" in r.json()["detail"][0]["msg"]
    r = client.post(
        review,
        {"decision": "approve", "password": PASSWORD},
        content_type="application/json",
        **token_for(prescriber),
    )
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["reviewed_by"] == "priya"
    assert (
        DrugLibrary.current_for(clinic_a).entries.get(key="iv-depression").limits["bolus_mg"]["open"] is True
    )
