"""Durable live events: ``publish`` inside a transaction, ``subscribe`` from an async view.

See ``ketaclinic.events.bus`` for the contract and docs/infusion.md for the design.
"""

from __future__ import annotations
