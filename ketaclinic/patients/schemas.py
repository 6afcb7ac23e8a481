"""Request and response bodies of the patients and intake API (``patients.api``, ``patients.intake_api``).

Input schemas check shape and type (a malformed body is a 422 naming the field); the domain rules
(plausible weights, MRN unique per clinic, birth date not in the future...) live in the actions,
whose ValidationError is turned into the same 422 shape by ``ketaclinic.api``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ninja import Field, Schema

from ketaclinic.patients.models import Patient, WeightMeasurement
from ketaclinic.web import StrictSchema

# ----- patients -----------------------------------------------------------------------------


class WeightOut(Schema):
    id: int
    measured_at: datetime
    weight_kg: Decimal
    entered_value: Decimal
    entered_unit: str
    recorded_by: str = Field(..., alias="recorded_by.username")
    recorded_at: datetime
    corrects_id: int | None
    correction_reason: str
    superseded: bool = False

    @staticmethod
    def resolve_superseded(obj: WeightMeasurement) -> bool:
        return hasattr(obj, "corrected_by")


class Demographics(StrictSchema):
    """Every demographic field; on PATCH send only those that change."""

    mrn: str = Field(..., max_length=32, examples=["A-2001"])
    given_name: str = Field(..., max_length=100)
    family_name: str = Field(..., max_length=100)
    date_of_birth: date
    sex: str = Field(..., description="female | male | intersex | unknown")
    phone: str = ""
    email: str = ""
    address: str = ""
    emergency_contact_name: str = ""
    emergency_contact_phone: str = ""
    emergency_contact_relation: str = ""
    escort_name: str = Field("", description="Who takes the patient home after a session")
    escort_phone: str = ""
    height: Decimal | None = Field(None, description="Height in height_unit")
    height_unit: str = Field("cm", description="cm | in")
    indications: list[str] = Field(
        default_factory=list, description="trd | mdd_si | gad | ptsd | chronic_pain | other"
    )
    chronic_pain_type: str = ""
    indication_other: str = ""
    allergies: str = ""
    pregnancy_status: str = Field(
        "unknown", description="not_applicable | not_pregnant | pregnant | breastfeeding | unknown"
    )


class PatientIn(Demographics):
    mrn: str = Field("", max_length=32, examples=["A-2001"], description="empty: the clinic's next number")
    not_duplicate: bool = Field(
        False,
        description="confirm a different person with the same name and date of birth as a registered one",
    )
    weight: Decimal | None = Field(None, description="First weight, in weight_unit (optional)")
    weight_unit: str = Field("kg", description="kg | lb")
    weight_measured_at: datetime | None = None


class PatientPatch(StrictSchema):
    mrn: str | None = Field(None, max_length=32)
    given_name: str | None = Field(None, max_length=100)
    family_name: str | None = Field(None, max_length=100)
    date_of_birth: date | None = None
    sex: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    emergency_contact_name: str | None = None
    emergency_contact_phone: str | None = None
    emergency_contact_relation: str | None = None
    escort_name: str | None = None
    escort_phone: str | None = None
    height: Decimal | None = None
    height_unit: str | None = None
    indications: list[str] | None = None
    chronic_pain_type: str | None = None
    indication_other: str | None = None
    allergies: str | None = None
    pregnancy_status: str | None = None


class PatientSummary(Schema):
    id: int
    mrn: str
    given_name: str
    family_name: str
    date_of_birth: date
    sex: str


class PatientOut(PatientSummary):
    phone: str
    email: str
    address: str
    emergency_contact_name: str
    emergency_contact_phone: str
    emergency_contact_relation: str
    escort_name: str
    escort_phone: str
    height_cm: Decimal | None
    indications: list[str]
    chronic_pain_type: str
    indication_other: str
    allergies: str
    pregnancy_status: str
    current_weight: WeightOut | None = None
    created_at: datetime

    @staticmethod
    def resolve_current_weight(obj: Patient) -> Any:
        return obj.current_weight()


class WeightIn(StrictSchema):
    value: Decimal = Field(..., description="The weight as read, in `unit`")
    unit: str = Field(..., description="kg | lb")
    measured_at: datetime | None = Field(None, description="Default: now")


class WeightCorrectionIn(WeightIn):
    reason: str = Field(..., max_length=200)


# ----- consent ------------------------------------------------------------------------------


class ConsentTextOut(Schema):
    id: int
    title: str
    version: str
    effective_from: date
    retired_at: datetime | None
    body: str


class ConsentIn(StrictSchema):
    text_id: int
    signed_by_name: str
    signer_relation: str = "self"
    signed_at: datetime
    witness_id: int = Field(..., description="User id of the staff member who witnessed the signature")


class ConsentOut(Schema):
    id: int
    text_id: int
    text: str
    signed_by_name: str
    signer_relation: str
    signed_at: datetime
    witness: str = Field(..., alias="witness.username")
    recorded_by: str = Field(..., alias="recorded_by.username")
    recorded_at: datetime

    @staticmethod
    def resolve_text(obj: Any) -> str:
        return str(obj.text)


# ----- intake and screening -----------------------------------------------------------------


class HistoryAnswer(StrictSchema):
    present: bool = False
    note: str = ""
    grade: str = ""


class MedicationIn(StrictSchema):
    name: str
    dose_text: str = ""
    daily_dose_mg: Decimal | None = None


class IntakeIn(StrictSchema):
    history: dict[str, HistoryAnswer] = Field(
        default_factory=dict, description="Item code -> answer; items not sent are 'not present'"
    )
    medications: list[MedicationIn] = Field(default_factory=list)
    substance_use_notes: str = ""
    dast10_answers: list[bool] | None = Field(None, description="Ten yes/no answers in DAST-10 order")
    baseline_systolic_mmhg: int | None = None
    baseline_diastolic_mmhg: int | None = None
    baseline_heart_rate_bpm: int | None = None
    notes: str = ""
    change_reason: str = Field("", description="Required when this replaces an earlier version")


class MedicationOut(Schema):
    name: str
    dose_text: str
    daily_dose_mg: Decimal | None
    generic_name: str
    interaction_classes: list[str]
    diazepam_equivalent_mg: Decimal | None
    recognised: bool


class IntakeOut(Schema):
    id: int
    version: int
    taken_at: datetime
    taken_by: str = Field(..., alias="taken_by.username")
    history: dict[str, Any]
    medications: list[MedicationOut]
    substance_use_notes: str
    dast10_answers: list[bool] | None
    dast10_score: int | None
    baseline_systolic_mmhg: int | None
    baseline_diastolic_mmhg: int | None
    baseline_heart_rate_bpm: int | None
    notes: str
    change_reason: str

    @staticmethod
    def resolve_medications(obj: Any) -> Any:
        return list(obj.medications.all())


class FindingOut(Schema):
    code: str
    severity: str
    title: str
    explanation: str
    source: str
    unconfirmed: bool
    needs_reason: bool


class ScreeningOut(Schema):
    id: int
    intake_version: int = Field(..., alias="intake.version")
    decision: str
    reason: str
    item_reasons: dict[str, str]
    findings: list[dict[str, Any]]
    signed_by: str = Field(..., alias="signed_by.username")
    signed_at: datetime
    expires_at: datetime
    rules_version: str
    status: str
    status_text: str

    @staticmethod
    def resolve_status(obj: Any) -> str:
        return str(obj.status()[0])

    @staticmethod
    def resolve_status_text(obj: Any) -> str:
        return str(obj.status()[1])


class ScreeningState(Schema):
    intake_version: int | None
    findings: list[FindingOut]
    latest: ScreeningOut | None


class ScreeningIn(StrictSchema):
    decision: str = Field(..., description="eligible | eligible_with_precautions | not_eligible")
    reason: str
    item_reasons: dict[str, str] = Field(
        default_factory=dict, description="Finding code -> reason; required for each review item"
    )
    intake_version: int | None = Field(
        None, description="The version you reviewed; refused if the intake changed meanwhile"
    )
