"""The ledger's writes, by topic (``stock``, ``sessions``, ``counts``); re-exported here."""

from ketaclinic.ledger.actions.common import Signature
from ketaclinic.ledger.actions.counts import escalate, note_investigation, record_count, resolve
from ketaclinic.ledger.actions.sessions import close_out, correct_draw, draw
from ketaclinic.ledger.actions.stock import (
    add_location,
    add_product,
    add_registration,
    adjust,
    destroy,
    receive,
    record_loss_filing,
    release,
    report_loss,
    send_to_reverse_distributor,
    set_keyholders,
    transfer,
)

__all__ = [
    "Signature",
    "add_location",
    "add_product",
    "add_registration",
    "adjust",
    "close_out",
    "correct_draw",
    "destroy",
    "draw",
    "escalate",
    "note_investigation",
    "receive",
    "record_count",
    "record_loss_filing",
    "release",
    "report_loss",
    "resolve",
    "send_to_reverse_distributor",
    "set_keyholders",
    "transfer",
]
