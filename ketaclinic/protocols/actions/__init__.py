"""Every write of the protocols app: check role, clinic and invariants, write once, audit.

Actions take plain values (user, clinic, ids or model instances, strings or Decimals) so the HTML
views and the JSON API call the same code. Bad input raises ``django.core.exceptions.ValidationError``
with a dict keyed by the field it concerns, and changes nothing. The one deliberate exception: a
hard-limit refusal is itself recorded (``LimitEvent`` + audit entry) before ``OrderRefused`` is raised,
because the limits report must show every refusal.

By topic: ``library`` (the drug library and its limits), ``protocol_config`` (protocols copied
from a template, retired), ``plans``, ``orders`` (draft, limits, signing), ``double_check``
(the nurse's blind check); ``common`` holds the refusal type and the audited read.
"""

from __future__ import annotations

from ketaclinic.protocols.actions.common import OrderRefused, audit_read
from ketaclinic.protocols.actions.double_check import verify_order
from ketaclinic.protocols.actions.library import (
    create_default_library,
    ensure_products,
    library_changes,
    parse_entry_limits,
    review_library,
    save_library_entry,
    withdraw_library_proposal,
)
from ketaclinic.protocols.actions.orders import OrderDraft, draft_order, order_defaults, sign_order
from ketaclinic.protocols.actions.plans import create_plan, sign_plan
from ketaclinic.protocols.actions.protocol_config import ADJUSTABLE, copy_protocol, get_path, retire_protocol

__all__ = [
    "ADJUSTABLE",
    "get_path",
    "OrderDraft",
    "OrderRefused",
    "audit_read",
    "copy_protocol",
    "create_default_library",
    "create_plan",
    "library_changes",
    "draft_order",
    "ensure_products",
    "order_defaults",
    "parse_entry_limits",
    "retire_protocol",
    "review_library",
    "save_library_entry",
    "withdraw_library_proposal",
    "sign_order",
    "sign_plan",
    "verify_order",
]
