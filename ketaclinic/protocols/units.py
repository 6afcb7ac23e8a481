"""Dose units: the one module on the web side that converts mg <-> mL and ketamine base <-> salt.

Weights (kg <-> lb) are converted in ``ketaclinic.patients.units``; this module re-exports
``weight_to_kg`` so dosing code has one import for units.

Ketamine is sold as the hydrochloride (HCl) salt, and vials are labelled with the concentration
*of the base* ("ketamine hydrochloride equivalent to 50 mg ketamine base per mL"). A product in the
drug library states which of the two its concentration means, and every dose here is in **mg of
ketamine base** unless a name says ``_salt``.

Molar masses: ketamine base C13H16ClNO 237.73 g/mol, ketamine HCl 274.19 g/mol. ``reference/pkpd.md``
rounds these to 237.7 and 274.2 and quotes the Ketalar label: 10 mg base = 11.53 mg HCl. The label's
11.53 is what the unrounded masses give (10 x 274.19 / 237.73 = 11.534); the rounded ones give 11.536,
so the unrounded masses are used.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ketaclinic.patients.units import KG_PER_LB, as_decimal, kg_to_lb, weight_to_kg

__all__ = [
    "KG_PER_LB",
    "MW_BASE_G_PER_MOL",
    "MW_HCL_G_PER_MOL",
    "as_decimal",
    "base_mg_per_ml",
    "base_to_salt_mg",
    "kg_to_lb",
    "mg_to_ml",
    "q",
    "salt_to_base_mg",
    "weight_to_kg",
]

MW_BASE_G_PER_MOL = Decimal("237.73")
MW_HCL_G_PER_MOL = Decimal("274.19")

BASE = "base"
SALT = "salt"


def q(value: Decimal, places: str) -> Decimal:
    """Round half up to ``places`` (e.g. ``"0.1"``): the one rounding rule for displayed doses."""
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def base_to_salt_mg(mg_base: Decimal) -> Decimal:
    """mg of ketamine HCl that contain ``mg_base`` of ketamine base (unrounded).

    >>> q(base_to_salt_mg(Decimal("10")), "0.01")
    Decimal('11.53')
    """
    return mg_base * MW_HCL_G_PER_MOL / MW_BASE_G_PER_MOL


def salt_to_base_mg(mg_salt: Decimal) -> Decimal:
    """mg of ketamine base in ``mg_salt`` of ketamine HCl (unrounded).

    >>> q(salt_to_base_mg(Decimal("11.53")), "0.01")
    Decimal('10.00')
    """
    return mg_salt * MW_BASE_G_PER_MOL / MW_HCL_G_PER_MOL


def base_mg_per_ml(concentration_mg_per_ml: Decimal, basis: str) -> Decimal:
    """Concentration as mg *base* per mL, for a label stating ``basis`` ("base" or "salt").

    >>> base_mg_per_ml(Decimal("50"), "base")
    Decimal('50')
    >>> q(base_mg_per_ml(Decimal("11.53"), "salt"), "0.01")
    Decimal('10.00')
    """
    if concentration_mg_per_ml <= 0:
        raise ValueError("concentration_mg_per_ml: must be greater than 0 mg/mL")
    if basis == BASE:
        return concentration_mg_per_ml
    if basis == SALT:
        return salt_to_base_mg(concentration_mg_per_ml)
    raise ValueError(f"basis: {basis!r} is neither 'base' nor 'salt'")


def mg_to_ml(mg_base: Decimal, conc_base_mg_per_ml: Decimal) -> Decimal:
    """Volume (mL, unrounded) holding ``mg_base`` at ``conc_base_mg_per_ml``.

    >>> mg_to_ml(Decimal("35"), Decimal("10"))
    Decimal('3.5')
    """
    if conc_base_mg_per_ml <= 0:
        raise ValueError("concentration: must be greater than 0 mg/mL")
    return mg_base / conc_base_mg_per_ml
