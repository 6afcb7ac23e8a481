"""Pre-dose gates: vital signs checked before a dose, with the action each threshold calls for.

A gate is ``{"systolic_above": 180, "diastolic_above": 100, "action": "hold", "source": "..."}``:
it fires when the systolic *or* the diastolic pressure is strictly above its number (a reading
exactly at the threshold passes, as "BP >140/90" reads). The worst action wins: hold > caution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ACTIONS = {"proceed": 0, "caution": 1, "hold": 2}
ACTION_TEXT = {
    "proceed": "Proceed: blood pressure is within the protocol's pre-dose limits.",
    "caution": "Caution: weigh risk and benefit, consider delaying, and tell the prescriber before dosing.",
    "hold": (
        "Hold the dose: blood pressure is above the protocol's hold threshold. "
        "Recheck; the prescriber decides."
    ),
}


@dataclass(frozen=True)
class GateResult:
    action: str
    fired: tuple[Mapping[str, Any], ...]

    @property
    def text(self) -> str:
        return ACTION_TEXT[self.action]


def evaluate(
    gates: Iterable[Mapping[str, Any]], systolic_mmhg: int | None, diastolic_mmhg: int | None
) -> GateResult:
    """Apply every gate to one BP reading; ValueError names a missing or impossible value.

    >>> g = [{"systolic_above": 140, "diastolic_above": 90, "action": "caution"},
    ...      {"systolic_above": 180, "diastolic_above": 100, "action": "hold"}]
    >>> evaluate(g, 140, 90).action, evaluate(g, 141, 80).action, evaluate(g, 150, 101).action
    ('proceed', 'caution', 'hold')
    """
    if systolic_mmhg is None or diastolic_mmhg is None:
        raise ValueError("blood_pressure: a pre-dose reading (systolic and diastolic) is required")
    if not (40 <= systolic_mmhg <= 300) or not (20 <= diastolic_mmhg <= 200):
        raise ValueError(f"blood_pressure: {systolic_mmhg}/{diastolic_mmhg} mmHg is not a plausible reading")
    fired = []
    worst = "proceed"
    for gate in gates:
        sys_t, dia_t = gate.get("systolic_above"), gate.get("diastolic_above")
        hit = (sys_t is not None and systolic_mmhg > sys_t) or (dia_t is not None and diastolic_mmhg > dia_t)
        if hit:
            fired.append(gate)
            if ACTIONS[gate["action"]] > ACTIONS[worst]:
                worst = gate["action"]
    return GateResult(worst, tuple(fired))
