"""The session's rules, read from its dose order's protocol snapshot. Pure: a snapshot dict in.

The order (issue 4) freezes the protocol it was signed under (``DoseOrder.protocol_snapshot``).
From its ``config`` the session takes:

- ``gates``: pre-dose blood pressure gates ``[{"systolic_above", "diastolic_above", "action"}]``;
  the strictest becomes ``PredoseGates`` (the template's 140/90 cites clinical.md §2.2 [S30]).
  Optional ``predose`` overrides ``max_heart_rate_bpm``, ``min_spo2_pct``, ``window_min``.
- ``monitoring``: a machine-readable ``monitoring_schedule`` ``[{"kind", "phase", "every_min"}]``
  if present, else each text entry "every N min during/after ..." (the IV template: every 10 min
  during, every 15 after, clinical.md §1.4 [S6][S16]); with neither, ``alert_rules.DEFAULT_SCHEDULE``.
- ``alert_thresholds``: overrides of ``alert_rules.Thresholds`` (unknown names are refused).
- ``observation_min`` (clinical.md §2.2 [S28] for esketamine; configurable for IV) and where it
  counts from: the first nasal device, else the start of dosing.
- ``discharge_criteria``: which scored form must reach >=9 before discharge (``padss`` /
  ``modified_padss``: PADSS, clinical.md §3.2 [S44][S45]; ``aldrete``: §3.1 [S40][S41]), and
  optional ``discharge`` overrides of ``scales.DischargeCriteria``.
- ``dose.device_mg`` / ``dose.device_rest_min`` for esketamine (clinical.md §2.1 [S20][S25]).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from ketaclinic.infusions import alert_rules, scales, states

EVERY = re.compile(r"every\s+(\d+)\s*min", re.IGNORECASE)


@dataclass(frozen=True)
class SessionRules:
    gates: states.PredoseGates = field(default_factory=states.PredoseGates)
    schedule: alert_rules.MonitoringSchedule = alert_rules.DEFAULT_SCHEDULE
    schedule_from_protocol: bool = False
    thresholds: alert_rules.Thresholds = field(default_factory=alert_rules.Thresholds)
    min_observation: timedelta = timedelta(minutes=120)
    observe_from_first_device: bool = False
    discharge_score: str = "padss"  # padss | aldrete
    discharge_criteria_text: str = ""
    discharge: scales.DischargeCriteria = field(default_factory=scales.DischargeCriteria)
    device_mg: Decimal = Decimal("28")
    device_rest: timedelta = timedelta(minutes=5)
    notes: tuple[str, ...] = ()


def _int(value: Any) -> int | None:
    try:
        return int(Decimal(str(value)))
    except (ArithmeticError, ValueError, TypeError):
        return None


def _schedule(config: Mapping[str, Any]) -> tuple[alert_rules.MonitoringSchedule, bool]:
    explicit = config.get("monitoring_schedule")
    entries: list[alert_rules.ScheduleEntry] = []
    if explicit:
        for e in explicit:
            every = _int(e.get("every_min"))
            if every and e.get("phase") in ("dosing", "recovery"):
                entries.append(
                    alert_rules.ScheduleEntry(
                        str(e.get("kind", "vitals")), e["phase"], timedelta(minutes=every)
                    )
                )
    else:
        for item in config.get("monitoring") or []:
            when = str(item.get("when", ""))
            match = EVERY.search(when)
            if not match:
                continue
            what = str(item.get("what", "")).lower()
            kind = "vitals" if any(w in what for w in ("bp", "heart", "spo")) else ""
            if not kind:
                continue
            phase = "recovery" if re.search(r"\bafter\b", when) else "dosing"
            entries.append(alert_rules.ScheduleEntry(kind, phase, timedelta(minutes=int(match.group(1)))))
    if not entries:
        return alert_rules.DEFAULT_SCHEDULE, False
    return alert_rules.MonitoringSchedule(tuple(entries)), True


def _gates(config: Mapping[str, Any]) -> states.PredoseGates:
    base = states.PredoseGates()
    sys_ = [v for g in config.get("gates") or [] if (v := _int(g.get("systolic_above"))) is not None]
    dia = [v for g in config.get("gates") or [] if (v := _int(g.get("diastolic_above"))) is not None]
    predose = config.get("predose") or {}
    changes: dict[str, Any] = {}
    if sys_:
        changes["max_systolic_mmhg"] = min(sys_)
    if dia:
        changes["max_diastolic_mmhg"] = min(dia)
    for name in ("max_heart_rate_bpm", "min_spo2_pct"):
        if name in predose:
            changes[name] = _int(predose[name])
    if _int(predose.get("window_min")):
        changes["window"] = timedelta(minutes=_int(predose["window_min"]) or 30)
    return dataclasses.replace(base, **changes)


def from_snapshot(snapshot: Mapping[str, Any] | None, route: str = "") -> SessionRules:
    """The session's rules from ``DoseOrder.protocol_snapshot``; defaults where it is silent.

    >>> p = from_snapshot({"config": {"gates": [{"systolic_above": 140, "diastolic_above": 90}],
    ...     "monitoring": [{"what": "BP and heart rate", "when": "every 10 min during it"},
    ...                    {"what": "BP", "when": "every 15 min after the infusion"}],
    ...     "observation_min": 120, "discharge_criteria": "aldrete"}}, "iv")
    >>> p.gates.max_systolic_mmhg, [(e.phase, e.every.seconds // 60) for e in p.schedule.entries]
    (140, [('dosing', 10), ('recovery', 15)])
    >>> p.discharge_score, p.min_observation
    ('aldrete', datetime.timedelta(seconds=7200))
    """
    config: Mapping[str, Any] = (snapshot or {}).get("config") or {}
    schedule, from_protocol = _schedule(config)
    thresholds = alert_rules.Thresholds().with_overrides(config.get("alert_thresholds") or None)
    discharge = scales.DischargeCriteria()
    if config.get("discharge"):
        discharge = dataclasses.replace(discharge, **dict(config["discharge"]))
    code = str(config.get("discharge_criteria") or "modified_padss")
    dose = config.get("dose") or {}
    notes = []
    if not from_protocol:
        notes.append(
            "The protocol gives no observation interval; vitals every 10 min while dosing and 15 min in "
            "recovery are the default (clinical.md §1.4 [S6])."
        )
    return SessionRules(
        gates=_gates(config),
        schedule=schedule,
        schedule_from_protocol=from_protocol,
        thresholds=thresholds,
        min_observation=timedelta(minutes=_int(config.get("observation_min")) or 120),
        observe_from_first_device=route == "nasal",
        discharge_score="aldrete" if code == "aldrete" else "padss",
        discharge_criteria_text=code,
        discharge=discharge,
        device_mg=Decimal(str(dose.get("device_mg") or "28")),
        device_rest=timedelta(minutes=_int(dose.get("device_rest_min")) or 5),
        notes=tuple(notes),
    )
