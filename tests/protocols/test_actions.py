"""Actions: library versioning, protocols, plans (screening rule), orders (limits, override,
refusal, immutability, supersession), the nurse's double check, and their audit entries."""

# pytest fixtures arrive as parameters, so test functions take many.
# ruff: noqa: PLR0917
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.protocols import actions
from ketaclinic.protocols.models import (
    DoseOrder,
    DoubleCheck,
    DrugLibrary,
    ImmutableRecordError,
    LimitEvent,
    OrderStatus,
    TreatmentPlan,
)
from tests.protocols.conftest import IV_DOSE, screen, weigh


def last_audit(action):
    return AuditEntry.objects.filter(action=action).order_by("-seq").first()


# --- library -----------------------------------------------------------------------------------


def entry_form(entry, **changes):
    """The form data for an existing entry, with some bounds changed."""
    data = {}
    for kind, lim in entry.limits.items():
        data[f"{kind}__open"] = "on" if lim["open"] else ""
        for bound in ("soft_min", "hard_min", "soft_max", "hard_max"):
            data[f"{kind}__{bound}"] = lim[bound] or ""
        data[f"{kind}__source"] = lim["source"]
    data.update(changes)
    return data


def test_library_edit_writes_a_new_version_with_who_and_why(clinic_a, clinic_admin, library):
    entry = library.entries.get(key="iv-depression")
    lib2 = actions.save_library_entry(
        clinic_admin,
        clinic_a,
        "iv-depression",
        name=entry.name,
        route="iv",
        product_code="ketamine-10",
        limit_data=entry_form(entry, dose_mg_per_kg__soft_max="0.6"),
        reason="Medical director lowered the soft maximum",
    )
    assert lib2.version == 2 and lib2.based_on == library and lib2.created_by == clinic_admin
    assert lib2.status == "proposed" and DrugLibrary.current_for(clinic_a) == library
    assert lib2.entries.count() == library.entries.count()
    assert lib2.entries.get(key="iv-depression").limits["dose_mg_per_kg"]["soft_max"] == "0.6"
    # The old version is untouched.
    assert library.entries.get(key="iv-depression").limits["dose_mg_per_kg"]["soft_max"] == "0.75"
    entry_audit = last_audit("library.propose")
    assert entry_audit.detail["reason"] == "Medical director lowered the soft maximum"
    assert entry_audit.detail["changes"] == [
        {
            "entry": "iv-depression",
            "what": "Dose per kg",
            "before": "soft max 0.75 mg/kg, hard max 1 mg/kg",
            "after": "soft max 0.6 mg/kg, hard max 1 mg/kg",
        }
    ]


def test_library_edit_rejects_bad_limits_and_changes_nothing(clinic_a, clinic_admin, library):
    entry = library.entries.get(key="iv-depression")
    data = entry_form(
        entry, dose_mg_per_kg__soft_max="2", dose_mg_per_kg__hard_max="1", bolus_mg__hard_max=""
    )
    with pytest.raises(ValidationError) as exc:
        actions.save_library_entry(
            clinic_admin,
            clinic_a,
            "iv-depression",
            name="x",
            route="iv",
            product_code=None,
            limit_data=data,
            reason="",
        )
    errors = exc.value.message_dict
    assert "dose_mg_per_kg__soft_max" in errors
    assert "bolus_mg__open" in errors  # no bounds and not marked open
    assert "reason" in errors
    assert DrugLibrary.objects.filter(clinic=clinic_a).count() == 1


@pytest.mark.parametrize("who", ["prescriber", "nurse", "auditor", "outsider"])
def test_only_the_clinic_admin_edits_the_library(personas, clinic_a, library, who):
    with pytest.raises(PermissionDenied):
        actions.save_library_entry(
            personas[who], clinic_a, "x", name="x", route="iv", product_code=None, limit_data={}, reason="r"
        )


# --- protocols ---------------------------------------------------------------------------------


def test_copy_template_with_adjustments_needs_a_reason(clinic_a, clinic_admin, library):
    with pytest.raises(ValidationError) as exc:
        actions.copy_protocol(
            clinic_admin,
            clinic_a,
            source_template="iv-racemic-depression",
            name="Slow IV",
            adjustments={"duration_min": "60"},
        )
    assert "reason" in exc.value.message_dict
    proto = actions.copy_protocol(
        clinic_admin,
        clinic_a,
        source_template="iv-racemic-depression",
        name="Slow IV",
        adjustments={"duration_min": "60", "hold_systolic": "170"},
        reason="Local policy",
    )
    assert proto.dose["duration_min"] == "60"
    assert proto.config["gates"][1]["systolic_above"] == 170
    assert {c["field"] for c in proto.adjustments} == {"duration_min", "hold_systolic"}
    assert last_audit("protocol.copy").object_id == str(proto.pk)


# --- plans -------------------------------------------------------------------------------------


def plan_kwargs(protocol, **extra):
    return {
        "protocol": protocol,
        "indication": "trd",
        "goal_scale": "madrs",
        "response_rule": "pct_reduction",
        "response_value": "50",
        "sessions_planned": 6,
        **extra,
    }


def test_plan_requires_a_current_screening(clinic_a, prescriber, nurse, patient, iv_protocol):
    plan = actions.create_plan(prescriber, clinic_a, patient, **plan_kwargs(iv_protocol))
    with pytest.raises(ValidationError, match="no signed eligibility screening"):
        actions.sign_plan(prescriber, clinic_a, plan)
    old = screen(patient, prescriber, days_ago=400)  # expired
    assert not old.is_current()
    with pytest.raises(ValidationError, match="not current"):
        actions.sign_plan(prescriber, clinic_a, plan)
    screen(patient, prescriber, decision="not_eligible")
    with pytest.raises(ValidationError, match="not eligible"):
        actions.sign_plan(prescriber, clinic_a, plan)
    plan.refresh_from_db()
    assert plan.status == "draft" and plan.signed_by is None
    current = screen(patient, prescriber)
    actions.sign_plan(prescriber, clinic_a, plan)
    plan.refresh_from_db()
    assert plan.status == "signed" and plan.signed_by == prescriber and plan.screening == current
    assert last_audit("plan.sign").detail == {"screening_id": current.pk}


def test_plan_invalidated_screening_blocks_signing(clinic_a, prescriber, nurse, patient, iv_protocol):
    from ketaclinic.patients.models import Intake

    screen(patient, prescriber)
    Intake.objects.create(patient=patient, version=2, taken_by=nurse, history={}, change_reason="new med")
    plan = actions.create_plan(prescriber, clinic_a, patient, **plan_kwargs(iv_protocol))
    with pytest.raises(ValidationError, match="Invalidated"):
        actions.sign_plan(prescriber, clinic_a, plan)


@pytest.mark.parametrize("who", ["nurse", "frontdesk", "admin", "auditor"])
def test_only_a_prescriber_creates_and_signs_plans(personas, clinic_a, ready_patient, iv_protocol, who):
    with pytest.raises(PermissionDenied):
        actions.create_plan(personas[who], clinic_a, ready_patient, **plan_kwargs(iv_protocol))


def test_plan_input_errors_name_fields(clinic_a, prescriber, ready_patient, iv_protocol):
    with pytest.raises(ValidationError) as exc:
        actions.create_plan(
            prescriber,
            clinic_a,
            ready_patient,
            **plan_kwargs(iv_protocol, indication="chronic_pain", response_value="150", sessions_planned="x"),
        )
    assert set(exc.value.message_dict) == {"indication", "response_value", "sessions_planned"}
    assert not TreatmentPlan.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        # 1e308 was stored and made the plans page a 500 on SQLite (issue 13).
        ({"baseline_score": "1e308"}, "baseline_score", "MADRS (0–60, clinician-rated) scores at most 60."),
        ({"baseline_score": "61"}, "baseline_score", "MADRS (0–60, clinician-rated) scores at most 60."),
        ({"baseline_score": "-1"}, "baseline_score", "A score is not negative."),
        (
            {"response_rule": "points_reduction", "response_value": "61"},
            "response_value",
            "MADRS (0–60, clinician-rated) has at most 60 points.",
        ),
    ],
)
def test_plan_scores_lie_within_the_scale(
    clinic_a, prescriber, ready_patient, iv_protocol, changes, field, message
):
    with pytest.raises(ValidationError) as exc:
        actions.create_plan(prescriber, clinic_a, ready_patient, **plan_kwargs(iv_protocol, **changes))
    assert exc.value.message_dict == {field: [message]}
    assert not TreatmentPlan.objects.exists()
    # The scale's top is a score it can have.
    plan = actions.create_plan(
        prescriber, clinic_a, ready_patient, **plan_kwargs(iv_protocol, baseline_score="60")
    )
    assert plan.baseline_score == 60


def test_signed_plan_is_immutable(iv_plan):
    iv_plan.sessions_planned = 12
    with pytest.raises(ImmutableRecordError):
        iv_plan.save()


def test_plan_of_another_clinic_is_refused(clinic_b, outsider, ready_patient, iv_protocol):
    with pytest.raises(PermissionDenied):
        actions.create_plan(outsider, clinic_b, ready_patient, **plan_kwargs(iv_protocol))


# --- orders ------------------------------------------------------------------------------------


def test_order_is_computed_checked_and_signed(clinic_a, prescriber, iv_plan, library):
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    order.refresh_from_db()
    assert order.status == OrderStatus.SIGNED and order.signed_by == prescriber
    assert (order.dose_mg, order.volume_ml, order.rate_ml_per_h) == (D("35.0"), D("3.50"), D("5.3"))
    assert order.dose_mg_salt == D("40.4")
    assert order.weight_kg == D("70.00") and order.weight_entered_unit == "kg"
    assert order.library == library and order.library_entry.key == "iv-depression"
    assert order.protocol_snapshot["config"]["observation_min"] == 120
    assert order.limit_check["breaches"] == []
    assert order.prediction_summary["unnoticeable_min"] > 40
    assert order.session_number == 1
    audit = last_audit("order.sign")
    assert audit.object_id == str(order.pk) and audit.patient_id == iv_plan.patient_id
    assert audit.detail["library_version"] == 1


def test_soft_breach_needs_override_reason_and_is_logged(clinic_a, prescriber, iv_plan):
    dose = {"dose_mg_per_kg": "0.8", "duration_min": "40"}
    with pytest.raises(ValidationError) as exc:
        actions.sign_order(prescriber, clinic_a, iv_plan, dose)
    assert "override_reason" in exc.value.message_dict
    assert "0.75" in exc.value.message_dict["override_reason"][0]
    assert not DoseOrder.objects.exists() and not LimitEvent.objects.exists()
    order = actions.sign_order(prescriber, clinic_a, iv_plan, dose, override_reason="Partial response at 0.5")
    kinds = set(LimitEvent.objects.filter(order=order, event="override").values_list("kind", flat=True))
    # 0.8 mg/kg over 40 min also breaches the soft rate limit (1.2 > 1.125 mg/kg/h).
    assert kinds == {"dose_mg_per_kg", "rate_mg_per_kg_per_h"}
    assert order.override_reason == "Partial response at 0.5"
    assert last_audit("order.sign").detail["overrides"] == ["dose_mg_per_kg", "rate_mg_per_kg_per_h"]


def test_hard_breach_is_refused_with_the_limit_and_logged(clinic_a, prescriber, iv_plan):
    with pytest.raises(actions.OrderRefused) as exc:
        actions.sign_order(
            prescriber,
            clinic_a,
            iv_plan,
            {"dose_mg_per_kg": "1.1", "duration_min": "40"},
            override_reason="x",
        )
    msg = exc.value.message_dict["dose_mg_per_kg"][0]
    assert "hard maximum of 1 mg/kg" in msg and "refused" in msg
    assert not DoseOrder.objects.exists()
    event = LimitEvent.objects.get(kind="dose_mg_per_kg")
    assert event.event == "refusal" and event.order is None and event.value == D("1.1")
    assert last_audit("order.refused").patient_id == iv_plan.patient_id


def test_weight_outside_window_is_refused(clinic_a, prescriber, nurse, iv_plan):
    from ketaclinic.patients.models import WeightMeasurement

    WeightMeasurement.objects.all().delete()
    weigh(iv_plan.patient, nurse, days_ago=31)  # IV protocol window: 30 days
    with pytest.raises(ValidationError) as exc:
        actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    assert "30-day window" in exc.value.message_dict["weight"][0]


def test_weight_in_pounds_is_used_with_its_unit(clinic_a, prescriber, nurse, iv_plan):
    weigh(iv_plan.patient, nurse, value="200", unit="lb")
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    assert (order.weight_entered_value, order.weight_entered_unit, order.weight_kg) == (
        D("200"),
        "lb",
        D("90.72"),
    )
    assert order.dose_mg == D("45.4")


def test_interval_and_sessions_per_week_limits(clinic_a, prescriber, iv_plan):
    t0 = timezone.now() + timedelta(days=1)
    actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE | {"scheduled_for": t0})
    # Exactly 44 h later: at the soft minimum, passes.
    o2 = actions.sign_order(
        prescriber, clinic_a, iv_plan, IV_DOSE | {"scheduled_for": t0 + timedelta(hours=44)}
    )
    assert o2.limit_check["breaches"] == [] and o2.limit_check["values"]["interval_since_last_h"] == "44.00"
    # 19 h after that: below the hard minimum of 20 h.
    with pytest.raises(actions.OrderRefused, match="Interval since last session"):
        actions.sign_order(
            prescriber, clinic_a, iv_plan, IV_DOSE | {"scheduled_for": t0 + timedelta(hours=63)}
        )
    o3 = actions.sign_order(
        prescriber, clinic_a, iv_plan, IV_DOSE | {"scheduled_for": t0 + timedelta(hours=88)}
    )
    assert o3.limit_check["values"]["sessions_per_week"] == "3"
    # A 4th session within the same 7 days (interval fine): above the soft max of 3 -> override.
    with pytest.raises(ValidationError, match="Sessions per week 4"):
        actions.sign_order(
            prescriber, clinic_a, iv_plan, IV_DOSE | {"scheduled_for": t0 + timedelta(hours=132)}
        )


def test_signed_order_is_immutable(clinic_a, prescriber, iv_plan):
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    order.dose_mg = D("50")
    with pytest.raises(ImmutableRecordError):
        order.save()
    with pytest.raises(ImmutableRecordError):
        order.save(update_fields=["dose_mg"])
    order.refresh_from_db()
    assert order.dose_mg == D("35.0")


def test_correction_supersedes_and_keeps_the_original(clinic_a, prescriber, iv_plan):
    first = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    with pytest.raises(ValidationError, match="Say what the correction"):
        actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE, supersedes=first)
    second = actions.sign_order(
        prescriber,
        clinic_a,
        iv_plan,
        {"dose_mg_per_kg": "0.4", "duration_min": "40"},
        supersedes=first,
        correction_reason="Lower dose after side effects",
    )
    first.refresh_from_db()
    assert first.status == OrderStatus.SUPERSEDED and first.dose_mg == D("35.0")
    assert second.supersedes == first and second.session_number == first.session_number
    assert second.scheduled_for == first.scheduled_for
    # The superseded order does not count as a session for the interval limit.
    assert second.limit_check["values"]["interval_since_last_h"] is None
    with pytest.raises(ValidationError, match="already corrected"):
        actions.sign_order(
            prescriber, clinic_a, iv_plan, IV_DOSE, supersedes=first, correction_reason="again"
        )


def test_order_needs_a_signed_plan_and_a_current_screening(clinic_a, prescriber, ready_patient, iv_protocol):
    plan = actions.create_plan(prescriber, clinic_a, ready_patient, **plan_kwargs(iv_protocol))
    with pytest.raises(ValidationError, match="not signed"):
        actions.sign_order(prescriber, clinic_a, plan, IV_DOSE)


def test_nasal_order_counts_devices(clinic_a, prescriber, ready_patient, nasal_protocol):
    plan = actions.create_plan(prescriber, clinic_a, ready_patient, **plan_kwargs(nasal_protocol), sign=True)
    assert actions.order_defaults(plan)["dose_mg"] == "56"
    order = actions.sign_order(prescriber, clinic_a, plan, {"dose_mg": "84"})
    assert order.devices == 3 and order.volume_ml is None and order.rate_ml_per_h is None
    with pytest.raises(ValidationError, match="whole number of devices"):
        actions.sign_order(prescriber, clinic_a, plan, {"dose_mg": "70"})
    with pytest.raises(actions.OrderRefused, match="hard maximum of 84 mg"):
        actions.sign_order(prescriber, clinic_a, plan, {"dose_mg": "112"})


def test_titrated_pain_order(clinic_a, prescriber, ready_patient, pain_protocol):
    from ketaclinic.patients.models import Patient

    Patient.objects.filter(pk=ready_patient.pk).update(indications=["chronic_pain"])
    plan = actions.create_plan(
        prescriber,
        clinic_a,
        ready_patient,
        **plan_kwargs(
            pain_protocol,
            indication="chronic_pain",
            goal_scale="nrs_pain",
            response_rule="points_reduction",
            response_value="2",
        ),
        sign=True,
    )
    data = actions.order_defaults(plan) | {"bolus_mg_per_kg": ""}
    order = actions.sign_order(prescriber, clinic_a, plan, data)
    assert [s["rate_mg_per_kg_per_h"] for s in order.titration_steps] == ["0.15", "0.25", "0.35"]
    assert order.rate_ml_per_h == D("1.1") and order.dose_mg == D("87.5")


# --- double check ------------------------------------------------------------------------------


def test_double_check_match_verifies(clinic_a, prescriber, nurse, iv_plan):
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    check = actions.verify_order(
        nurse, clinic_a, order, weight_value="154.3", weight_unit="lb", dose_mg="35", rate_ml_per_h="5.3"
    )
    order.refresh_from_db()
    assert check.matched and order.status == OrderStatus.VERIFIED and order.is_ready
    assert order.verified_by == nurse and order.verified_at is not None
    assert last_audit("order.double_check").detail["matched"] is True


def test_double_check_mismatch_blocks_until_resolved(clinic_a, prescriber, nurse, iv_plan):
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    check = actions.verify_order(
        nurse, clinic_a, order, weight_value="70", weight_unit="kg", dose_mg="350", rate_ml_per_h="5.3"
    )
    order.refresh_from_db()
    assert not check.matched and order.status == OrderStatus.BLOCKED and not order.is_ready
    assert [m["field"] for m in check.mismatches] == ["dose_mg"]
    assert last_audit("order.double_check").detail["mismatch_fields"] == ["dose_mg"]
    # Resolving needs a note saying what was wrong.
    with pytest.raises(ValidationError) as exc:
        actions.verify_order(
            nurse, clinic_a, order, weight_value="70", weight_unit="kg", dose_mg="35", rate_ml_per_h="5.3"
        )
    assert "note" in exc.value.message_dict
    actions.verify_order(
        nurse,
        clinic_a,
        order,
        weight_value="70",
        weight_unit="kg",
        dose_mg="35",
        rate_ml_per_h="5.3",
        note="Decimal slip; recalculated",
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.VERIFIED
    assert DoubleCheck.objects.filter(order=order).count() == 2


def test_double_check_bad_input_changes_nothing(clinic_a, prescriber, nurse, iv_plan):
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    with pytest.raises(ValidationError) as exc:
        actions.verify_order(nurse, clinic_a, order, weight_value="abc", weight_unit="st", dose_mg="")
    assert {"weight", "dose_mg", "rate_ml_per_h"} <= set(exc.value.message_dict)
    order.refresh_from_db()
    assert order.status == OrderStatus.SIGNED and not DoubleCheck.objects.exists()


def test_double_check_is_by_a_nurse_of_the_clinic(clinic_a, clinic_b, prescriber, outsider, iv_plan):
    order = actions.sign_order(prescriber, clinic_a, iv_plan, IV_DOSE)
    with pytest.raises(PermissionDenied):
        actions.verify_order(prescriber, clinic_a, order, weight_value="70", weight_unit="kg", dose_mg="35")
    with pytest.raises(PermissionDenied):
        actions.verify_order(outsider, clinic_b, order, weight_value="70", weight_unit="kg", dose_mg="35")
    with pytest.raises(PermissionDenied):
        actions.verify_order(outsider, clinic_a, order, weight_value="70", weight_unit="kg", dose_mg="35")
