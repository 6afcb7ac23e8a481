"""The drug library's limits while the infusion runs, as a smart pump's drug library applies them.

When the order is signed, ``protocols.limits`` checks the ordered dose and rate against the library
entry's hard and soft limits. These are the same limits, applied to what the nurse does at the
chair: every new rate (a rate change, a resume, a start at another rate) and every bolus. Pure:
values in, breaches out.

- A rate up to the highest the order itself gives (its pump rate, or its highest titration step,
  in mL/h as the pump shows it) passes: those were checked, and any override recorded, when the
  order was signed.
- A rate above it is checked in mg/kg/h (the pump's mL/h x the order's base concentration / the
  order's weight) against the library's ``rate_mg_per_kg_per_h`` limit: above the hard maximum it
  is refused, above the soft maximum it needs a confirmation with a reason; and, being above the
  order, it needs a confirmation with a reason in any case (a soft breach against the order).
- A bolus needs the order to contain one (``bolus_mg``): one the order does not contain is refused
  (a prescriber adds it to the order first); the order's bolus is its hard maximum, and the
  library's ``bolus_mg`` limits apply as well.

Breaches are ``protocols.limits.Breach`` values, so they read, and are logged on the limits
report, exactly as those of a signed order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from ketaclinic.protocols.limits import Breach, Limit, check_value

RATE = "rate_mg_per_kg_per_h"
BOLUS = "bolus_mg"
ORDER_SOURCE = "the signed order"


@dataclass(frozen=True)
class OrderFacts:
    """What the running checks need from the signed order and its library entry."""

    weight_kg: Decimal
    concentration_mg_per_ml: Decimal | None  # base
    ordered_rate_ml_per_h: Decimal | None  # the highest pump rate the order gives
    ordered_bolus_mg: Decimal | None
    limits: Mapping[str, Limit]


def rate_mg_per_kg_per_h(facts: OrderFacts, rate_ml_per_h: Decimal) -> Decimal | None:
    """The pump's mL/h as mg/kg/h at the order's concentration and weight (4 places).

    >>> f = OrderFacts(Decimal("70"), Decimal("10"), None, None, {})  # 70 kg, 10 mg/mL
    >>> rate_mg_per_kg_per_h(f, Decimal("5.3"))
    Decimal('0.7571')
    """
    if facts.concentration_mg_per_ml is None or not facts.weight_kg:
        return None
    value = rate_ml_per_h * facts.concentration_mg_per_ml / facts.weight_kg
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def check_rate(facts: OrderFacts, rate_ml_per_h: Decimal) -> list[Breach]:
    """Breaches of a new pump rate: none up to the order's own; above it, the library's limit and
    the order's.

    >>> lim = {RATE: Limit(soft_max=Decimal("1"), hard_max=Decimal("1.5"))}
    >>> f = OrderFacts(Decimal("70"), Decimal("10"), Decimal("5.3"), None, lim)  # 0.75 mg/kg/h ordered
    >>> check_rate(f, Decimal("5.3"))
    []
    >>> [b.severity for b in check_rate(f, Decimal("6"))]  # 0.857 mg/kg/h: above the order only
    ['soft']
    >>> [b.severity for b in check_rate(f, Decimal("50"))]  # 7.14 mg/kg/h: above the hard maximum
    ['hard', 'soft']
    """
    ordered = facts.ordered_rate_ml_per_h
    if ordered is not None and rate_ml_per_h <= ordered:
        return []
    value = rate_mg_per_kg_per_h(facts, rate_ml_per_h)
    if value is None:
        return []
    breaches = []
    limit = facts.limits.get(RATE)
    if limit is not None:
        breach = check_value(RATE, limit, value)
        if breach is not None:
            breaches.append(breach)
    if ordered is not None:
        ordered_mg = rate_mg_per_kg_per_h(facts, ordered)
        breaches.append(Breach(RATE, "soft", "max", ordered_mg or Decimal("0"), value, ORDER_SOURCE))
    return breaches


def check_bolus(facts: OrderFacts, mg: Decimal) -> list[Breach]:
    """Breaches of a bolus: none in the order refuses it; above the order's bolus refuses it; the
    library's bolus limits apply too.

    >>> f = OrderFacts(Decimal("70"), Decimal("10"), None, Decimal("10"), {})
    >>> check_bolus(f, Decimal("10"))
    []
    >>> check_bolus(f, Decimal("10.1"))[0].message
    'Bolus 10.1 mg is above the hard maximum of 10 mg: refused.'
    """
    ordered = facts.ordered_bolus_mg
    if ordered is None:
        return [Breach(BOLUS, "hard", "max", Decimal("0"), mg, ORDER_SOURCE)]
    breaches = []
    if mg > ordered:
        breaches.append(Breach(BOLUS, "hard", "max", ordered, mg, ORDER_SOURCE))
    limit = facts.limits.get(BOLUS)
    if limit is not None:
        breach = check_value(BOLUS, limit, mg)
        if breach is not None:
            breaches.append(breach)
    return breaches


def explain(breach: Breach) -> str:
    """The breach's message, naming the order when the bound is the order's own."""
    if breach.source != ORDER_SOURCE:
        return breach.message
    if breach.kind == BOLUS and breach.limit == 0:
        return "The signed order contains no bolus: a prescriber adds one to the order first."
    if breach.kind == BOLUS:
        return f"A bolus of {breach.value} mg is above the {breach.limit} mg of the signed order: refused."
    return (
        f"Infusion rate {breach.value} mg/kg/h is above the {breach.limit} mg/kg/h of the signed order: "
        "confirm with a reason."
    )


def order_facts(
    *,
    weight_kg: Decimal,
    concentration_mg_per_ml: Decimal | None,
    rate_ml_per_h: Decimal | None,
    step_rates_ml_per_h: list[Decimal],
    bolus_mg: Decimal | None,
    limits: Mapping[str, Limit],
) -> OrderFacts:
    """``OrderFacts`` from the order's fields: the highest pump rate among its rate and its steps."""
    rates = [r for r in (rate_ml_per_h, *step_rates_ml_per_h) if r is not None]
    return OrderFacts(weight_kg, concentration_mg_per_ml, max(rates) if rates else None, bolus_mg, limits)
