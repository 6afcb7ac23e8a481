"""What each observation kind holds, and its validation. Pure: a dict in, model field values out.

``clean(kind, data)`` returns the values to store for that kind and raises ``ObservationError``
naming the field when one is missing or out of range. Ratings are scored by ``scales``; the
plausibility ranges of vital signs only catch typing errors (a systolic of 1200), they are not
clinical thresholds (those are in ``alerts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ketaclinic.infusions import scales

FIELDS: dict[str, tuple[str, ...]] = {
    "vitals": (
        "systolic_mmhg",
        "diastolic_mmhg",
        "heart_rate_bpm",
        "spo2_pct",
        "on_oxygen",
        "resp_rate_per_min",
        "temperature_c",
    ),
    "cadss": ("score", "items"),
    "cadss6": ("score", "items"),
    "moaas": ("score",),
    "nausea": ("score",),
    "pain": ("score",),
    "bprs": ("score", "items"),
    "adverse_event": ("ae_term", "ctcae_grade", "action_taken", "text"),
    "prn": ("drug", "dose_value", "dose_unit", "route", "indication"),
    "setting": ("setting", "text"),
    "note": ("text",),
    "aldrete": ("score", "items"),
    "padss": ("score", "items"),
    "discharge_check": ("items", "text"),
}
# Every value field of any kind, once, in the order of FIELDS: the API's observation body.
VALUE_FIELDS = tuple(dict.fromkeys(f for fields in FIELDS.values() for f in fields))
# The kinds that are a rating on a scale (``scales``); the first three are scored from their items.
ITEM_RATINGS = ("cadss", "cadss6", "bprs")
RATINGS = (*ITEM_RATINGS, "moaas", "nausea", "pain")
DISCHARGE_CHECKS = ("gait_steady", "escort_present", "no_driving_advice_given")

# Plausible input ranges (typing-error guards, not clinical limits).
VITAL_RANGES: dict[str, tuple[int, int]] = {
    "systolic_mmhg": (40, 300),
    "diastolic_mmhg": (20, 200),
    "heart_rate_bpm": (20, 250),
    "spo2_pct": (50, 100),
    "resp_rate_per_min": (0, 80),
}
TEMPERATURE_RANGE_C = (Decimal("30.0"), Decimal("45.0"))
DOSE_UNITS = ("mg", "mcg", "g", "mL", "units")
# The most one PRN dose can plausibly be, per unit: typing guards that catch 999,999 g or a dose
# typed in the wrong unit, above any single dose a ketamine clinic gives as needed (assumed, no
# source: acetaminophen 1 g and a 1 L fluid bolus sit well inside). Not clinical limits.
PRN_DOSE_MAX = {
    "mg": Decimal("2000"),
    "mcg": Decimal("5000"),
    "g": Decimal("2"),
    "mL": Decimal("2000"),
    "units": Decimal("10000"),
}
ROUTES = ("iv", "im", "po", "sl", "odt", "sc", "intranasal", "inhaled", "topical")
SETTING_KEYS = ("music", "eye_shade", "lighting", "support_person", "other")
MAX_TEXT = 4000

# Offered as suggestions on the forms (datalists); any other text is accepted.
ROUTE_LABELS = {
    "iv": "IV",
    "im": "IM",
    "po": "oral (PO)",
    "sl": "sublingual",
    "odt": "orally disintegrating tablet",
    "sc": "subcutaneous",
    "intranasal": "intranasal",
    "inhaled": "inhaled",
    "topical": "topical",
}
# Adverse-event terms offered on the form (any other term is accepted): issue 5's list plus the
# common esketamine effects of clinical.md §7.3 [S118][S119] (dizziness, dissociation, nausea,
# vomiting, sedation, BP increased). Emergence reactions are reported at anaesthetic doses (§7.2 [S116]).
AE_TERMS = (
    "nausea",
    "vomiting",
    "hypertension",
    "tachycardia",
    "dizziness",
    "headache",
    "anxiety",
    "dissociation",
    "sedation",
    "emergence reaction",
)
# CTCAE v5.0 generic grade meanings (clinical.md §7.1 [S109][S110]).
CTCAE_GRADES = {
    1: "mild; observation only",
    2: "moderate; minimal or non-invasive intervention",
    3: "severe or medically significant; hospitalization indicated",
    4: "life-threatening; urgent intervention",
    5: "death",
}
# PRN drug names offered on the form: a local convenience list (no doses suggested), not from the
# reference. Ondansetron for nausea is the example.
PRN_SUGGESTIONS = ("ondansetron",)


class ObservationError(ValueError):
    """A value of one field is missing or wrong. ``message`` says what, without the field's name."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _whole(field: str, value: Any, low: int, high: int) -> int:
    try:
        return scales.int_item("", "", value, low, high)
    except scales.ScaleError:
        raise ObservationError(field, f"enter a whole number from {low} to {high}, got {value!r}") from None


def _text(field: str, value: Any, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        raise ObservationError(field, "this field is required")
    if len(text) > limit:
        raise ObservationError(field, f"at most {limit} characters")
    return text


def _bool(field: str, value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on", "y"}:
        return True
    if text in {"0", "false", "no", "off", "n"}:
        return False
    raise ObservationError(field, f"{value!r} is not yes or no")


def _vitals(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (low, high) in VITAL_RANGES.items():
        value = data.get(name)
        out[name] = None if _blank(value) else _whole(name, value, low, high)
    temp = data.get("temperature_c")
    if _blank(temp):
        out["temperature_c"] = None
    else:
        try:
            t = Decimal(str(temp)).quantize(Decimal("0.1"))
        except InvalidOperation:
            raise ObservationError("temperature_c", f"{temp!r} is not a number") from None
        t_low, t_high = TEMPERATURE_RANGE_C
        if not t_low <= t <= t_high:
            raise ObservationError("temperature_c", f"{t} °C is outside {t_low}-{t_high} °C")
        out["temperature_c"] = t
    out["on_oxygen"] = _bool("on_oxygen", data.get("on_oxygen"))
    if (out["systolic_mmhg"] is None) != (out["diastolic_mmhg"] is None):
        missing = "diastolic_mmhg" if out["diastolic_mmhg"] is None else "systolic_mmhg"
        raise ObservationError(missing, "enter both systolic and diastolic pressure")
    if out["systolic_mmhg"] is not None and out["diastolic_mmhg"] >= out["systolic_mmhg"]:
        raise ObservationError("diastolic_mmhg", "diastolic pressure must be below systolic")
    if all(out[n] is None for n in (*VITAL_RANGES, "temperature_c")):
        raise ObservationError("systolic_mmhg", "enter at least one vital sign")
    return out


def _rating(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        if kind == "cadss":
            items = list(data.get("items") or [])
            return {"score": scales.score_cadss(items), "items": [int(v) for v in items]}
        if kind == "cadss6":
            raw = data.get("items") or {}
            score = scales.score_cadss6(raw)
            if isinstance(raw, Mapping):
                values = {str(int(k)): int(v) for k, v in raw.items()}
            else:
                values = {str(n): int(v) for n, v in zip(scales.CADSS6_ITEMS, raw, strict=True)}
            return {"score": score, "items": values}
        if kind == "bprs":
            raw = data.get("items") or {}
            score = scales.score_bprs_positive(raw)
            return {"score": score, "items": {k: int(raw[k]) for k in scales.BPRS_POSITIVE_ITEMS}}
        scorer = {"moaas": scales.score_moaas, "nausea": scales.score_nausea, "pain": scales.score_pain_nrs}[
            kind
        ]
        return {"score": scorer(data.get("score"))}
    except scales.ScaleError as exc:
        field = "items" if kind in ITEM_RATINGS else "score"
        raise ObservationError(field, str(exc)) from None


def _adverse_event(data: Mapping[str, Any]) -> dict[str, Any]:
    if _blank(data.get("ctcae_grade")):
        raise ObservationError("ctcae_grade", "choose the CTCAE grade, 1-5")
    return {
        "ae_term": _text("ae_term", data.get("ae_term"), required=True, limit=200),
        "ctcae_grade": _whole("ctcae_grade", data.get("ctcae_grade"), 1, 5),
        "action_taken": _text("action_taken", data.get("action_taken"), required=True),
        "text": _text("text", data.get("text")),
    }


def _prn(data: Mapping[str, Any]) -> dict[str, Any]:
    raw = data.get("dose_value")
    if _blank(raw):
        raise ObservationError("dose_value", "enter the dose given")
    try:
        dose = Decimal(str(raw).strip())
    except (InvalidOperation, AttributeError):
        raise ObservationError("dose_value", f"{raw!r} is not a number") from None
    if not dose.is_finite() or dose <= 0:
        raise ObservationError("dose_value", "the dose must be more than 0")
    unit = str(data.get("dose_unit") or "").strip()
    if unit not in DOSE_UNITS:
        raise ObservationError("dose_unit", f"choose one of {', '.join(DOSE_UNITS)}")
    if dose > PRN_DOSE_MAX[unit]:
        raise ObservationError(
            "dose_value",
            f"{dose.normalize():f} {unit} is implausibly large for one PRN dose (at most "
            f"{PRN_DOSE_MAX[unit]} {unit}; a typing guard, not a clinical limit)",
        )
    route = str(data.get("route") or "").strip().lower()
    if route not in ROUTES:
        raise ObservationError("route", f"choose one of {', '.join(ROUTES)}")
    return {
        "drug": _text("drug", data.get("drug"), required=True, limit=120),
        "dose_value": dose,
        "dose_unit": unit,
        "route": route,
        "indication": _text("indication", data.get("indication"), limit=200),
    }


def _setting(data: Mapping[str, Any]) -> dict[str, Any]:
    raw = data.get("setting") or {}
    if not isinstance(raw, Mapping):
        raise ObservationError("setting", "expected music, eye_shade, lighting, support_person or other")
    unknown = sorted(set(raw) - set(SETTING_KEYS))
    if unknown:
        raise ObservationError("setting", f"unknown item(s): {', '.join(unknown)}")
    setting: dict[str, Any] = {}
    for key in SETTING_KEYS:
        if key not in raw:
            continue
        if key == "eye_shade":
            setting[key] = _bool("eye_shade", raw[key])
        else:
            setting[key] = _text(key, raw[key], limit=200)
    text = _text("text", data.get("text"))
    if not any(v not in (None, "") for v in setting.values()) and not text:
        raise ObservationError("setting", "enter at least one item or a note")
    return {"setting": setting, "text": text}


def _recovery_score(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    raw = data.get("items") or {}
    if not isinstance(raw, Mapping):
        raise ObservationError("items", "expected the items by name")
    try:
        score = scales.score_aldrete(raw) if kind == "aldrete" else scales.score_padss(raw)
    except scales.ScaleError as exc:
        raise ObservationError("items", str(exc)) from None
    return {"score": score.total, "items": score.items}


def _discharge_check(data: Mapping[str, Any]) -> dict[str, Any]:
    raw = data.get("items") or {}
    if not isinstance(raw, Mapping):
        raise ObservationError("items", f"expected {', '.join(DISCHARGE_CHECKS)}")
    unknown = sorted(set(raw) - set(DISCHARGE_CHECKS))
    if unknown:
        raise ObservationError("items", f"unknown item(s): {', '.join(unknown)}")
    items = {k: bool(_bool(k, raw.get(k))) for k in DISCHARGE_CHECKS}
    return {"items": items, "text": _text("text", data.get("text"))}


def clean(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validated field values for an observation of ``kind``.

    >>> clean("vitals", {"systolic_mmhg": "128", "diastolic_mmhg": 82, "heart_rate_bpm": 71})["systolic_mmhg"]
    128
    >>> clean("moaas", {"score": 6})
    Traceback (most recent call last):
    ...
    ketaclinic.infusions.observations.ObservationError: score: MOAA/S score: 6 is outside 0-5
    """
    if kind not in FIELDS:
        raise ObservationError("kind", f"unknown observation kind {kind!r}; one of {', '.join(FIELDS)}")
    if kind == "vitals":
        return _vitals(data)
    if kind in RATINGS:
        return _rating(kind, data)
    if kind == "adverse_event":
        return _adverse_event(data)
    if kind == "prn":
        return _prn(data)
    if kind == "setting":
        return _setting(data)
    if kind in ("aldrete", "padss"):
        return _recovery_score(kind, data)
    if kind == "discharge_check":
        return _discharge_check(data)
    return {"text": _text("text", data.get("text"), required=True)}


def _num(value: Any) -> str:
    return f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)


def summary(kind: str, values: Mapping[str, Any]) -> str:  # noqa: PLR0911, PLR0912 - one branch per kind
    """One line for lists and the printed record.

    >>> summary("vitals", {"systolic_mmhg": 128, "diastolic_mmhg": 82, "heart_rate_bpm": 71,
    ...                    "on_oxygen": True})
    '128/82 mmHg · HR 71 · on O2'
    >>> summary("prn", {"drug": "ondansetron", "dose_value": Decimal("4.000"), "dose_unit": "mg",
    ...                 "route": "iv", "indication": "nausea"})
    'ondansetron 4 mg IV for nausea'
    """
    v = values
    if kind == "vitals":
        parts = []
        if v.get("systolic_mmhg") is not None:
            parts.append(f"{v['systolic_mmhg']}/{v.get('diastolic_mmhg')} mmHg")
        for name, label, unit in (
            ("heart_rate_bpm", "HR", ""),
            ("spo2_pct", "SpO2", " %"),
            ("resp_rate_per_min", "RR", ""),
        ):
            if v.get(name) is not None:
                parts.append(f"{label} {v[name]}{unit}")
        if v.get("temperature_c") is not None:
            parts.append(f"{v['temperature_c']} °C")
        if v.get("on_oxygen"):
            parts.append("on O2")
        return " · ".join(parts)
    score: Any = v.get("score")
    if kind == "cadss":
        return f"{score}/92"
    if kind == "cadss6":
        return f"{score}/24"
    if kind == "moaas":
        return f"{score}: {scales.MOAAS_LABELS.get(score, '')}"
    if kind == "nausea":
        return f"{score} ({scales.NAUSEA_LABELS.get(score, '')})"
    if kind == "pain":
        return f"{score}/10"
    if kind == "bprs":
        return f"{score} (4-28)"
    if kind in ("aldrete", "padss"):
        return f"{score}/10"
    if kind == "discharge_check":
        items = v.get("items") or {}
        marks = ", ".join(
            f"{k.replace('_', ' ')} {'yes' if items.get(k) else 'no'}" for k in DISCHARGE_CHECKS
        )
        return marks + (f"; {v['text']}" if v.get("text") else "")
    if kind == "adverse_event":
        grade: Any = v.get("ctcae_grade")
        meaning = CTCAE_GRADES.get(grade, "")
        text = f"{v.get('ae_term')}, CTCAE grade {grade} ({meaning}); {v.get('action_taken')}"
        return text + (f"; {v['text']}" if v.get("text") else "")
    if kind == "prn":
        route = ROUTE_LABELS.get(str(v.get("route")), v.get("route"))
        text = f"{v.get('drug')} {_num(v.get('dose_value'))} {v.get('dose_unit')} {route}"
        return text + (f" for {v['indication']}" if v.get("indication") else "")
    if kind == "setting":
        setting = v.get("setting") or {}
        parts = []
        for key in SETTING_KEYS:
            if key not in setting or setting[key] in (None, ""):
                continue
            if key == "eye_shade":
                parts.append("eye shade " + ("worn" if setting[key] else "not worn"))
            else:
                parts.append(f"{key.replace('_', ' ')}: {setting[key]}")
        if v.get("text"):
            parts.append(str(v["text"]))
        return "; ".join(parts)
    return str(v.get("text", ""))
