"""Alert rules: a new observation (with the session's baseline) against thresholds, and overdue checks.

Pure: values in, ``Finding`` records out (each stored as a ``models.Alert``). The action layer
stores the alerts, shows them and escalates the unacknowledged ones; this module only decides
what is alarming and how much.

Every threshold names its source in reference/clinical.md (``SOURCES``); a threshold that the
reference marks unconfirmed, or that is a local choice with no source, is listed in
``Thresholds.UNCONFIRMED`` and the alert it raises says so (``Finding.confirmed`` is False), so a
clinic reviewing its protocol sees which numbers are theirs to set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    # Ordered from least to most urgent; `RANK` compares them.
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class Thresholds:
    """Alert thresholds; a protocol overrides any of them with ``with_overrides``. None disables a rule."""

    # Severe (asymptomatic) hypertension, >=180 systolic or >=120 diastolic: clinical.md §1.4 [S18].
    severe_systolic_mmhg: int | None = 180
    severe_diastolic_mmhg: int | None = 120
    # Hold at >180/100, attributed to Sanacora 2017 (§1.1, unconfirmed); the Swiss label defines
    # uncontrolled hypertension as resting >180/100 (§1.4 [S19]). Diastolic part: warning.
    hold_diastolic_mmhg: int | None = 100
    # Rise from baseline >=40 systolic and/or >=25 diastolic (Spravato, §2.2 [S32]).
    rise_systolic_mmhg: int | None = 40
    rise_diastolic_mmhg: int | None = 25
    # Heart rate >110 during the infusion, attributed to Sanacora 2017 (§1.1), unconfirmed.
    max_heart_rate_bpm: int | None = 110
    # No source in clinical.md: local default, unconfirmed.
    min_heart_rate_bpm: int | None = 50
    # Modified Aldrete SpO2 item (§3.1 [S40]): >92 % on room air scores 2; <90 % scores 0.
    warn_spo2_below_pct: int | None = 93  # i.e. 92 % or less
    critical_spo2_below_pct: int | None = 90
    # Respiratory rate: no threshold in clinical.md; local defaults, unconfirmed.
    min_resp_rate_per_min: int | None = 10
    max_resp_rate_per_min: int | None = 24
    # Temperature: no source in clinical.md; local default, unconfirmed.
    max_temperature_c: float | None = 38.0
    # MOAA/S (§4 [S72]): 3 = responds only to loud or repeated name. Alerting at <=3 is a local
    # choice (unconfirmed); 0 = loss of consciousness per the Spravato label (§2.2 [S28]).
    warn_moaas_at_or_below: int | None = 3
    critical_moaas_at_or_below: int | None = 0
    # Grace after a scheduled observation falls due before "overdue" is raised: local, unconfirmed.
    overdue_grace: timedelta = timedelta(minutes=5)

    UNCONFIRMED = frozenset(
        {
            "hold_diastolic_mmhg",
            "max_heart_rate_bpm",
            "min_heart_rate_bpm",
            "min_resp_rate_per_min",
            "max_resp_rate_per_min",
            "max_temperature_c",
            "warn_moaas_at_or_below",
            "overdue_grace",
        }
    )

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> Thresholds:
        """A copy with a protocol's overrides applied; an unknown name is a ``ValueError`` naming it."""
        if not overrides:
            return self
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown alert threshold(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **dict(overrides))


SOURCES: dict[str, str] = {
    "bp_severe": "clinical.md §1.4 [S18]: severe asymptomatic hypertension >=180/>=120 mmHg",
    "bp_hold": "clinical.md §1.1 (Sanacora 2017, unconfirmed) and §1.4 [S19]: >180/100 mmHg",
    "bp_rise": "clinical.md §2.2 [S32]: rise >=40 systolic and/or >=25 diastolic mmHg from baseline",
    "hr_high": "clinical.md §1.1 (Sanacora 2017, unconfirmed): HR >110/min",
    "hr_low": "local default, no source in clinical.md (unconfirmed)",
    "spo2_low": "clinical.md §3.1 [S40]: modified Aldrete SpO2 >92 % on room air scores 2",
    "spo2_critical": "clinical.md §3.1 [S40]: modified Aldrete SpO2 <90 % scores 0",
    "rr_low": "local default, no source in clinical.md (unconfirmed)",
    "rr_high": "local default, no source in clinical.md (unconfirmed)",
    "temp_high": "local default, no source in clinical.md (unconfirmed)",
    "moaas_low": "clinical.md §4 [S72] scale; alerting at <=3 is a local choice (unconfirmed)",
    "moaas_unresponsive": "clinical.md §2.2 [S28]: MOAA/S 0 = loss of consciousness",
    "overdue": "the protocol's monitoring schedule; grace period is a local default (unconfirmed)",
}
UNCONFIRMED_CODES = frozenset({"bp_hold", "hr_high", "hr_low", "rr_low", "rr_high", "temp_high", "moaas_low"})


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    source: str
    confirmed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "source": self.source,
            "confirmed": self.confirmed,
        }


def _alert(code: str, severity: Severity, message: str) -> Finding:
    return Finding(code, severity, message, SOURCES[code], code not in UNCONFIRMED_CODES)


@dataclass(frozen=True)
class Reading:
    """The values of one observation that the rules look at; missing values are None."""

    at: datetime
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None
    heart_rate_bpm: int | None = None
    spo2_pct: int | None = None
    resp_rate_per_min: int | None = None
    temperature_c: float | None = None
    moaas: int | None = None


@dataclass(frozen=True)
class Baseline:
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None


def baseline_from(history: Iterable[Reading], before: datetime | None) -> Baseline:
    """The last blood pressure taken before ``before`` (the start of dosing), from the history."""
    if before is None:
        return Baseline()
    pre = [r for r in history if r.at <= before and r.systolic_mmhg is not None]
    if not pre:
        return Baseline()
    last = max(pre, key=lambda r: r.at)
    return Baseline(last.systolic_mmhg, last.diastolic_mmhg)


def _blood_pressure(r: Reading, t: Thresholds, baseline: Baseline) -> list[Finding]:
    sys_, dia = r.systolic_mmhg, r.diastolic_mmhg
    if sys_ is None and dia is None:
        return []
    bp = f"{sys_ if sys_ is not None else '?'}/{dia if dia is not None else '?'} mmHg"
    severe = (sys_ is not None and t.severe_systolic_mmhg is not None and sys_ >= t.severe_systolic_mmhg) or (
        dia is not None and t.severe_diastolic_mmhg is not None and dia >= t.severe_diastolic_mmhg
    )
    out: list[Finding] = []
    if severe:
        out.append(
            _alert(
                "bp_severe",
                Severity.CRITICAL,
                f"Blood pressure {bp}: severe hypertension "
                f"(>= {t.severe_systolic_mmhg}/{t.severe_diastolic_mmhg} mmHg).",
            )
        )
    elif dia is not None and t.hold_diastolic_mmhg is not None and dia > t.hold_diastolic_mmhg:
        out.append(
            _alert(
                "bp_hold",
                Severity.WARNING,
                f"Blood pressure {bp}: diastolic above {t.hold_diastolic_mmhg} mmHg; "
                "consider holding the dose.",
            )
        )
    rises = []
    if sys_ is not None and baseline.systolic_mmhg is not None and t.rise_systolic_mmhg is not None:
        if sys_ - baseline.systolic_mmhg >= t.rise_systolic_mmhg:
            rises.append(f"systolic +{sys_ - baseline.systolic_mmhg}")
    if dia is not None and baseline.diastolic_mmhg is not None and t.rise_diastolic_mmhg is not None:
        if dia - baseline.diastolic_mmhg >= t.rise_diastolic_mmhg:
            rises.append(f"diastolic +{dia - baseline.diastolic_mmhg}")
    if rises:
        out.append(
            _alert(
                "bp_rise",
                Severity.WARNING,
                f"Blood pressure {bp} has risen from baseline "
                f"{baseline.systolic_mmhg}/{baseline.diastolic_mmhg} mmHg ({', '.join(rises)} mmHg).",
            )
        )
    return out


def _vitals(r: Reading, t: Thresholds) -> list[Finding]:
    out: list[Finding] = []
    hr = r.heart_rate_bpm
    if hr is not None and t.max_heart_rate_bpm is not None and hr > t.max_heart_rate_bpm:
        out.append(
            _alert("hr_high", Severity.WARNING, f"Heart rate {hr}/min is above {t.max_heart_rate_bpm}/min.")
        )
    if hr is not None and t.min_heart_rate_bpm is not None and hr < t.min_heart_rate_bpm:
        out.append(
            _alert("hr_low", Severity.WARNING, f"Heart rate {hr}/min is below {t.min_heart_rate_bpm}/min.")
        )
    spo2 = r.spo2_pct
    if spo2 is not None:
        if t.critical_spo2_below_pct is not None and spo2 < t.critical_spo2_below_pct:
            out.append(
                _alert(
                    "spo2_critical",
                    Severity.CRITICAL,
                    f"SpO2 {spo2} % is below {t.critical_spo2_below_pct} %.",
                )
            )
        elif t.warn_spo2_below_pct is not None and spo2 < t.warn_spo2_below_pct:
            out.append(
                _alert(
                    "spo2_low",
                    Severity.WARNING,
                    f"SpO2 {spo2} % is at or below {t.warn_spo2_below_pct - 1} %.",
                )
            )
    rr = r.resp_rate_per_min
    if rr is not None and t.min_resp_rate_per_min is not None and rr < t.min_resp_rate_per_min:
        out.append(
            _alert(
                "rr_low",
                Severity.CRITICAL,
                f"Respiratory rate {rr}/min is below {t.min_resp_rate_per_min}/min.",
            )
        )
    if rr is not None and t.max_resp_rate_per_min is not None and rr > t.max_resp_rate_per_min:
        out.append(
            _alert(
                "rr_high",
                Severity.WARNING,
                f"Respiratory rate {rr}/min is above {t.max_resp_rate_per_min}/min.",
            )
        )
    temp = r.temperature_c
    if temp is not None and t.max_temperature_c is not None and temp > t.max_temperature_c:
        out.append(
            _alert(
                "temp_high",
                Severity.WARNING,
                f"Temperature {temp:.1f} °C is above {t.max_temperature_c:.1f} °C.",
            )
        )
    return out


def _sedation(r: Reading, t: Thresholds) -> list[Finding]:
    m = r.moaas
    if m is None:
        return []
    if t.critical_moaas_at_or_below is not None and m <= t.critical_moaas_at_or_below:
        return [
            _alert(
                "moaas_unresponsive", Severity.CRITICAL, f"MOAA/S {m}: no response (loss of consciousness)."
            )
        ]
    if t.warn_moaas_at_or_below is not None and m <= t.warn_moaas_at_or_below:
        return [_alert("moaas_low", Severity.WARNING, f"MOAA/S {m}: deeper sedation than expected.")]
    return []


def evaluate(
    reading: Reading,
    *,
    history: Sequence[Reading] = (),
    baseline: Baseline | None = None,
    dosing_started_at: datetime | None = None,
    thresholds: Thresholds | None = None,
) -> list[Finding]:
    """Alerts raised by one new observation, most urgent first.

    ``baseline`` defaults to the last blood pressure in ``history`` taken before dosing started.

    >>> from datetime import UTC
    >>> t0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    >>> pre = Reading(t0, systolic_mmhg=120, diastolic_mmhg=80)
    >>> r = Reading(t0 + timedelta(minutes=40), systolic_mmhg=182, diastolic_mmhg=96, spo2_pct=97)
    >>> [a.code for a in evaluate(r, history=[pre], dosing_started_at=t0 + timedelta(minutes=5))]
    ['bp_severe', 'bp_rise']
    """
    t = thresholds or Thresholds()
    base = baseline if baseline is not None else baseline_from(history, dosing_started_at)
    alerts = _blood_pressure(reading, t, base) + _vitals(reading, t) + _sedation(reading, t)
    return sorted(alerts, key=lambda a: -RANK[a.severity])


@dataclass(frozen=True)
class ScheduleEntry:
    """Observe ``kind`` every ``every`` while the session is in ``phase`` (dosing or recovery)."""

    kind: str
    phase: str
    every: timedelta


@dataclass(frozen=True)
class MonitoringSchedule:
    entries: tuple[ScheduleEntry, ...]


# Default: vital signs every 10 min during the infusion and every 15 min afterwards (Emory series,
# clinical.md §1.4 [S6]; Yale also every 10 min [S16]). Protocols replace this.
DEFAULT_SCHEDULE = MonitoringSchedule(
    (
        ScheduleEntry("vitals", "dosing", timedelta(minutes=10)),
        ScheduleEntry("vitals", "recovery", timedelta(minutes=15)),
    )
)


def overdue(
    schedule: MonitoringSchedule,
    *,
    phase: str,
    phase_started_at: datetime,
    last_at: Mapping[str, datetime],
    now: datetime,
    thresholds: Thresholds | None = None,
) -> list[Finding]:
    """An alert for each scheduled observation kind not taken on time in the current phase.

    An observation is due ``every`` after the later of the phase start and the last one of its kind.

    >>> from datetime import UTC
    >>> t0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    >>> [a.message for a in overdue(DEFAULT_SCHEDULE, phase="dosing", phase_started_at=t0,
    ...                             last_at={"vitals": t0 + timedelta(minutes=2)},
    ...                             now=t0 + timedelta(minutes=18))]
    ['Vitals overdue: due at 09:12 UTC, 6 min ago (every 10 min).']
    """
    t = thresholds or Thresholds()
    out: list[Finding] = []
    for entry in schedule.entries:
        if entry.phase != phase:
            continue
        last = last_at.get(entry.kind)
        since = max(phase_started_at, last) if last is not None else phase_started_at
        due = since + entry.every
        late = now - due
        if late > t.overdue_grace:
            every_min = entry.every // timedelta(minutes=1)
            out.append(
                Finding(
                    f"overdue_{entry.kind}",
                    Severity.WARNING,
                    f"{entry.kind.capitalize()} overdue: due at {due:%H:%M %Z}, "
                    f"{late // timedelta(minutes=1)} min ago (every {every_min} min).",
                    SOURCES["overdue"],
                    True,
                )
            )
    return out


def new_only(alerts: Iterable[Finding], open_codes: Iterable[str]) -> list[Finding]:
    """Drop alerts whose code is already open (unacknowledged): one open alert per problem.

    A more severe alert is never dropped: ``bp_severe`` opens even while ``bp_hold`` is open.
    """
    open_set = set(open_codes)
    return [a for a in alerts if a.code not in open_set]
