"""Reads of the protocols app that write nothing: what a caller may see of an order."""

from __future__ import annotations

from typing import Any

from ketaclinic.accounts.access import has_permission
from ketaclinic.accounts.models import Membership
from ketaclinic.protocols.models import DoseOrder, OrderStatus

# The computed numbers a nurse must not see before the independent double check: she enters
# weight, dose and rate blind, so what she reads cannot steer what she checks.
HIDDEN_UNTIL_CHECKED = (
    "weight",
    "dose_mg_base",
    "dose_mg_hcl_salt",
    "volume_ml",
    "rate_ml_per_h",
    "bolus_mg",
    "cumulative_mg",
    "titration_steps",
    "regimen",
    "limit_check",
)


def numbers_hidden(membership: Membership, order: DoseOrder) -> bool:
    """Whether ``membership`` may not yet see the order's numbers: a double-checker (a nurse) before
    the order passed the double check."""
    pending = order.status in (OrderStatus.SIGNED, OrderStatus.BLOCKED)
    return pending and has_permission(membership, "orders.verify")


def order_as_seen(membership: Membership, order: DoseOrder, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (the order's fields, all or some) with the numbers nulled for a double-checker, and
    ``hidden_until_double_check`` saying so."""
    hidden = numbers_hidden(membership, order)
    out = {k: (None if hidden and k in HIDDEN_UNTIL_CHECKED else v) for k, v in data.items()}
    out["hidden_until_double_check"] = hidden
    return out
