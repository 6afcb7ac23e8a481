"""Treatment plans: created from a protocol for a screened patient, signed by a prescriber."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import require, same_clinic
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.patients.models import Indication, Patient
from ketaclinic.protocols import catalog
from ketaclinic.protocols.actions.common import decimal_field
from ketaclinic.protocols.models import (
    PlanStatus,
    Protocol,
    ResponseRule,
    TreatmentPlan,
)


def create_plan(  # noqa: PLR0912 - every field is checked and all errors reported together
    user: User,
    clinic: Clinic,
    patient: Patient,
    *,
    protocol: Protocol,
    indication: str,
    goal_scale: str,
    response_rule: str,
    response_value: Any,
    sessions_planned: Any,
    baseline_score: Any = None,
    notes: str = "",
    sign: bool = False,
) -> TreatmentPlan:
    """A draft plan (or a signed one when ``sign``): the patient, protocol, indication and goals."""
    require(user, clinic, "plans.create")
    same_clinic(patient.clinic_id, clinic, "patient")
    same_clinic(protocol.clinic_id, clinic, "protocol")
    errors: dict[str, list[str]] = {}
    if not protocol.is_active:
        errors["protocol"] = ["This protocol is retired; choose an active one."]
    if indication not in Indication.values:
        errors["indication"] = ["Choose an indication."]
    elif indication not in protocol.config.get("indications", []):
        allowed = ", ".join(dict(Indication.choices)[i] for i in protocol.config.get("indications", []))
        errors["indication"] = [f"This protocol is for: {allowed or 'no indication set'}."]
    if goal_scale not in catalog.SCALES:
        errors["goal_scale"] = [f"Choose one of {', '.join(catalog.SCALES)}."]
    if response_rule not in ResponseRule.values:
        errors["response_rule"] = ["Choose how response is defined."]
    value = baseline = None
    top = catalog.SCALE_MAX.get(goal_scale)
    try:
        value = decimal_field({"response_value": response_value}, "response_value")
        assert value is not None  # noqa: S101
        if value <= 0 or (response_rule == ResponseRule.PCT_REDUCTION and value > 100):
            errors["response_value"] = ["Give a reduction above 0 (and at most 100 for a percentage)."]
        elif response_rule != ResponseRule.PCT_REDUCTION and top is not None and value > top:
            errors["response_value"] = [f"{catalog.SCALES[goal_scale]} has at most {top} points."]
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        baseline = decimal_field({"baseline_score": baseline_score}, "baseline_score", required=False)
        if baseline is not None and baseline < 0:
            errors["baseline_score"] = ["A score is not negative."]
        elif baseline is not None and top is not None and baseline > top:
            errors["baseline_score"] = [f"{catalog.SCALES[goal_scale]} scores at most {top}."]
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        sessions = int(str(sessions_planned))
        if not 1 <= sessions <= 100:
            raise ValueError
    except (TypeError, ValueError):
        errors["sessions_planned"] = ["Give a whole number of sessions from 1 to 100."]
        sessions = 0
    if errors or value is None:
        raise ValidationError(errors)
    with transaction.atomic():
        plan = TreatmentPlan.objects.create(
            patient=patient,
            protocol=protocol,
            indication=indication,
            goal_scale=goal_scale,
            response_rule=response_rule,
            response_value=value,
            baseline_score=baseline,
            sessions_planned=sessions,
            notes=notes or "",
            created_by=user,
        )
        record(
            "plan.create",
            user=user,
            clinic=clinic,
            obj=plan,
            patient_id=patient.pk,
            detail=plan.to_dict(),
        )
        if sign:
            plan = sign_plan(user, clinic, plan)
    return plan


def sign_plan(user: User, clinic: Clinic, plan: TreatmentPlan) -> TreatmentPlan:
    """Sign a draft plan. Only a prescriber, and only with a current eligibility screening."""
    require(user, clinic, "plans.sign")
    same_clinic(plan.patient.clinic_id, clinic, "plan")
    with transaction.atomic():
        plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
        if plan.status != PlanStatus.DRAFT:
            raise ValidationError({"status": ["This plan is already signed; a signed plan cannot change."]})
        screening = plan.patient.latest_screening()
        if screening is None:
            raise ValidationError(
                {"screening": ["The patient has no signed eligibility screening; screen them first."]}
            )
        if not screening.is_current():
            code, text = screening.status()
            why = "the decision was 'not eligible'" if code == "current" else text
            raise ValidationError({"screening": [f"The eligibility screening is not current: {why}"]})
        plan.status = PlanStatus.SIGNED
        plan.screening = screening
        plan.signed_by = user
        plan.signed_at = timezone.now()
        plan.save(update_fields=["status", "screening", "signed_by", "signed_at"])
        record(
            "plan.sign",
            user=user,
            clinic=clinic,
            obj=plan,
            patient_id=plan.patient_id,
            detail={"screening_id": screening.pk},
        )
    return plan
