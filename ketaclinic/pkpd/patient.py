"""The patient record the engine simulates."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Sex = Literal["female", "male"]


@dataclass(frozen=True)
class Patient:
    """Patient covariates (frozen).

    Attributes
    ----------
    weight_kg : float
        Total body weight (kg); must be in (0, 500].
    age_yr : float or None
        Age (years), in [0, 130].
    sex : {"female", "male"} or None
        Sex.
    height_cm : float or None
        Height (cm), in (0, 300].
    medications : tuple of str
        Generic names of the medications taken (lower case); the measured interactions among
        them change clearance and first pass (:mod:`ketaclinic.pkpd.interactions`).
    hepatic_impairment : {"mild", "moderate", "severe"} or None
        Recorded hepatic impairment (a warning only: no published factor to apply).

    Raises
    ------
    ValueError
        For a nonsensical value; the message names the field.

    Examples
    --------
    >>> Patient(weight_kg=70.0, age_yr=40.0, sex="female").weight_kg
    70.0
    >>> Patient(weight_kg=0.0)
    Traceback (most recent call last):
    ...
    ValueError: weight_kg: must be a finite number in (0, 500] kg, got 0.0
    """

    weight_kg: float
    age_yr: float | None = None
    sex: Sex | None = None
    height_cm: float | None = None
    medications: tuple[str, ...] = ()
    hepatic_impairment: str | None = None

    def __post_init__(self) -> None:
        _check("weight_kg", self.weight_kg, 0.0, 500.0, "kg", open_low=True)
        if self.age_yr is not None:
            _check("age_yr", self.age_yr, 0.0, 130.0, "years", open_low=False)
        if self.height_cm is not None:
            _check("height_cm", self.height_cm, 0.0, 300.0, "cm", open_low=True)
        if self.sex is not None and self.sex not in ("female", "male"):
            raise ValueError(f"sex: must be 'female', 'male' or None, got {self.sex!r}")
        if not isinstance(self.medications, tuple) or not all(isinstance(m, str) for m in self.medications):
            raise ValueError("medications: must be a tuple of generic names (str)")
        object.__setattr__(
            self, "medications", tuple(sorted({m.strip().lower() for m in self.medications if m}))
        )
        if self.hepatic_impairment not in (None, "mild", "moderate", "severe"):
            raise ValueError(
                "hepatic_impairment: must be 'mild', 'moderate', 'severe' or None, "
                f"got {self.hepatic_impairment!r}"
            )


def _check(name: str, value: float, low: float, high: float, unit: str, *, open_low: bool) -> None:
    ok = isinstance(value, int | float) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ValueError(
            f"{name}: must be a finite number in {bracket}{low:g}, {high:g}] {unit}, got {value!r}"
        )
