"""The live infusion session: state machine, observations, alerts, recovery, discharge."""

from __future__ import annotations
