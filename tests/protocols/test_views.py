"""Pages: each role sees what it may, another clinic sees nothing, forms show errors next to fields,
the order page previews live (htmx fragment), the nurse checks without seeing the numbers."""

# pytest fixtures arrive as parameters, so test functions take many.
# ruff: noqa: PLR0917
from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.protocols import actions
from ketaclinic.protocols.models import (
    DoseOrder,
    DrugLibrary,
    LimitEvent,
    OrderStatus,
    Protocol,
    TreatmentPlan,
)
from tests.conftest import PASSWORD  # noqa: E402
from tests.protocols.conftest import IV_DOSE


def test_protocol_list_and_detail(login, prescriber, iv_protocol):
    client = login(prescriber)
    r = client.get(reverse("protocols-list"))
    assert r.status_code == 200
    assert "IV depression" in r.content.decode()
    r = client.get(reverse("protocols-detail", args=[iv_protocol.pk]))
    body = r.content.decode()
    assert "0.5 mg/kg over 40 min" in body
    assert "clinical.md §2.2 [S30]" in body and "clinical.md §1.4 [S19]" in body  # cited BP gates
    r = client.get(reverse("protocols-template", args=["iv-racemic-chronic-pain"]))
    assert "unconfirmed" in r.content.decode()


def test_frontdesk_and_outsider_cannot_see_protocol_pages(login, frontdesk, outsider, iv_protocol):
    assert login(frontdesk).get(reverse("protocols-list")).status_code == 403
    r = login(outsider).get(reverse("protocols-detail", args=[iv_protocol.pk]))
    assert r.status_code == 404


def test_admin_copies_a_template_through_the_page(login, clinic_admin, library):
    client = login(clinic_admin)
    url = reverse("protocols-copy") + "?template=iv-racemic-depression"
    assert client.get(url).status_code == 200
    r = client.post(
        url, {"template": "iv-racemic-depression", "name": "IV slow", "duration_min": "60", "reason": ""}
    )
    assert r.status_code == 400
    assert "Say why the defaults were adjusted" in r.content.decode()
    assert not Protocol.objects.exists()
    r = client.post(
        url,
        {
            "template": "iv-racemic-depression",
            "name": "IV slow",
            "duration_min": "60",
            "reason": "Tolerability",
        },
    )
    proto = Protocol.objects.get()
    assert r.status_code == 302 and proto.dose["duration_min"] == "60"


def test_prescriber_cannot_copy_protocols(login, prescriber, library):
    r = login(prescriber).post(reverse("protocols-copy") + "?template=iv-racemic-depression", {"name": "x"})
    assert r.status_code == 403


def test_library_page_and_editor(login, clinic_admin, clinic_a, auditor, prescriber):
    client = login(clinic_admin)
    r = client.get(reverse("protocols-library"))
    assert "Create the library from the cited defaults" in r.content.decode()
    client.post(reverse("protocols-library-create"))
    lib = DrugLibrary.objects.get(clinic=clinic_a)
    r = client.get(reverse("protocols-library"))
    assert "open: no limit set" in r.content.decode()
    url = reverse("protocols-library-entry", args=["iv-depression"])
    form = client.get(url)
    assert form.status_code == 200
    data = {k: v for k, v in form.context["values"].items() if v not in (None, False)}
    data["dose_mg_per_kg__open"] = "on" if False else ""
    data["dose_mg_per_kg__hard_max"] = "0.9"
    data["reason"] = "Cap lowered by the medical director"
    # Bad input: error next to the field, nothing written.
    r = client.post(url, {**data, "dose_mg_per_kg__hard_max": "abc"})
    assert r.status_code == 400 and "is not a number" in r.content.decode()
    assert DrugLibrary.objects.filter(clinic=clinic_a).count() == 1
    r = client.post(url, data)
    assert r.status_code == 302, r.content.decode()[:2000]
    proposed = DrugLibrary.objects.get(clinic=clinic_a, version=2)
    assert proposed.status == "proposed" and DrugLibrary.current_for(clinic_a) == lib
    assert proposed.entries.get(key="iv-depression").limits["dose_mg_per_kg"]["hard_max"] == "0.9"
    # The proposer sees the change but no way to approve it; editing again waits for the review.
    page = client.get(reverse("protocols-library")).content.decode()
    assert "awaiting a second person" in page and "hard max 0.9 mg/kg" in page
    assert "You proposed it" in page and "Approve: put v2 in force" not in page
    assert client.get(url).status_code == 302
    # The prescriber (a second person) approves it with their password; it is in force.
    page = login(prescriber).get(reverse("protocols-library")).content.decode()
    assert "Approve: put v2 in force" in page
    r = client.post(
        reverse("protocols-library-review", args=[proposed.pk]),
        {"decision": "approve", "password": "correct horse battery staple"},
    )
    assert r.status_code == 302
    assert DrugLibrary.current_for(clinic_a) == proposed
    # The auditor reads the library but cannot edit it.
    auditor_client = login(auditor)
    assert auditor_client.get(reverse("protocols-library")).status_code == 200
    assert auditor_client.get(url).status_code == 403


def test_plan_create_and_sign_pages(login, prescriber, ready_patient, iv_protocol):
    client = login(prescriber)
    url = reverse("protocols-plan-new", args=[ready_patient.pk])
    assert client.get(url).status_code == 200
    bad = client.post(
        url,
        {
            "protocol": iv_protocol.pk,
            "indication": "trd",
            "goal_scale": "madrs",
            "response_rule": "pct_reduction",
            "response_value": "",
            "sessions_planned": "6",
        },
    )
    assert bad.status_code == 400 and "Enter a number." in bad.content.decode()
    r = client.post(
        url,
        {
            "protocol": iv_protocol.pk,
            "indication": "trd",
            "goal_scale": "madrs",
            "response_rule": "pct_reduction",
            "response_value": "50",
            "sessions_planned": "6",
        },
    )
    plan = TreatmentPlan.objects.get()
    assert r.status_code == 302 and plan.status == "draft"
    r = client.post(reverse("protocols-plan-sign", args=[plan.pk]), {"password": "not mine"})
    plan.refresh_from_db()
    assert plan.status == "draft"  # a signature needs the signer's own password
    r = client.post(reverse("protocols-plan-sign", args=[plan.pk]), {"password": PASSWORD})
    plan.refresh_from_db()
    assert plan.status == "signed"
    r = client.get(reverse("protocols-plan-detail", args=[plan.pk]))
    assert "Order a dose" in r.content.decode()
    assert AuditEntry.objects.filter(action="plan.view", object_id=str(plan.pk)).exists()


def test_nurse_cannot_sign_a_plan(login, nurse, prescriber, clinic_a, ready_patient, iv_protocol):
    plan = actions.create_plan(
        prescriber,
        clinic_a,
        ready_patient,
        protocol=iv_protocol,
        indication="trd",
        goal_scale="madrs",
        response_rule="pct_reduction",
        response_value="50",
        sessions_planned=6,
    )
    r = login(nurse).post(reverse("protocols-plan-sign", args=[plan.pk]))
    assert r.status_code == 403
    plan.refresh_from_db()
    assert plan.status == "draft"


def test_order_page_previews_live_with_the_engine(login, prescriber, iv_plan):
    client = login(prescriber)
    r = client.get(reverse("protocols-order-new", args=[iv_plan.pk]))
    body = r.content.decode()
    assert r.status_code == 200
    assert 'hx-post="' + reverse("protocols-order-preview", args=[iv_plan.pk]) in body
    assert "35 mg ketamine base" in body and "<svg" in body
    r = client.post(
        reverse("protocols-order-preview", args=[iv_plan.pk]),
        {"product": "ketamine-10", "dose_mg_per_kg": "0.8", "duration_min": "40"},
        HTTP_HX_REQUEST="true",
    )
    frag = r.content.decode()
    assert r.status_code == 200 and "<html" not in frag
    assert "56 mg ketamine base" in frag
    assert "soft maximum of 0.75 mg/kg" in frag
    assert "No longer noticeable" in frag and "5th–95th percentile" in frag
    r = client.post(
        reverse("protocols-order-preview", args=[iv_plan.pk]),
        {"product": "ketamine-10", "dose_mg_per_kg": "abc", "duration_min": "40"},
    )
    assert "is not a number" in r.content.decode()
    assert not DoseOrder.objects.exists()


def test_sign_override_and_refusal_through_the_page(login, prescriber, iv_plan):
    client = login(prescriber)
    url = reverse("protocols-order-new", args=[iv_plan.pk])
    form = {
        "action": "sign",
        "product": "ketamine-10",
        "dose_mg_per_kg": "0.8",
        "duration_min": "40",
        "password": PASSWORD,
    }
    r = client.post(url, form)
    assert r.status_code == 400 and "Give the clinical reason to override" in r.content.decode()
    r = client.post(url, form | {"dose_mg_per_kg": "1.2", "override_reason": "x"})
    assert r.status_code == 400 and "hard maximum of 1 mg/kg: refused" in r.content.decode()
    assert not DoseOrder.objects.exists() and LimitEvent.objects.filter(event="refusal").exists()
    r = client.post(url, form | {"override_reason": "Partial response"})
    order = DoseOrder.objects.get()
    assert r.status_code == 302 and r["Location"] == reverse("protocols-order-detail", args=[order.pk])
    assert order.override_reason == "Partial response"


def test_nurse_double_checks_without_seeing_the_numbers(login, nurse, prescriber, clinic_a, iv_plan):
    # The page shows the order's times (HH:MM); at 22:35 they would contain "35" and the check
    # below would fail for the clock's sake. Sign and read at ten past the next hour.
    moment = timezone.now().replace(minute=10, second=0, microsecond=0) + timedelta(hours=1)
    with time_machine.travel(moment, tick=False):
        _double_check_blind(login, nurse, prescriber, clinic_a, iv_plan)


def _double_check_blind(login, nurse, prescriber, clinic_a, iv_plan):
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    client = login(nurse)
    r = client.get(reverse("protocols-order-detail", args=[order.pk]))
    body = r.content.decode()
    assert "Double check first" in body and "35 mg" not in body and "5.3 mL/h" not in body
    r = client.get(reverse("protocols-order-verify", args=[order.pk]))
    body = r.content.decode()
    assert r.status_code == 200 and "0.5 mg/kg" in body
    assert "35" not in body.split("What was ordered")[1].split("</section>")[0]
    r = client.post(
        reverse("protocols-order-verify", args=[order.pk]),
        {"weight": "70", "weight_unit": "kg", "dose_mg": "53", "rate_ml_per_h": "5.3"},
    )
    assert r.status_code == 409 and "Dose does not match the order" in r.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.BLOCKED
    r = client.post(
        reverse("protocols-order-verify", args=[order.pk]),
        {
            "weight": "154.3",
            "weight_unit": "lb",
            "dose_mg": "35",
            "rate_ml_per_h": "5.3",
            "note": "Used 0.75 by mistake",
        },
    )
    assert r.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.VERIFIED and order.verified_by == nurse
    r = client.get(reverse("protocols-order-detail", args=[order.pk]))
    assert "35 mg ketamine base" in r.content.decode()


def test_prescriber_cannot_verify(login, prescriber, clinic_a, iv_plan):
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    r = login(prescriber).post(
        reverse("protocols-order-verify", args=[order.pk]),
        {"weight": "70", "weight_unit": "kg", "dose_mg": "35"},
    )
    assert r.status_code == 403


def test_correction_page_supersedes(login, prescriber, clinic_a, iv_plan):
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    client = login(prescriber)
    url = reverse("protocols-order-new", args=[iv_plan.pk]) + f"?corrects={order.pk}"
    assert "Correct order" in client.get(url).content.decode()
    r = client.post(
        url,
        {
            "action": "sign",
            "password": PASSWORD,
            "corrects": order.pk,
            "product": "ketamine-50",
            "dose_mg_per_kg": "0.5",
            "duration_min": "40",
            "correction_reason": "Use 50 mg/mL vial",
            "scheduled_for": "",
        },
    )
    assert r.status_code == 302
    new = DoseOrder.objects.exclude(pk=order.pk).get()
    order.refresh_from_db()
    assert order.status == OrderStatus.SUPERSEDED and new.supersedes == order
    assert new.volume_ml == D("0.70")


def test_patient_handout_is_plain_and_cited(login, nurse, prescriber, clinic_a, iv_plan):
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    r = login(nurse).get(reverse("protocols-order-expect", args=[order.pk]))
    body = r.content.decode()
    assert r.status_code == 200
    assert "Will this get me high?" in body and "Honestly: probably yes" in body
    assert "Carlos Lopez" in body  # the escort on record
    assert "Do not drive" in body and "Acevedo-Diaz 2020" in body and "Gen Hosp Psychiatry 2024" in body
    # Plain sources for the patient: no file of the project, no reference codes, no reviewers' notes.
    for internal in ("clinical.md", "pkpd.md", "[S", "not read", "as transcribed", "unconfirmed"):
        assert internal not in body, internal
    assert "<svg" in body
    assert AuditEntry.objects.filter(action="order.handout", patient_id=order.patient_id).exists()


def test_nasal_handout(login, nurse, prescriber, clinic_a, ready_patient, nasal_protocol):
    plan = actions.create_plan(
        prescriber,
        clinic_a,
        ready_patient,
        protocol=nasal_protocol,
        indication="trd",
        goal_scale="madrs",
        response_rule="pct_reduction",
        response_value="50",
        sessions_planned=8,
        sign=True,
    )
    order = actions.sign_order(prescriber, clinic_a, plan, {"dose_mg": "56"})
    body = login(nurse).get(reverse("protocols-order-expect", args=[order.pk])).content.decode()
    assert "2 nasal spray devices" in body and "at least 2 h" in body
    assert "Do not eat for 2 hours" in body
    for internal in ("clinical.md", "pkpd.md", "[S", "not read", "as transcribed", "unconfirmed"):
        assert internal not in body, internal


def test_outsider_sees_nothing_of_clinic_a(login, outsider, prescriber, clinic_a, iv_plan):
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    client = login(outsider)
    for url in (
        reverse("protocols-plan-detail", args=[iv_plan.pk]),
        reverse("protocols-patient-plans", args=[iv_plan.patient_id]),
        reverse("protocols-order-detail", args=[order.pk]),
        reverse("protocols-order-verify", args=[order.pk]),
        reverse("protocols-order-expect", args=[order.pk]),
    ):
        assert client.get(url).status_code == 404, url
    r = client.get(reverse("protocols-orders") + "?status=all")
    assert r.status_code == 200 and "Lopez" not in r.content.decode()


def test_orders_list_query_count(login, nurse, prescriber, clinic_a, iv_plan, django_assert_max_num_queries):
    from datetime import timedelta

    from django.utils import timezone

    for i in range(4):
        actions.sign_order(
            prescriber, clinic_a, iv_plan, IV_DOSE | {"scheduled_for": timezone.now() + timedelta(days=3 * i)}
        )
    client = login(nurse)
    with django_assert_max_num_queries(12):
        r = client.get(reverse("protocols-orders"))
    assert r.content.decode().count("awaiting double check") >= 4


def test_limits_report_and_csv(
    login, clinic_admin, auditor, nurse, prescriber, clinic_a, iv_plan, django_assert_max_num_queries
):
    actions.sign_order(
        prescriber,
        clinic_a,
        iv_plan,
        {"dose_mg_per_kg": "0.8", "duration_min": "40"},
        override_reason="=cmd|' /C calc'!A0",
    )
    with pytest.raises(actions.OrderRefused):
        actions.sign_order(prescriber, clinic_a, iv_plan, {"dose_mg_per_kg": "2", "duration_min": "40"})
    # Two library changes in the period, one approved: the report's queries do not grow with them
    # (versions, their entries and products, and their predecessors', prefetched: 5 more).
    from tests.protocols.test_library_review import propose

    first = propose(clinic_admin, clinic_a, DrugLibrary.current_for(clinic_a), dose_mg_per_kg__soft_max="0.7")
    actions.review_library(prescriber, clinic_a, first, approve=True, password=PASSWORD)
    propose(clinic_admin, clinic_a, first, dose_mg_per_kg__soft_max="0.65")
    client = login(clinic_admin)
    with django_assert_max_num_queries(17):
        r = client.get(reverse("protocols-limits-report"))
    body = r.content.decode()
    assert r.status_code == 200 and "refused" in body and "override" in body and "priya" in body
    r = client.get(reverse("protocols-limits-report") + "?format=csv")
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    assert rows[0][:3] == ["at", "event", "user"]
    assert {row[1] for row in rows[1:]} == {"override", "refusal"}
    assert all(row[3] == "IV depression" for row in rows[1:])
    assert any(row[-1].startswith("'=") for row in rows[1:])  # formula injection defused
    r = client.get(reverse("protocols-limits-report") + "?event=refusal&format=csv")
    assert {row[1] for row in list(csv.reader(io.StringIO(r.content.decode())))[1:]} == {"refusal"}
    r = client.get(reverse("protocols-limits-report") + "?from=2000-01-01&to=2000-01-31")
    assert "No overrides or refusals in this period" in r.content.decode()
    assert login(auditor).get(reverse("protocols-limits-report")).status_code == 200
    assert login(nurse).get(reverse("protocols-limits-report")).status_code == 403


def test_the_dose_preview_applies_and_shows_a_recorded_interaction(login, prescriber, iv_plan):
    from ketaclinic.patients.models import IntakeMedication

    intake = iv_plan.patient.intakes.order_by("-version").first()
    IntakeMedication.objects.create(
        intake=intake,
        name="Rifadin",
        generic_name="rifampicin",
        interaction_classes=["cyp_inducer"],
        recognised=True,
    )
    r = login(prescriber).post(
        reverse("protocols-order-preview", args=[iv_plan.pk]),
        {"product": "ketamine-10", "dose_mg_per_kg": "0.5", "duration_min": "40"},
        HTTP_HX_REQUEST="true",
    )
    frag = r.content.decode()
    assert r.status_code == 200 and 'id="interaction-warning"' in frag
    assert "rifampicin (CYP3A4/2B6 inducer): oral AUC x0.14, IV AUC x0.86" in frag
