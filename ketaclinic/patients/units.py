"""Body-size units for the web side: the one module that converts lb<->kg and in<->cm.

Values are ``Decimal`` throughout, so a weight entered in pounds converts exactly (the pound is
defined as exactly 0.45359237 kg, the inch as exactly 2.54 cm) before it is rounded once to the
precision the database stores.

The plausibility ranges below are *local defaults*, not clinical facts from
``reference/clinical.md``: they catch typing errors (a weight of 0 or 2,000 kg), and a clinic
can change them through settings (``PATIENT_WEIGHT_RANGE_KG``, ``PATIENT_HEIGHT_RANGE_CM``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings

KG_PER_LB = Decimal("0.45359237")  # exact, by the 1959 international yard and pound agreement
CM_PER_IN = Decimal("2.54")  # exact, same agreement

WEIGHT_UNITS = ("kg", "lb")
HEIGHT_UNITS = ("cm", "in")

# Local plausibility defaults (configurable; not from clinical.md, so flagged as a local choice).
DEFAULT_WEIGHT_RANGE_KG = (Decimal("20"), Decimal("350"))
DEFAULT_HEIGHT_RANGE_CM = (Decimal("50"), Decimal("250"))

KG_PLACES = Decimal("0.01")  # WeightMeasurement.weight_kg has 2 decimal places
CM_PLACES = Decimal("0.1")  # Patient.height_cm has 1 decimal place


def weight_range_kg() -> tuple[Decimal, Decimal]:
    low, high = getattr(settings, "PATIENT_WEIGHT_RANGE_KG", DEFAULT_WEIGHT_RANGE_KG)
    return Decimal(str(low)), Decimal(str(high))


def height_range_cm() -> tuple[Decimal, Decimal]:
    low, high = getattr(settings, "PATIENT_HEIGHT_RANGE_CM", DEFAULT_HEIGHT_RANGE_CM)
    return Decimal(str(low)), Decimal(str(high))


def as_decimal(value: object, field: str) -> Decimal:
    """Parse a number given as str, int, float or Decimal; ``ValueError`` names ``field``."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError(f"{field}: enter a number.")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{field}: {value!r} is not a number.") from None
    if not number.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number.")
    return number


def lb_to_kg(lb: Decimal) -> Decimal:
    """Exact conversion, no rounding.

    >>> lb_to_kg(Decimal("150"))
    Decimal('68.03885550')
    """
    return lb * KG_PER_LB


def kg_to_lb(kg: Decimal) -> Decimal:
    """Pounds for display, rounded to 0.1 lb.

    >>> kg_to_lb(Decimal("68.04"))
    Decimal('150.0')
    """
    return (kg / KG_PER_LB).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def weight_to_kg(value: Decimal, unit: str) -> Decimal:
    """A weight in ``unit`` (kg or lb) as kg, rounded once to the stored 0.01 kg.

    >>> weight_to_kg(Decimal("150"), "lb")
    Decimal('68.04')
    >>> weight_to_kg(Decimal("70.5"), "kg")
    Decimal('70.50')
    """
    if unit == "kg":
        kg = value
    elif unit == "lb":
        kg = lb_to_kg(value)
    else:
        raise ValueError(f"unit: {unit!r} is not a weight unit; use one of {', '.join(WEIGHT_UNITS)}.")
    return kg.quantize(KG_PLACES, rounding=ROUND_HALF_UP)


def height_to_cm(value: Decimal, unit: str) -> Decimal:
    """A height in ``unit`` (cm or in) as cm, rounded once to the stored 0.1 cm.

    >>> height_to_cm(Decimal("70"), "in")
    Decimal('177.8')
    """
    if unit == "cm":
        cm = value
    elif unit == "in":
        cm = value * CM_PER_IN
    else:
        raise ValueError(f"unit: {unit!r} is not a height unit; use one of {', '.join(HEIGHT_UNITS)}.")
    return cm.quantize(CM_PLACES, rounding=ROUND_HALF_UP)


def implausible_weight(kg: Decimal) -> str | None:
    """A message when ``kg`` lies outside the plausible range, else None."""
    low, high = weight_range_kg()
    if kg < low or kg > high:
        return (
            f"{kg.normalize():f} kg is outside the plausible range {low}–{high} kg; "
            "check the value and the unit."
        )
    return None


def implausible_height(cm: Decimal) -> str | None:
    low, high = height_range_cm()
    if cm < low or cm > high:
        return (
            f"{cm.normalize():f} cm is outside the plausible range {low}–{high} cm; "
            "check the value and the unit."
        )
    return None
