"""Running totals of a session's dosing events against its order. Pure: values in, values out.

The order (``OrderPlan``, read from ``protocols.DoseOrder``) says what should be given; the events
(``Dose``, read from ``infusions.DosingEvent``) say what was done. ``progress`` integrates the pump
rate over time (mL/h between events, zero while paused or stopped), adds boluses and nasal devices,
and derives mg from mL with the order's base concentration, so mg and mL always agree. The pump
stops by itself at the order's volume (its "volume to be infused"): the infused volume is capped
there. ``check`` says whether one more event is allowed; its messages name the field. ``check_all``
replays a whole sequence, for a correction that replaces an event in the middle.

Esketamine: each 28 mg device is one event with its time; the label asks for 5 minutes' rest
between devices (clinical.md §2.1 [S20][S25]; ``device_rest_min`` in the protocol).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from ketaclinic.pkpd import DoseEvent
from ketaclinic.pkpd.published import Drug

ZERO = Decimal("0")
MAX_RATE_ML_PER_H = Decimal("999")  # typing-error guard, not a clinical limit (those are the order's)
DEFAULT_DEVICE_REST = timedelta(minutes=5)  # clinical.md §2.1 [S20][S25]


@dataclass(frozen=True)
class OrderPlan:
    """What the signed order asks for, with units in the names."""

    route: str  # iv, im, nasal
    dose_mg: Decimal
    total_mg: Decimal  # dose + bolus (the order's cumulative mg)
    concentration_mg_per_ml: Decimal | None = None  # base
    volume_ml: Decimal | None = None
    rate_ml_per_h: Decimal | None = None
    duration_min: Decimal | None = None
    devices: int | None = None
    device_mg: Decimal = Decimal("28")
    device_rest: timedelta = DEFAULT_DEVICE_REST


@dataclass(frozen=True)
class Dose:
    kind: str  # start, rate, pause, resume, bolus, stop, device
    at: datetime
    rate_ml_per_h: Decimal | None = None
    mg: Decimal | None = None
    ml: Decimal | None = None


@dataclass(frozen=True)
class Progress:
    started_at: datetime | None
    stopped_at: datetime | None
    running: bool  # the pump is running (IV), or devices remain (nasal)
    rate_ml_per_h: Decimal  # current pump rate (0 when paused or stopped)
    given_mg: Decimal
    given_ml: Decimal
    planned_mg: Decimal
    planned_ml: Decimal | None
    remaining_mg: Decimal
    time_remaining_min: float | None  # None: cannot be known (paused, or not started)
    devices_given: int = 0
    devices_planned: int | None = None
    next_device_at: datetime | None = None
    first_device_at: datetime | None = None

    @property
    def percent(self) -> float:
        return 0.0 if not self.planned_mg else min(100.0, float(100 * self.given_mg / self.planned_mg))

    def to_dict(self) -> dict[str, object]:
        def s(v: object) -> object:
            return None if v is None else str(v)

        return {
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            "running": self.running,
            "rate_ml_per_h": str(self.rate_ml_per_h),
            "given_mg": str(self.given_mg),
            "given_ml": str(self.given_ml),
            "planned_mg": str(self.planned_mg),
            "planned_ml": s(self.planned_ml),
            "remaining_mg": str(self.remaining_mg),
            "time_remaining_min": None
            if self.time_remaining_min is None
            else round(self.time_remaining_min, 1),
            "percent": round(self.percent, 1),
            "devices_given": self.devices_given,
            "devices_planned": self.devices_planned,
            "next_device_at": self.next_device_at.isoformat() if self.next_device_at else None,
        }


def _hours(delta: timedelta) -> Decimal:
    # Exact: whole microseconds over the microseconds in an hour, no float in between.
    micros = max(delta // timedelta(microseconds=1), 0)
    return Decimal(micros) / Decimal(3_600_000_000)


Run = tuple[datetime, datetime, Decimal]  # a stretch of constant pump rate (mL/h), rate > 0


def _pump_runs(
    plan: OrderPlan, events: Sequence[Dose], now: datetime
) -> tuple[list[Run], list[Dose], Decimal]:
    """The pump's stretches of constant non-zero rate up to ``now`` (zero while paused or
    stopped), the boluses, and the rate running at ``now``. Not yet capped at the volume."""
    runs: list[Run] = []
    boluses: list[Dose] = []
    rate = ZERO
    last_rate = plan.rate_ml_per_h or ZERO
    since: datetime | None = None
    for e in [*sorted(events, key=lambda e: e.at), Dose("_now", now)]:
        if e.at > now:
            break
        if since is not None and rate > 0 and e.at > since:
            runs.append((since, e.at, rate))
        since = e.at
        if e.kind in ("start", "rate", "resume"):
            rate = e.rate_ml_per_h if e.rate_ml_per_h is not None else last_rate
            last_rate = rate
        elif e.kind in ("pause", "stop"):
            rate = ZERO
        elif e.kind == "bolus":
            boluses.append(e)
    return runs, boluses, rate


def _capped_ml(ml: Decimal, infused: Decimal, cap: Decimal | None) -> Decimal:
    """`ml` more, but never past the order's volume (the pump stops there by itself)."""
    return ml if cap is None else min(ml, max(cap - infused, ZERO))


def progress(plan: OrderPlan, events: Sequence[Dose], now: datetime) -> Progress:
    """What has been given by ``now`` and how long is left.

    >>> from datetime import UTC
    >>> t0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    >>> plan = OrderPlan("iv", Decimal("35"), Decimal("35"), Decimal("10"), Decimal("3.5"), Decimal("5.25"))
    >>> p = progress(plan, [Dose("start", t0, rate_ml_per_h=Decimal("5.25"))], t0 + timedelta(minutes=20))
    >>> str(p.given_ml), str(p.given_mg), round(p.time_remaining_min)
    ('1.75', '17.5', 20)
    """
    events = sorted(events, key=lambda e: e.at)
    started = next((e.at for e in events if e.kind == "start"), None)
    stopped = next((e.at for e in events if e.kind == "stop"), None)
    if plan.route == "nasal":
        return _nasal(plan, events, now, started, stopped)
    if plan.route != "iv":
        given = sum((e.mg or ZERO for e in events if e.kind in ("start", "bolus")), ZERO)
        return Progress(
            started,
            stopped,
            False,
            ZERO,
            given,
            ZERO,
            plan.total_mg,
            None,
            max(plan.total_mg - given, ZERO),
            None,
        )
    conc = plan.concentration_mg_per_ml or ZERO
    cap = plan.volume_ml
    runs, boluses, rate = _pump_runs(plan, events, now)
    infused_ml = ZERO
    for t0, t1, ml_per_h in runs:
        infused_ml += _capped_ml(ml_per_h * _hours(t1 - t0), infused_ml, cap)
    bolus_mg = sum((e.mg or ZERO for e in boluses), ZERO)
    bolus_ml = sum(
        (e.ml if e.ml is not None else ((e.mg or ZERO) / conc if conc else ZERO) for e in boluses), ZERO
    )
    done = cap is not None and infused_ml >= cap
    if done:
        rate = ZERO
    given_ml = (infused_ml + bolus_ml).quantize(Decimal("0.01"), ROUND_HALF_UP)
    given_mg = (infused_ml * conc + bolus_mg).quantize(Decimal("0.1"), ROUND_HALF_UP)
    remaining_mg = max(plan.total_mg - given_mg, ZERO)
    left_ml = (cap - infused_ml) if cap is not None else None
    remaining_min: float | None
    if done or stopped is not None:
        remaining_min = 0.0
    elif rate > 0 and left_ml is not None:
        remaining_min = float(left_ml / rate * 60)
    else:
        remaining_min = None
    return Progress(
        started,
        stopped,
        rate > 0 and stopped is None,
        rate,
        given_mg,
        given_ml,
        plan.total_mg,
        plan.volume_ml,
        remaining_mg,
        remaining_min,
    )


def _nasal(
    plan: OrderPlan, events: Sequence[Dose], now: datetime, started: datetime | None, stopped: datetime | None
) -> Progress:
    devices = [e for e in events if e.kind == "device" and e.at <= now]
    given = sum((e.mg or plan.device_mg for e in devices), ZERO)
    planned = plan.devices or 0
    left = max(planned - len(devices), 0)
    next_at = devices[-1].at + plan.device_rest if devices and left else None
    remaining_min: float | None = None
    if stopped is not None or (devices and not left):
        remaining_min = 0.0
    elif started is not None:
        wait = max((next_at - now).total_seconds() / 60.0, 0.0) if next_at else 0.0
        remaining_min = wait + max(left - 1, 0) * plan.device_rest.total_seconds() / 60.0
    return Progress(
        started,
        stopped,
        started is not None and stopped is None and left > 0,
        ZERO,
        given,
        ZERO,
        plan.total_mg,
        None,
        max(plan.total_mg - given, ZERO),
        remaining_min,
        devices_given=len(devices),
        devices_planned=plan.devices,
        next_device_at=next_at if stopped is None else None,
        first_device_at=devices[0].at if devices else None,
    )


def check(plan: OrderPlan, events: Sequence[Dose], new: Dose) -> dict[str, str]:  # noqa: PLR0911, PLR0912 - one rule per branch
    """Why ``new`` may not be recorded after ``events``: {field: message}; empty means allowed.

    The order of events (start before anything, pause only while running, ...) is checked here;
    the session's state machine guards start, pause, resume and stop as well.

    >>> from datetime import UTC
    >>> t0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    >>> nasal = OrderPlan("nasal", Decimal("56"), Decimal("56"), devices=2)
    >>> ev = [Dose("start", t0), Dose("device", t0)]
    >>> check(nasal, ev, Dose("device", t0 + timedelta(minutes=3)))
    {'at': 'Wait 5 min between devices (clinical.md §2.1): the next device is due at 09:05.'}
    """
    events = sorted(events, key=lambda e: e.at)
    kinds = [e.kind for e in events]
    started, stopped = "start" in kinds, "stop" in kinds
    p = progress(plan, events, new.at)
    if events and new.at < events[-1].at:
        return {"at": f"This time is before the last dosing event ({events[-1].at:%H:%M})."}
    if new.kind == "start":
        if started:
            return {"kind": "Dosing was already started."}
        if plan.route == "iv" and (new.rate_ml_per_h is None and not plan.rate_ml_per_h):
            return {"rate_ml_per_h": "Enter the pump rate in mL/h."}
        if new.mg is not None and new.mg > plan.total_mg:
            return {"mg": f"{new.mg} mg is above the {plan.total_mg} mg of the signed order."}
    elif not started:
        return {"kind": "Start dosing first."}
    elif stopped:
        return {"kind": "Dosing was stopped; nothing more can be given in this session."}
    if new.kind in ("start", "rate", "resume") and new.rate_ml_per_h is not None:
        if not ZERO < new.rate_ml_per_h <= MAX_RATE_ML_PER_H:
            return {"rate_ml_per_h": f"Enter a rate above 0 and at most {MAX_RATE_ML_PER_H} mL/h."}
    if new.kind in ("rate", "pause", "resume", "bolus") and plan.route != "iv":
        return {"kind": f"A {new.kind} applies to an IV infusion only."}
    paused = _paused(events)
    if new.kind == "rate":
        if new.rate_ml_per_h is None:
            return {"rate_ml_per_h": "Enter the new pump rate in mL/h."}
        if paused:
            return {"kind": "The infusion is paused; resume it (at a new rate if needed)."}
    if new.kind == "pause" and paused:
        return {"kind": "The infusion is already paused."}
    if new.kind == "resume" and not paused:
        return {"kind": "The infusion is not paused."}
    if new.kind == "bolus":
        if new.mg is None or new.mg <= 0:
            return {"mg": "Enter the bolus in mg (more than 0)."}
        if p.given_mg + new.mg > plan.total_mg:
            return {
                "mg": f"{new.mg} mg would bring the total to {p.given_mg + new.mg} mg, above the "
                f"{plan.total_mg} mg of the signed order."
            }
    if new.kind == "device":
        if plan.route != "nasal":
            return {"kind": "Nasal devices apply to an esketamine order only."}
        if plan.devices is not None and p.devices_given >= plan.devices:
            return {"kind": f"All {plan.devices} devices of the order were given."}
        if p.next_device_at is not None and new.at < p.next_device_at:
            return {
                "at": f"Wait {int(plan.device_rest.total_seconds() // 60)} min between devices "
                f"(clinical.md §2.1): the next device is due at {p.next_device_at:%H:%M}."
            }
    return {}


def check_all(plan: OrderPlan, events: Sequence[Dose]) -> tuple[Dose | None, dict[str, str]]:
    """The first event of ``events`` that ``check`` refuses after the ones before it, and why.

    A correction replaces an event in the middle of the sequence (a wrong time, rate or amount);
    every later event must still fit after it. ``(None, {})`` means the whole sequence is allowed.

    >>> from datetime import UTC
    >>> t0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    >>> nasal = OrderPlan("nasal", Decimal("56"), Decimal("56"), devices=2)
    >>> late = t0 + timedelta(minutes=4)
    >>> bad, why = check_all(nasal, [Dose("start", t0), Dose("device", t0), Dose("device", late)])
    >>> bad.at == late, why["at"][:26]
    (True, 'Wait 5 min between devices')
    """
    ordered = sorted(events, key=lambda e: e.at)
    for i, event in enumerate(ordered):
        problems = check(plan, ordered[:i], event)
        if problems:
            return event, problems
    return None, {}


def rate_before_pause(plan: OrderPlan, events: Sequence[Dose]) -> Decimal | None:
    """The pump rate that ran before the infusion was paused: what a resume restarts by default
    (never the order's rate, which may be higher than a rate lowered for strong dissociation).

    >>> from datetime import UTC
    >>> t0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    >>> iv = OrderPlan("iv", Decimal("35"), Decimal("35"), Decimal("10"), Decimal("3.5"), Decimal("5.3"))
    >>> ev = [Dose("start", t0), Dose("rate", t0 + timedelta(minutes=5), rate_ml_per_h=Decimal("2.6")),
    ...       Dose("pause", t0 + timedelta(minutes=9))]
    >>> rate_before_pause(iv, ev)
    Decimal('2.6')
    """
    rate = plan.rate_ml_per_h
    for e in sorted(events, key=lambda e: e.at):
        if e.kind in ("start", "rate", "resume") and e.rate_ml_per_h is not None:
            rate = e.rate_ml_per_h
    return rate


def _paused(events: Sequence[Dose]) -> bool:
    state = False
    for e in events:
        if e.kind == "pause":
            state = True
        elif e.kind in ("resume", "start"):
            state = False
    return state


@dataclass(frozen=True)
class GivenRegimen:
    """What was given, as the engine's dose events in minutes from the start of dosing, and what
    the pump will still give if nothing changes (the current rate until the order's volume)."""

    events: tuple[DoseEvent, ...]
    started_at: datetime
    given_until_min: float  # events before this are what was recorded; after it, the forecast


def given_regimen(plan: OrderPlan, events: Sequence[Dose], now: datetime, drug: str) -> GivenRegimen | None:
    """The session's dosing events as engine dose events (``ketaclinic.pkpd``): pump rate segments
    integrated exactly as ``progress`` does (zero while paused or stopped, capped at the order's
    volume), boluses, devices and the IM dose, each at its recorded time; then the running rate
    continued to the order's volume. None before dosing starts.

    >>> from datetime import UTC
    >>> t0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    >>> plan = OrderPlan("iv", Decimal("35"), Decimal("35"), Decimal("10"), Decimal("3.5"), Decimal("5.25"))
    >>> ev = [Dose("start", t0, rate_ml_per_h=Decimal("5.25")), Dose("pause", t0 + timedelta(minutes=10)),
    ...       Dose("resume", t0 + timedelta(minutes=20))]
    >>> g = given_regimen(plan, ev, t0 + timedelta(minutes=25), "racemic")
    >>> [(e.start_min, round(e.dose, 2), e.duration_min) for e in g.events]
    [(0.0, 8.75, 10.0), (20.0, 4.38, 5.0), (25.0, 21.88, 25.0)]
    >>> g.given_until_min
    25.0
    """
    ordered = sorted(events, key=lambda e: e.at)
    start = next((e.at for e in ordered if e.kind == "start"), None)
    if start is None:
        return None
    kind: Drug = "esketamine" if drug == "esketamine" else "racemic"

    def minutes(at: datetime) -> float:
        return (at - start).total_seconds() / 60.0

    if plan.route != "iv":
        out = _extravascular(plan, ordered, kind, minutes)
        return GivenRegimen(tuple(out), start, minutes(now)) if out else None
    out = _infusion(plan, ordered, now, kind, minutes)
    return GivenRegimen(tuple(out), start, minutes(now)) if out else None


def _extravascular(
    plan: OrderPlan, ordered: Sequence[Dose], kind: Drug, minutes: Callable[[datetime], float]
) -> list[DoseEvent]:
    if plan.route == "nasal":
        devices = [x for x in ordered if x.kind == "device"]
        return [
            DoseEvent("nasal", kind, minutes(e.at), float(e.mg or plan.device_mg), False, 0.0, i)
            for i, e in enumerate(devices)
        ]
    return [
        DoseEvent(plan.route, kind, minutes(e.at), float(e.mg or plan.dose_mg))
        for e in ordered
        if e.kind in ("start", "bolus") and (e.mg or plan.dose_mg)
    ]


def _infusion(
    plan: OrderPlan, ordered: Sequence[Dose], now: datetime, kind: Drug, minutes: Callable[[datetime], float]
) -> list[DoseEvent]:
    out: list[DoseEvent] = []
    conc = plan.concentration_mg_per_ml or ZERO
    cap = plan.volume_ml
    runs, boluses, rate = _pump_runs(plan, ordered, now)
    stopped = any(e.kind == "stop" and e.at <= now for e in ordered)
    if rate > 0 and not stopped and cap is not None:
        # the forecast: the running rate until the pump reaches the order's volume
        given = ZERO
        for t0, t1, ml_per_h in runs:
            given += _capped_ml(ml_per_h * _hours(t1 - t0), given, cap)
        if given < cap:
            runs.append((now, now + timedelta(hours=float((cap - given) / rate)), rate))
    infused = ZERO
    for t0, t1, ml_per_h in runs:
        ml = _capped_ml(ml_per_h * _hours(t1 - t0), infused, cap)
        if ml > 0 and conc > 0:
            out.append(DoseEvent("iv", kind, minutes(t0), float(ml * conc), False, float(ml / ml_per_h * 60)))
        infused += ml
    for e in boluses:
        mg = e.mg if e.mg is not None else (e.ml or ZERO) * conc
        if mg > 0:
            out.append(DoseEvent("iv", kind, minutes(e.at), float(mg)))
    out.sort(key=lambda d: d.start_min)
    return out
