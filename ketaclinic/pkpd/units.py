"""Unit conversions for the engine: the only module that converts units.

Internal units everywhere else: time in minutes, amounts in mg, volumes in L, flows in L/min,
rate constants in 1/min, concentrations in ng/mL.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

#: Minutes per unit of time, by every spelling the regimen parser accepts.
TIME_UNITS_MIN: Final = MappingProxyType(
    {
        "s": 1.0 / 60.0,
        "sec": 1.0 / 60.0,
        "secs": 1.0 / 60.0,
        "second": 1.0 / 60.0,
        "seconds": 1.0 / 60.0,
        "min": 1.0,
        "mins": 1.0,
        "minute": 1.0,
        "minutes": 1.0,
        "h": 60.0,
        "hr": 60.0,
        "hrs": 60.0,
        "hour": 60.0,
        "hours": 60.0,
    }
)

#: Dose units: (factor to mg, per kilogram of body weight?)
DOSE_UNITS: Final = MappingProxyType({"mg": (1.0, False), "mg/kg": (1.0, True)})

#: Rate units: (factor to mg/min, per kilogram of body weight?)
RATE_UNITS: Final = MappingProxyType(
    {
        "mg/min": (1.0, False),
        "mg/h": (1.0 / 60.0, False),
        "mg/kg/min": (1.0, True),
        "mg/kg/h": (1.0 / 60.0, True),
    }
)

#: mg/L (amount in mg divided by volume in L) to ng/mL.
MG_PER_L_TO_NG_PER_ML: Final = 1000.0

#: Minutes per hour (for per-hour published constants and AUC in ng*h/mL).
MIN_PER_H: Final = 60.0


def per_h_to_per_min(value_per_h: float) -> float:
    """Convert a rate constant or flow from per hour to per minute.

    Examples
    --------
    >>> per_h_to_per_min(60.0)
    1.0
    """
    return value_per_h / MIN_PER_H


def time_to_min(value: float, unit: str) -> float:
    """Convert a time in `unit` (s, sec, min, h, ...) to minutes.

    Raises
    ------
    KeyError
        If `unit` is not a known time unit.

    Examples
    --------
    >>> time_to_min(2.0, "h")
    120.0
    """
    return value * TIME_UNITS_MIN[unit]


def ng_min_per_ml_to_ng_h_per_ml(value: float) -> float:
    """Convert an AUC from ng*min/mL to ng*h/mL.

    Examples
    --------
    >>> ng_min_per_ml_to_ng_h_per_ml(120.0)
    2.0
    """
    return value / MIN_PER_H
