"""Dose computation: from a dose rule and a weight to mg, mL, pump rate, titration steps.

Pure functions over ``Decimal``. Every dose is mg of ketamine **base** (esketamine: mg esketamine),
with the HCl-salt equivalent given beside it where the product is ketamine (see ``units``).

Rounding happens once, at the end, to what a person can measure and program:
dose 0.1 mg, volume 0.01 mL, pump rate 0.1 mL/h. Limits are checked against the ordered values
(the mg/kg the prescriber chose, the rounded mg that will be drawn up).

Three routes:

- ``iv``: an infusion. Either a fixed dose (mg/kg over a duration: rate = dose / duration) or a
  titrated rate (start, step, interval between steps, ceiling, total duration); optional loading bolus.
- ``im``: one injection of mg/kg at the product's concentration.
- ``nasal``: esketamine in 28 mg devices (Spravato); the dose must be a whole number of devices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from ketaclinic.pkpd import DoseEvent, Regimen
from ketaclinic.pkpd.published import Drug
from ketaclinic.pkpd.regimen import nasal_devices, rate_steps
from ketaclinic.protocols.units import base_to_salt_mg, mg_to_ml, q

Route = Literal["iv", "im", "nasal"]
ROUTES: dict[str, str] = {"iv": "IV infusion", "im": "IM injection", "nasal": "Nasal spray"}

DOSE_PLACES = "0.1"  # mg
VOLUME_PLACES = "0.01"  # mL
PUMP_PLACES = "0.1"  # mL/h
CHECK_PLACES = "0.0001"  # derived per-kg values, so 30/40 is 0.75 and not 0.7499...

# Independent double check: how close the nurse's own figures must come to the order.
# Local defaults (not from clinical.md): weight within 0.1 kg absorbs lb->kg rounding; dose within
# 0.1 mg is the precision the order is written in.
DOUBLE_CHECK_WEIGHT_TOLERANCE_KG = Decimal("0.1")
DOUBLE_CHECK_DOSE_TOLERANCE_MG = Decimal("0.1")
DOUBLE_CHECK_RATE_TOLERANCE_ML_PER_H = Decimal("0.1")

ESKETAMINE_DEVICE_MG = Decimal("28")  # clinical.md §2.1 [S20][S25]


@dataclass(frozen=True)
class Titration:
    """Rate titration within a session: start, step every ``interval_min``, never above ``ceiling``."""

    start_mg_per_kg_per_h: Decimal
    step_mg_per_kg_per_h: Decimal
    interval_min: Decimal
    ceiling_mg_per_kg_per_h: Decimal

    def validate(self) -> list[str]:
        errors = []
        if self.start_mg_per_kg_per_h <= 0:
            errors.append("titration_start: the starting rate must be above 0 mg/kg/h.")
        if self.step_mg_per_kg_per_h < 0:
            errors.append("titration_step: the step must not be negative.")
        if self.interval_min <= 0:
            errors.append("titration_interval: the interval between steps must be above 0 min.")
        if self.ceiling_mg_per_kg_per_h < self.start_mg_per_kg_per_h:
            errors.append("titration_ceiling: the ceiling must not be below the starting rate.")
        return errors


@dataclass(frozen=True)
class DoseRequest:
    """What the prescriber orders. Which fields apply depends on the route."""

    route: Route
    weight_kg: Decimal
    dose_mg_per_kg: Decimal | None = None  # iv fixed, im
    dose_mg: Decimal | None = None  # nasal
    duration_min: Decimal | None = None  # iv
    titration: Titration | None = None  # iv titrated (replaces dose_mg_per_kg)
    bolus_mg_per_kg: Decimal | None = None  # iv, optional loading bolus at t = 0
    conc_base_mg_per_ml: Decimal | None = None  # iv, im
    drug: Literal["racemic", "esketamine"] = "racemic"


@dataclass(frozen=True)
class Step:
    """One rate segment of an infusion."""

    start_min: Decimal
    end_min: Decimal
    rate_mg_per_kg_per_h: Decimal
    rate_mg_per_h: Decimal
    rate_ml_per_h: Decimal | None
    mg: Decimal

    def to_dict(self) -> dict[str, str | None]:
        return {
            "start_min": str(self.start_min),
            "end_min": str(self.end_min),
            "rate_mg_per_kg_per_h": str(self.rate_mg_per_kg_per_h),
            "rate_mg_per_h": str(self.rate_mg_per_h),
            "rate_ml_per_h": None if self.rate_ml_per_h is None else str(self.rate_ml_per_h),
            "mg": str(self.mg),
        }


@dataclass(frozen=True)
class DoseComputation:
    """Everything the order states, rounded for use. Units are in the names."""

    route: Route
    drug: str
    weight_kg: Decimal
    dose_mg_per_kg: Decimal  # main dose per kg (as ordered, or derived for fixed-mg doses)
    dose_mg: Decimal  # main dose, mg base (iv: whole infusion incl. every titration step)
    dose_mg_salt: Decimal | None  # ketamine HCl equivalent of dose_mg (racemic only)
    volume_ml: Decimal | None  # main dose volume at the concentration
    concentration_base_mg_per_ml: Decimal | None
    duration_min: Decimal | None
    rate_mg_per_kg_per_h: Decimal | None  # highest rate ordered
    rate_ml_per_h: Decimal | None  # starting pump rate
    bolus_mg: Decimal | None
    bolus_ml: Decimal | None
    cumulative_mg: Decimal
    devices: int | None
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def limit_values(self) -> dict[str, Decimal | None]:
        """Values for ``limits.check`` (session-history kinds are added by the caller)."""
        return {
            "dose_mg_per_kg": self.dose_mg_per_kg,
            "dose_mg": self.dose_mg,
            "rate_mg_per_kg_per_h": self.rate_mg_per_kg_per_h,
            "duration_min": self.duration_min,
            "cumulative_session_mg": self.cumulative_mg,
            "bolus_mg": self.bolus_mg,
        }

    def regimen(self) -> Regimen:
        """The order as the engine's ``Regimen``, built from the numbers (what ``regimen_text`` writes
        and ``pkpd.parse_regimen`` would read back, without the round trip through text)."""
        drug: Drug = "esketamine" if self.drug == "esketamine" else "racemic"
        if self.route == "nasal":
            n_devices = self.devices or int(self.dose_mg / ESKETAMINE_DEVICE_MG)
            return Regimen(tuple(nasal_devices(n_devices)), text=self.regimen_text())
        if self.route == "im":
            return Regimen((DoseEvent("im", drug, 0.0, float(self.dose_mg)),), text=self.regimen_text())
        events: list[DoseEvent] = []
        if self.bolus_mg:
            events.append(DoseEvent("iv", drug, 0.0, float(self.bolus_mg)))
        if len(self.steps) <= 1:
            duration = float(self.duration_min or 0)
            events.append(DoseEvent("iv", drug, 0.0, float(self.dose_mg), False, duration))
        else:
            steps = [(float(s.rate_mg_per_h), float(s.end_min - s.start_min)) for s in self.steps]
            events += rate_steps(drug, steps)
        return Regimen(tuple(events), text=self.regimen_text())

    def regimen_text(self) -> str:
        """The order in the engine's regimen language (``ketaclinic.pkpd.parse_regimen``), as shown
        and stored with the order."""
        parts: list[str] = []
        if self.route == "nasal":
            return f"nasal esketamine {_n(self.dose_mg)} mg"
        if self.route == "im":
            return f"im {_n(self.dose_mg)} mg"
        if self.bolus_mg:
            parts.append(f"bolus {_n(self.bolus_mg)} mg")
        if len(self.steps) <= 1:
            parts.append(f"iv {_n(self.dose_mg)} mg over {_n(self.duration_min or Decimal(0))} min")
        else:
            segs = [f"{_n(s.rate_mg_per_h)} mg/h for {_n(s.end_min - s.start_min)} min" for s in self.steps]
            parts.append("iv " + ", then ".join(segs))
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "route": self.route,
            "drug": self.drug,
            "weight_kg": str(self.weight_kg),
            "dose_mg_per_kg": str(self.dose_mg_per_kg),
            "dose_mg": str(self.dose_mg),
            "dose_mg_salt": s(self.dose_mg_salt),
            "volume_ml": s(self.volume_ml),
            "concentration_base_mg_per_ml": s(self.concentration_base_mg_per_ml),
            "duration_min": s(self.duration_min),
            "rate_mg_per_kg_per_h": s(self.rate_mg_per_kg_per_h),
            "rate_ml_per_h": s(self.rate_ml_per_h),
            "bolus_mg": s(self.bolus_mg),
            "bolus_ml": s(self.bolus_ml),
            "cumulative_mg": str(self.cumulative_mg),
            "devices": self.devices,
            "steps": [st.to_dict() for st in self.steps],
            "regimen": self.regimen_text(),
        }


def _n(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _positive(value: Decimal | None, name: str, unit: str) -> Decimal:
    if value is None:
        raise ValueError(f"{name}: required for this route ({unit}).")
    if value <= 0:
        raise ValueError(f"{name}: must be greater than 0 {unit} (got {_n(value)}).")
    return value


def titration_steps(
    t: Titration, duration_min: Decimal, weight_kg: Decimal, conc: Decimal | None
) -> tuple[Step, ...]:
    """Rate segments: start, +step every interval until the ceiling, then hold to the end.

    >>> t = Titration(Decimal("0.15"), Decimal("0.1"), Decimal("30"), Decimal("0.35"))
    >>> [str(s.rate_mg_per_kg_per_h) for s in titration_steps(t, Decimal("240"), Decimal("70"), None)]
    ['0.15', '0.25', '0.35']
    """
    steps: list[Step] = []
    start = Decimal(0)
    rate = t.start_mg_per_kg_per_h
    while start < duration_min:
        at_ceiling = rate >= t.ceiling_mg_per_kg_per_h or t.step_mg_per_kg_per_h == 0
        end = duration_min if at_ceiling else min(start + t.interval_min, duration_min)
        steps.append(_step(start, end, rate, weight_kg, conc))
        start = end
        rate = min(rate + t.step_mg_per_kg_per_h, t.ceiling_mg_per_kg_per_h)
    return tuple(steps)


def _step(start: Decimal, end: Decimal, rate_kg: Decimal, weight_kg: Decimal, conc: Decimal | None) -> Step:
    rate_mg_h = rate_kg * weight_kg
    mg = rate_mg_h * (end - start) / 60
    ml_h = None if conc is None else q(rate_mg_h / conc, PUMP_PLACES)
    return Step(start, end, rate_kg, q(rate_mg_h, DOSE_PLACES), ml_h, q(mg, DOSE_PLACES))


def compute(req: DoseRequest) -> DoseComputation:
    """Compute an order. ``ValueError`` names the field that is missing or impossible.

    >>> c = compute(DoseRequest("iv", Decimal("70"), dose_mg_per_kg=Decimal("0.5"),
    ...             duration_min=Decimal("40"), conc_base_mg_per_ml=Decimal("10")))
    >>> c.dose_mg, c.volume_ml, c.rate_ml_per_h, c.rate_mg_per_kg_per_h
    (Decimal('35.0'), Decimal('3.50'), Decimal('5.3'), Decimal('0.7500'))
    """
    weight = _positive(req.weight_kg, "weight_kg", "kg")
    if req.route == "nasal":
        return _nasal(req, weight)
    conc = _positive(req.conc_base_mg_per_ml, "concentration", "mg/mL")
    salt = req.drug == "racemic"
    if req.route == "im":
        per_kg = _positive(req.dose_mg_per_kg, "dose_mg_per_kg", "mg/kg")
        dose = q(per_kg * weight, DOSE_PLACES)
        return DoseComputation(
            route="im",
            drug=req.drug,
            weight_kg=weight,
            dose_mg_per_kg=per_kg,
            dose_mg=dose,
            dose_mg_salt=q(base_to_salt_mg(dose), DOSE_PLACES) if salt else None,
            volume_ml=q(mg_to_ml(dose, conc), VOLUME_PLACES),
            concentration_base_mg_per_ml=conc,
            duration_min=None,
            rate_mg_per_kg_per_h=None,
            rate_ml_per_h=None,
            bolus_mg=None,
            bolus_ml=None,
            cumulative_mg=dose,
            devices=None,
        )
    if req.route != "iv":
        raise ValueError(f"route: {req.route!r} is not one of {', '.join(ROUTES)}.")
    duration = _positive(req.duration_min, "duration_min", "min")
    if req.titration is not None:
        errors = req.titration.validate()
        if errors:
            raise ValueError(" ".join(errors))
        steps = titration_steps(req.titration, duration, weight, conc)
        infusion_exact = sum(
            (s.rate_mg_per_kg_per_h * weight * (s.end_min - s.start_min) / 60 for s in steps), Decimal(0)
        )
        per_kg = q(infusion_exact / weight, CHECK_PLACES)
        max_rate = max(s.rate_mg_per_kg_per_h for s in steps)
    else:
        per_kg = _positive(req.dose_mg_per_kg, "dose_mg_per_kg", "mg/kg")
        rate_kg = q(per_kg * 60 / duration, CHECK_PLACES)
        steps = (_step(Decimal(0), duration, rate_kg, weight, conc),)
        infusion_exact = per_kg * weight
        max_rate = rate_kg
    dose = q(infusion_exact, DOSE_PLACES)
    bolus_mg = bolus_ml = None
    if req.bolus_mg_per_kg is not None and req.bolus_mg_per_kg != 0:
        bolus_mg = q(_positive(req.bolus_mg_per_kg, "bolus_mg_per_kg", "mg/kg") * weight, DOSE_PLACES)
        bolus_ml = q(mg_to_ml(bolus_mg, conc), VOLUME_PLACES)
    cumulative = dose + (bolus_mg or Decimal(0))
    return DoseComputation(
        route="iv",
        drug=req.drug,
        weight_kg=weight,
        dose_mg_per_kg=per_kg,
        dose_mg=dose,
        dose_mg_salt=q(base_to_salt_mg(dose), DOSE_PLACES) if salt else None,
        volume_ml=q(mg_to_ml(dose, conc), VOLUME_PLACES),
        concentration_base_mg_per_ml=conc,
        duration_min=duration,
        rate_mg_per_kg_per_h=max_rate,
        rate_ml_per_h=steps[0].rate_ml_per_h,
        bolus_mg=bolus_mg,
        bolus_ml=bolus_ml,
        cumulative_mg=cumulative,
        devices=None,
        steps=steps,
    )


def _nasal(req: DoseRequest, weight: Decimal) -> DoseComputation:
    dose = _positive(req.dose_mg, "dose_mg", "mg")
    devices = dose / ESKETAMINE_DEVICE_MG
    if devices != devices.to_integral_value():
        raise ValueError(
            f"dose_mg: esketamine comes in {_n(ESKETAMINE_DEVICE_MG)} mg devices; "
            f"{_n(dose)} mg is not a whole number of devices (use 28, 56 or 84 mg)."
        )
    return DoseComputation(
        route="nasal",
        drug="esketamine",
        weight_kg=weight,
        dose_mg_per_kg=q(dose / weight, CHECK_PLACES),
        dose_mg=dose,
        dose_mg_salt=None,
        volume_ml=None,
        concentration_base_mg_per_ml=None,
        duration_min=None,
        rate_mg_per_kg_per_h=None,
        rate_ml_per_h=None,
        bolus_mg=None,
        bolus_ml=None,
        cumulative_mg=dose,
        devices=int(devices),
    )


@dataclass(frozen=True)
class Mismatch:
    field: str
    message: str


def compare_double_check(
    order_weight_kg: Decimal,
    order_dose_mg: Decimal,
    order_rate_ml_per_h: Decimal | None,
    *,
    entered_weight_kg: Decimal,
    entered_dose_mg: Decimal,
    entered_rate_ml_per_h: Decimal | None,
) -> list[Mismatch]:
    """Where the nurse's independent figures differ from the order beyond the tolerances.

    The message never reveals the order's value: the nurse re-checks, rather than copies.

    >>> compare_double_check(Decimal("70"), Decimal("35.0"), None, entered_weight_kg=Decimal("69.99"),
    ...                      entered_dose_mg=Decimal("35"), entered_rate_ml_per_h=None)
    []
    >>> found = compare_double_check(Decimal("70"), Decimal("35.0"), None, entered_weight_kg=Decimal("70"),
    ...                              entered_dose_mg=Decimal("53"), entered_rate_ml_per_h=None)
    >>> [m.field for m in found]
    ['dose_mg']
    """
    out: list[Mismatch] = []
    if abs(entered_weight_kg - order_weight_kg) > DOUBLE_CHECK_WEIGHT_TOLERANCE_KG:
        out.append(Mismatch("weight", "Weight does not match the order: weigh or check the record again."))
    if abs(entered_dose_mg - order_dose_mg) > DOUBLE_CHECK_DOSE_TOLERANCE_MG:
        out.append(Mismatch("dose_mg", "Dose does not match the order: recalculate from the plan."))
    if order_rate_ml_per_h is not None:
        if entered_rate_ml_per_h is None:
            out.append(Mismatch("rate_ml_per_h", "Enter the pump rate you calculated (mL/h)."))
        elif abs(entered_rate_ml_per_h - order_rate_ml_per_h) > DOUBLE_CHECK_RATE_TOLERANCE_ML_PER_H:
            out.append(Mismatch("rate_ml_per_h", "Pump rate does not match the order: recalculate."))
    return out
