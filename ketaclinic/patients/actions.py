"""Patient actions: registration, demographics, weights, consent, chart reads, search.

Every function takes plain values (the acting user, the clinic, the data), so that the pages and
the JSON API share one set of rules. Each one:

1. checks that the user holds a role in ``clinic`` granting the permission
   (``accounts.access.has_permission``), else raises ``PermissionDenied``;
2. validates its input, raising ``ValidationError({field: message})`` naming the field, before
   anything is written;
3. writes in one transaction and appends the audit entry inside it.

Nothing clinical is overwritten: a weight correction is a new measurement pointing at the old
one; a consent text is never edited, a new version is created instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date

from ketaclinic.accounts.access import has_permission, require
from ketaclinic.accounts.clinic_time import clinic_datetime
from ketaclinic.accounts.models import Clinic, User
from ketaclinic.audit.actions import record
from ketaclinic.audit.rows import seal_rows
from ketaclinic.patients import units
from ketaclinic.patients.models import (
    Consent,
    ConsentText,
    Indication,
    Patient,
    PregnancyStatus,
    Sex,
    WeightMeasurement,
)

MAX_AGE_YEARS = 120  # a birth date further back is a typing error
# A device clock a little ahead of the server must not make "now" look like the future.
CLOCK_SKEW = timedelta(minutes=5)

# Demographic fields: (name, max length or None for unlimited text). Weights are not among them:
# they have their own history (record_weight / correct_weight).
TEXT_FIELDS: dict[str, int | None] = {
    "mrn": 32,
    "given_name": 100,
    "family_name": 100,
    "phone": 40,
    "email": 254,
    "address": None,
    "emergency_contact_name": 200,
    "emergency_contact_phone": 40,
    "emergency_contact_relation": 60,
    "escort_name": 200,
    "escort_phone": 40,
    "chronic_pain_type": 120,
    "indication_other": 200,
    "allergies": None,
}
REQUIRED_TEXT = ("mrn", "given_name", "family_name")
DEMOGRAPHIC_FIELDS = (
    *TEXT_FIELDS,
    "date_of_birth",
    "sex",
    "height_cm",
    "indications",
    "pregnancy_status",
)


# --- helpers -------------------------------------------------------------------------------


def clinic_today(clinic: Clinic) -> date:
    return timezone.localtime(timezone.now(), clinic.tz).date()


def _as_date(value: Any, field: str) -> date:
    if isinstance(value, datetime):
        raise ValidationError({field: "Enter a date, not a date and time."})
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    if not text:
        raise ValidationError({field: "This field is required."})
    parsed = parse_date_flexible(text)
    if parsed is None:
        raise ValidationError({field: f"{text!r} is not a date; use YYYY-MM-DD or MM/DD/YYYY."})
    return parsed


def _not_future(moment: datetime, field: str) -> None:
    if moment > timezone.now() + CLOCK_SKEW:
        raise ValidationError({field: "This time is in the future."})


def parse_date_flexible(text: str) -> date | None:
    """YYYY-MM-DD or MM/DD/YYYY, else None.

    >>> parse_date_flexible("03/02/1984"), parse_date_flexible("1984-03-02"), parse_date_flexible("2/30/1984")
    (datetime.date(1984, 3, 2), datetime.date(1984, 3, 2), None)
    """
    text = text.strip()
    try:
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
            return date(int(m[3]), int(m[1]), int(m[2]))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return parse_date(text)
    except ValueError:
        return None
    return None


def _weight_kg(value: Any, unit: Any, *, value_field: str, unit_field: str) -> tuple[Decimal, Decimal, str]:
    """(entered value, kg, unit) or ValidationError naming the offending field."""
    unit = str(unit or "").strip().lower()
    if unit not in units.WEIGHT_UNITS:
        raise ValidationError(
            {unit_field: f"Unknown weight unit {unit!r}; use {' or '.join(units.WEIGHT_UNITS)}."}
        )
    try:
        entered = units.as_decimal(value, "weight")
    except ValueError:
        raise ValidationError({value_field: f"Enter the weight as a number of {unit}."}) from None
    if entered <= 0:
        raise ValidationError({value_field: f"A weight must be more than 0 {unit}."})
    if entered >= Decimal("100000"):
        raise ValidationError({value_field: f"{entered} {unit} is not a plausible weight."})
    kg = units.weight_to_kg(entered, unit)
    if problem := units.implausible_weight(kg):
        raise ValidationError({value_field: problem})
    return entered.quantize(Decimal("0.01")), kg, unit


def _height_cm(value: Any, unit: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    unit = str(unit or "cm").strip().lower()
    if unit not in units.HEIGHT_UNITS:
        raise ValidationError(
            {"height_unit": f"Unknown height unit {unit!r}; use {' or '.join(units.HEIGHT_UNITS)}."}
        )
    try:
        entered = units.as_decimal(value, "height")
    except ValueError:
        raise ValidationError({"height": f"Enter the height as a number of {unit}."}) from None
    if entered <= 0 or entered >= Decimal("10000"):
        raise ValidationError({"height": f"{entered} {unit} is not a plausible height."})
    cm = units.height_to_cm(entered, unit)
    if problem := units.implausible_height(cm):
        raise ValidationError({"height": problem})
    return cm


Errors = dict[str, list[str]]


def _fail(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _clean_text(data: Mapping[str, Any], out: dict[str, Any], errors: Errors) -> None:
    for name, limit in TEXT_FIELDS.items():
        raw = data.get(name, "")
        text = "" if raw is None else str(raw).strip()
        if name in REQUIRED_TEXT and not text:
            _fail(errors, name, "This field is required.")
        elif limit is not None and len(text) > limit:
            _fail(errors, name, f"At most {limit} characters.")
        out[name] = text
    if out["email"]:
        try:
            validate_email(out["email"])
        except ValidationError:
            _fail(errors, "email", f"{out['email']!r} is not an email address.")


def _clean_date_of_birth(value: Any, clinic: Clinic, out: dict[str, Any], errors: Errors) -> None:
    try:
        dob = _as_date(value, "date_of_birth")
    except ValidationError as exc:
        errors.update(exc.message_dict)
        return
    today = clinic_today(clinic)
    if dob > today:
        _fail(errors, "date_of_birth", "The date of birth is in the future.")
    elif Patient(date_of_birth=dob).age_on(today) > MAX_AGE_YEARS:
        _fail(errors, "date_of_birth", f"The date of birth is more than {MAX_AGE_YEARS} years ago.")
    out["date_of_birth"] = dob


def _clean_indications(data: Mapping[str, Any], out: dict[str, Any], errors: Errors) -> None:
    chosen = data.get("indications") or []
    if isinstance(chosen, str):
        chosen = [chosen]
    unknown = [str(code) for code in chosen if code not in Indication.values]
    if unknown:
        _fail(errors, "indications", f"Unknown indication {', '.join(unknown)}.")
    # Keep the order of the Indication choices, once each.
    out["indications"] = codes = [code for code in Indication.values if code in chosen]
    if Indication.CHRONIC_PAIN in codes and not out["chronic_pain_type"]:
        _fail(errors, "chronic_pain_type", "Chronic pain needs its type (for example neuropathic, CRPS).")
    if Indication.OTHER in codes and not out["indication_other"]:
        _fail(errors, "indication_other", "Describe the other indication.")
    # Details of an indication not chosen would be misleading on the chart.
    if Indication.CHRONIC_PAIN not in codes:
        out["chronic_pain_type"] = ""
    if Indication.OTHER not in codes:
        out["indication_other"] = ""


def clean_demographics(data: Mapping[str, Any], *, clinic: Clinic) -> dict[str, Any]:
    """Validate demographic input; return model field values or raise ValidationError (all fields).

    ``data`` keys: the ``TEXT_FIELDS``, ``date_of_birth`` (date or YYYY-MM-DD / MM/DD/YYYY),
    ``sex``, ``height`` with ``height_unit`` (cm|in), ``indications`` (list of Indication codes),
    ``pregnancy_status``.
    """
    errors: Errors = {}
    out: dict[str, Any] = {}
    _clean_text(data, out, errors)
    _clean_date_of_birth(data.get("date_of_birth"), clinic, out, errors)
    out["sex"] = str(data.get("sex") or "").strip()
    if out["sex"] not in Sex.values:
        _fail(errors, "sex", f"Choose one of: {', '.join(Sex.values)}.")
    out["pregnancy_status"] = str(data.get("pregnancy_status") or PregnancyStatus.UNKNOWN).strip()
    if out["pregnancy_status"] not in PregnancyStatus.values:
        _fail(errors, "pregnancy_status", f"Choose one of: {', '.join(PregnancyStatus.values)}.")
    elif out["sex"] == Sex.MALE:
        # Not asked of a male patient: recorded as not applicable whatever the form's default.
        if out["pregnancy_status"] in (PregnancyStatus.PREGNANT, PregnancyStatus.BREASTFEEDING):
            _fail(errors, "pregnancy_status", "A male patient is recorded as not applicable; check the sex.")
        out["pregnancy_status"] = PregnancyStatus.NOT_APPLICABLE
    _clean_indications(data, out, errors)
    try:
        out["height_cm"] = _height_cm(data.get("height"), data.get("height_unit"))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return out


def _mrn_taken(clinic: Clinic, mrn: str, *, exclude: int | None = None) -> bool:
    qs = Patient.in_clinic(clinic).filter(mrn__iexact=mrn)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return qs.exists()


def _in_clinic(obj: models.Model, clinic: Clinic, field: str) -> None:
    """Refuse an object of another clinic as if it did not exist."""
    owner = getattr(obj, "clinic_id", None)
    if owner is None and hasattr(obj, "patient"):
        owner = obj.patient.clinic_id
    if owner != clinic.pk:
        raise ValidationError({field: "No such record in this clinic."})


# --- patients ------------------------------------------------------------------------------


def next_mrn(clinic: Clinic) -> str:
    """The clinic's next medical record number: the first letter of its slug, a hyphen and one more
    than the highest number in use under that prefix, from 1001 (``N-1001``, ``N-1002``, ...). An
    MRN typed by hand in another shape is kept and skipped."""
    prefix = f"{clinic.slug[:1].upper() or 'P'}-"
    numbers = [
        int(m[len(prefix) :])
        for m in Patient.in_clinic(clinic).filter(mrn__startswith=prefix).values_list("mrn", flat=True)
        if m[len(prefix) :].isdigit()
    ]
    return f"{prefix}{max([1000, *numbers]) + 1}"


def _same_person(clinic: Clinic, data: Mapping[str, Any]) -> Patient | None:
    """A patient of the clinic with the same given and family name and date of birth."""
    given = str(data.get("given_name") or "").strip()
    family = str(data.get("family_name") or "").strip()
    born = data.get("date_of_birth")
    if not (given and family and isinstance(born, date)):
        return None
    return (
        Patient.in_clinic(clinic)
        .filter(given_name__iexact=given, family_name__iexact=family, date_of_birth=born)
        .first()
    )


def register_patient(*, user: User, clinic: Clinic, data: Mapping[str, Any]) -> Patient:
    """Register a patient in ``clinic``; with ``weight`` and ``weight_unit`` also their first weight.

    Keys of ``data``: see ``clean_demographics``; plus ``weight`` (number), ``weight_unit`` (kg|lb),
    ``weight_measured_at`` (optional, defaults to now). An empty ``mrn`` gets the clinic's next
    number (``next_mrn``). A patient with the same name and date of birth is refused as a likely
    duplicate (``duplicate``, naming the existing MRN) unless ``not_duplicate`` confirms that this
    is a different person.
    """
    require(user, clinic, "patients.register")
    if not str(data.get("mrn") or "").strip():
        data = {**data, "mrn": next_mrn(clinic)}
    errors: dict[str, list[str]] = {}
    try:
        values = clean_demographics(data, clinic=clinic)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        values = {}
    weight: tuple[Decimal, Decimal, str] | None = None
    measured_at = timezone.now()
    if data.get("weight") not in (None, ""):
        try:
            weight = _weight_kg(
                data.get("weight"), data.get("weight_unit"), value_field="weight", unit_field="weight_unit"
            )
            if data.get("weight_measured_at"):
                measured_at = clinic_datetime(data["weight_measured_at"], "weight_measured_at", clinic)
                _not_future(measured_at, "weight_measured_at")
        except ValidationError as exc:
            errors.update(exc.message_dict)
    mrn = str(data.get("mrn") or "").strip()
    if mrn and "mrn" not in errors and _mrn_taken(clinic, mrn):
        errors["mrn"] = [f"MRN {mrn} is already used by a patient of this clinic."]
    twin = None if errors or data.get("not_duplicate") else _same_person(clinic, values)
    if twin is not None:
        errors["not_duplicate"] = [
            f"{twin.given_name} {twin.family_name}, born {twin.date_of_birth:%Y-%m-%d}, is registered "
            f"already (MRN {twin.mrn}). Open that record, or tick that this is a different person."
        ]
    if errors:
        raise ValidationError(errors)

    try:
        with transaction.atomic():
            patient = Patient.objects.create(clinic=clinic, created_by=user, **values)
            record(
                "patient.register",
                user=user,
                clinic=clinic,
                obj=patient,
                patient_id=patient.pk,
                detail={
                    "mrn": patient.mrn,
                    "fields": sorted(k for k, v in values.items() if v not in ("", [], None)),
                },
            )
            if weight is not None:
                _create_weight(
                    user=user,
                    clinic=clinic,
                    patient=patient,
                    weight=weight,
                    measured_at=measured_at,
                )
    except IntegrityError:
        # Two registrations raced for the same MRN; the constraint caught the second.
        raise ValidationError(
            {"mrn": f"MRN {values['mrn']} is already used by a patient of this clinic."}
        ) from None
    return patient


def update_demographics(
    *,
    user: User,
    clinic: Clinic,
    patient: Patient,
    data: Mapping[str, Any],
) -> Patient:
    """Change demographics; the audit entry lists each changed field as [old, new]."""
    require(user, clinic, "patients.edit_demographics")
    _in_clinic(patient, clinic, "patient")
    values = clean_demographics(data, clinic=clinic)
    if values["mrn"] != patient.mrn and _mrn_taken(clinic, values["mrn"], exclude=patient.pk):
        raise ValidationError({"mrn": f"MRN {values['mrn']} is already used by a patient of this clinic."})

    with transaction.atomic():
        current = Patient.objects.select_for_update().get(pk=patient.pk)
        changes = {
            name: [getattr(current, name), new]
            for name, new in values.items()
            if _normal(getattr(current, name)) != _normal(new)
        }
        if not changes:
            return current
        for name, (_old, new) in changes.items():
            setattr(current, name, new)
        try:
            with transaction.atomic():
                current.save(update_fields=list(changes))
        except IntegrityError:
            raise ValidationError(
                {"mrn": f"MRN {values['mrn']} is already used by a patient of this clinic."}
            ) from None
        record(
            "patient.edit",
            user=user,
            clinic=clinic,
            obj=current,
            patient_id=current.pk,
            detail={"changes": changes},
        )
    return current


def _normal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def view_chart(*, user: User, clinic: Clinic, patient: Patient) -> None:
    """Audit one read of the chart; refuse a user without the right or a patient of another clinic."""
    membership = require(user, clinic, "patients.view")
    _in_clinic(patient, clinic, "patient")
    with transaction.atomic():
        record(
            "patient.view",
            user=user,
            clinic=clinic,
            obj=patient,
            patient_id=patient.pk,
            detail={
                "role": membership.role,
                "clinical": has_permission(membership, "patients.view_clinical"),
            },
        )


def search_patients(*, user: User, clinic: Clinic, query: str = "") -> models.QuerySet[Patient]:
    """Patients of ``clinic`` matching ``query``: a date of birth, an MRN, or parts of the name.

    A query that parses as a date (YYYY-MM-DD or MM/DD/YYYY) matches the date of birth. Otherwise
    each word must match the start or inside of the given or family name, or the whole query the
    MRN (case-insensitive, prefix). A search with terms is audited (who looked for whom).
    """
    require(user, clinic, "patients.list")
    patients = Patient.in_clinic(clinic)
    query = (query or "").strip()
    if not query:
        return patients
    if (dob := parse_date_flexible(query)) is not None:
        found = patients.filter(date_of_birth=dob)
    else:
        by_name = models.Q()
        for word in query.split():
            by_name &= models.Q(given_name__icontains=word) | models.Q(family_name__icontains=word)
        found = patients.filter(by_name | models.Q(mrn__istartswith=query))
    # One write: record() runs in its own transaction.
    record("patient.search", user=user, clinic=clinic, detail={"query": query[:100]})
    return found


# --- weights -------------------------------------------------------------------------------


def _create_weight(
    *,
    user: User,
    clinic: Clinic,
    patient: Patient,
    weight: tuple[Decimal, Decimal, str],
    measured_at: datetime,
    corrects: WeightMeasurement | None = None,
    reason: str = "",
) -> WeightMeasurement:
    entered, kg, unit = weight
    measurement = WeightMeasurement.objects.create(
        patient=patient,
        measured_at=measured_at,
        weight_kg=kg,
        entered_value=entered,
        entered_unit=unit,
        recorded_by=user,
        corrects=corrects,
        correction_reason=reason,
    )
    detail: dict[str, Any] = {
        "weight_kg": kg,
        "entered": f"{entered} {unit}",
        "measured_at": measured_at,
    }
    if corrects is not None:
        detail |= {"corrects": corrects.pk, "was_kg": corrects.weight_kg, "reason": reason}
    record(
        "patient.weight_correct" if corrects else "patient.weight_record",
        user=user,
        clinic=clinic,
        obj=measurement,
        patient_id=patient.pk,
        detail=detail,
    )
    return measurement


def record_weight(
    *,
    user: User,
    clinic: Clinic,
    patient: Patient,
    value: Any,
    unit: str,
    measured_at: datetime | str | None = None,
) -> WeightMeasurement:
    """Add a weight measurement, entered in kg or lb and stored in kg (the entry is kept too)."""
    require(user, clinic, "patients.record_weight")
    _in_clinic(patient, clinic, "patient")
    weight = _weight_kg(value, unit, value_field="value", unit_field="unit")
    moment = timezone.now()
    if measured_at not in (None, ""):
        moment = clinic_datetime(measured_at, "measured_at", clinic)
    _not_future(moment, "measured_at")
    with transaction.atomic():
        return _create_weight(user=user, clinic=clinic, patient=patient, weight=weight, measured_at=moment)


def correct_weight(
    *,
    user: User,
    clinic: Clinic,
    weight: WeightMeasurement,
    value: Any,
    unit: str,
    reason: str,
    measured_at: datetime | str | None = None,
) -> WeightMeasurement:
    """Correct a measurement: a new one pointing at it, with the reason. The original is kept."""
    require(user, clinic, "patients.record_weight")
    _in_clinic(weight, clinic, "weight")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the weight is corrected."})
    if len(reason) > 200:
        raise ValidationError({"reason": "At most 200 characters."})
    new_weight = _weight_kg(value, unit, value_field="value", unit_field="unit")
    moment = (
        weight.measured_at
        if measured_at in (None, "")
        else clinic_datetime(measured_at, "measured_at", clinic)
    )
    _not_future(moment, "measured_at")
    with transaction.atomic():
        original = WeightMeasurement.objects.select_for_update().get(pk=weight.pk)
        if WeightMeasurement.objects.filter(corrects=original).exists():
            raise ValidationError(
                {"weight": "This measurement was already corrected; correct the newest version instead."}
            )
        return _create_weight(
            user=user,
            clinic=clinic,
            patient=original.patient,
            weight=new_weight,
            measured_at=moment,
            corrects=original,
            reason=reason,
        )


# --- consent -------------------------------------------------------------------------------


def create_consent_text(
    *,
    user: User,
    clinic: Clinic,
    title: str,
    version: str,
    body: str,
    effective_from: date | str | None = None,
) -> ConsentText:
    """Publish a consent text version. Earlier versions of the same title are retired, not changed:
    they stay readable and every consent keeps pointing at the exact version that was signed."""
    require(user, clinic, "consent.manage_texts")
    title, version, body = (title or "").strip(), (version or "").strip(), (body or "").strip()
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = "This field is required."
    elif len(title) > 200:
        errors["title"] = "At most 200 characters."
    if not version:
        errors["version"] = "This field is required."
    elif len(version) > 20:
        errors["version"] = "At most 20 characters."
    if not body:
        errors["body"] = "This field is required."
    start = clinic_today(clinic)
    if effective_from not in (None, ""):
        try:
            start = _as_date(effective_from, "effective_from")
        except ValidationError as exc:
            errors["effective_from"] = exc.message_dict["effective_from"][0]
    if not errors and ConsentText.in_clinic(clinic).filter(title=title, version=version).exists():
        errors["version"] = (
            f"{title} version {version} exists already; texts are never edited, use a new version."
        )
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        now = timezone.now()
        retired = list(
            ConsentText.in_clinic(clinic)
            .filter(title=title, retired_at__isnull=True)
            .values_list("pk", flat=True)
        )
        ConsentText.objects.filter(pk__in=retired).update(retired_at=now)
        seal_rows(ConsentText, retired)  # update() sends no post_save
        text = ConsentText.objects.create(
            clinic=clinic, title=title, version=version, body=body, effective_from=start, created_by=user
        )
        record(
            "consent_text.create",
            user=user,
            clinic=clinic,
            obj=text,
            detail={"title": title, "version": version, "retired": retired, "chars": len(body)},
        )
    return text


def record_consent(
    *,
    user: User,
    clinic: Clinic,
    patient: Patient,
    text: ConsentText | int,
    signed_by_name: str,
    signer_relation: str = "self",
    signed_at: datetime | str,
    witness: User | int,
) -> Consent:
    """Record a signed informed consent against the exact text version that was read.

    ``signer_relation`` is "self" when the patient signed, otherwise the representative's relation
    (for example "parent", "legal guardian"). The witness must hold a role in this clinic.
    """
    require(user, clinic, "patients.consent")
    _in_clinic(patient, clinic, "patient")
    errors: dict[str, str] = {}
    text_obj = ConsentText.in_clinic(clinic).filter(pk=getattr(text, "pk", text)).first()
    if text_obj is None:
        errors["text"] = "Choose a consent text of this clinic."
    elif text_obj.retired_at is not None:
        errors["text"] = f"{text_obj} was replaced by a newer version; have the current version signed."
    signed_by_name = (signed_by_name or "").strip()
    signer_relation = (signer_relation or "").strip() or "self"
    if not signed_by_name:
        errors["signed_by_name"] = "Who signed? Enter the patient's or the representative's name."
    elif len(signed_by_name) > 200:
        errors["signed_by_name"] = "At most 200 characters."
    if len(signer_relation) > 60:
        errors["signer_relation"] = "At most 60 characters."
    witness_pk: Any = getattr(witness, "pk", witness)
    witness_user = (
        User.objects.filter(pk=witness_pk, memberships__clinic=clinic, memberships__is_active=True).first()
        if witness_pk not in (None, "")
        else None
    )
    if witness_user is None:
        errors["witness"] = "The witness must be a staff member of this clinic."
    moment: datetime | None = None
    try:
        moment = clinic_datetime(signed_at, "signed_at", clinic)
        _not_future(moment, "signed_at")
    except ValidationError as exc:
        errors["signed_at"] = exc.message_dict["signed_at"][0]
    if errors or text_obj is None or witness_user is None or moment is None:
        raise ValidationError(errors)

    with transaction.atomic():
        consent = Consent.objects.create(
            patient=patient,
            text=text_obj,
            signed_by_name=signed_by_name,
            signer_relation=signer_relation,
            signed_at=moment,
            witness=witness_user,
            recorded_by=user,
        )
        record(
            "patient.consent",
            user=user,
            clinic=clinic,
            obj=consent,
            patient_id=patient.pk,
            detail={
                "text": str(text_obj),
                "text_id": text_obj.pk,
                "signed_by": signed_by_name,
                "relation": signer_relation,
                "witness": witness_user.username,
                "signed_at": moment,
            },
        )
    return consent
