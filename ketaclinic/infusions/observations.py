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
ROUTES = ("iv", "im", "po", "sl", "odt", "sc", "intranasal", "inhaled", "topical")
SETTING_KEYS = ("music", "eye_shade", "lighting", "support_person", "other")
MAX_TEXT = 4000


class ObservationError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
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
        field = "items" if kind in {"cadss", "cadss6", "bprs"} else "score"
        raise ObservationError(field, str(exc)) from None


def _adverse_event(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ae_term": _text("ae_term", data.get("ae_term"), required=True, limit=200),
        "ctcae_grade": _whole("ctcae_grade", data.get("ctcae_grade"), 1, 5),
        "action_taken": _text("action_taken", data.get("action_taken"), required=True),
        "text": _text("text", data.get("text")),
    }


def _prn(data: Mapping[str, Any]) -> dict[str, Any]:
    raw = data.get("dose_value")
    try:
        dose = Decimal(str(raw).strip())
    except (InvalidOperation, AttributeError):
        raise ObservationError("dose_value", f"{raw!r} is not a number") from None
    if not dose.is_finite() or dose <= 0:
        raise ObservationError("dose_value", "the dose must be more than 0")
    if dose >= Decimal("1000000"):
        raise ObservationError("dose_value", "the dose is implausibly large")
    unit = str(data.get("dose_unit") or "").strip()
    if unit not in DOSE_UNITS:
        raise ObservationError("dose_unit", f"choose one of {', '.join(DOSE_UNITS)}")
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
    if kind in {"cadss", "cadss6", "moaas", "nausea", "pain", "bprs"}:
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
