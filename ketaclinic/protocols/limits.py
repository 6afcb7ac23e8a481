"""Drug-library limits: what a dose order may be, checked as pure functions.

A library entry holds one ``Limit`` for every kind in ``KINDS``. A limit has up to four bounds:
``soft_min``/``hard_min`` and ``soft_max``/``hard_max``. Crossing a hard bound refuses the order;
crossing a soft bound is allowed only with a prescriber's override and a reason.

Boundary rule: a value *exactly at* a bound passes; only a value beyond it breaches.

An open limit is explicit: ``Limit.open()`` has every bound None and ``is_open`` True, and an entry
must say so for every kind rather than leave it out. There are no sentinel numbers (no ``-1``, no
``9999``). A kind whose value does not apply to the order (a pump rate for a nasal dose, the interval
for a first session) is reported as not applicable and never breaches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypedDict

Severity = Literal["hard", "soft"]
Side = Literal["min", "max"]


@dataclass(frozen=True)
class Kind:
    """One type of limit: its key, plain label, unit, and which sides make sense."""

    key: str
    label: str
    unit: str
    sides: tuple[Side, ...]
    help: str


# The registry of limit kinds, in the order they are shown.
KINDS: dict[str, Kind] = {
    k.key: k
    for k in (
        Kind(
            "dose_mg_per_kg",
            "Dose per kg",
            "mg/kg",
            ("min", "max"),
            "the session's main dose per kg of body weight",
        ),
        Kind("dose_mg", "Dose", "mg", ("min", "max"), "the session's main dose in mg (base)"),
        Kind(
            "rate_mg_per_kg_per_h", "Infusion rate", "mg/kg/h", ("max",), "the highest infusion rate ordered"
        ),
        Kind(
            "duration_min",
            "Infusion duration",
            "min",
            ("min", "max"),
            "too short means too fast; too long means too much",
        ),
        Kind(
            "cumulative_session_mg",
            "Cumulative session dose",
            "mg",
            ("max",),
            "everything given in the session: infusion (all titration steps) plus any bolus",
        ),
        Kind("bolus_mg", "Bolus", "mg", ("max",), "a single loading or rescue bolus"),
        Kind(
            "interval_since_last_h",
            "Interval since last session",
            "h",
            ("min",),
            "hours from the start of the previous session (none for a first session)",
        ),
        Kind(
            "sessions_per_week",
            "Sessions per week",
            "sessions",
            ("max",),
            "sessions in the 7 days ending with this one, this one included",
        ),
    )
}

BOUND_FIELDS = ("soft_min", "hard_min", "soft_max", "hard_max")


class LimitDict(TypedDict):
    open: bool
    soft_min: str | None
    hard_min: str | None
    soft_max: str | None
    hard_max: str | None
    source: str


@dataclass(frozen=True)
class Limit:
    """Bounds for one kind. All None and ``is_open`` True means deliberately no limit."""

    soft_min: Decimal | None = None
    hard_min: Decimal | None = None
    soft_max: Decimal | None = None
    hard_max: Decimal | None = None
    is_open: bool = False
    source: str = ""

    @classmethod
    def open(cls, source: str = "") -> Limit:
        return cls(is_open=True, source=source)

    def bounds(self) -> dict[str, Decimal | None]:
        return {f: getattr(self, f) for f in BOUND_FIELDS}

    def to_dict(self) -> LimitDict:
        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "open": self.is_open,
            "soft_min": s(self.soft_min),
            "hard_min": s(self.hard_min),
            "soft_max": s(self.soft_max),
            "hard_max": s(self.hard_max),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Limit:
        def d(v: Any) -> Decimal | None:
            return None if v in (None, "") else Decimal(str(v))

        return cls(
            soft_min=d(data.get("soft_min")),
            hard_min=d(data.get("hard_min")),
            soft_max=d(data.get("soft_max")),
            hard_max=d(data.get("hard_max")),
            is_open=bool(data.get("open", False)),
            source=str(data.get("source", "")),
        )

    def describe(self, unit: str) -> str:
        """Plain summary, e.g. 'soft max 0.75 mg/kg, hard max 1 mg/kg' or 'open (no limit set)'."""
        if self.is_open:
            return "open (no limit set)"
        parts = [
            f"{name.replace('_', ' ')} {_fmt(value)} {unit}"
            for name, value in self.bounds().items()
            if value is not None
        ]
        return ", ".join(parts)


def _fmt(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text


def validate_limit(kind_key: str, limit: Limit) -> list[str]:
    """Messages (empty when valid) for one limit; each names the kind and the bound."""
    kind = KINDS[kind_key]
    errors: list[str] = []
    set_bounds = {k: v for k, v in limit.bounds().items() if v is not None}
    if limit.is_open:
        if set_bounds:
            errors.append(f"{kind_key}: an open limit has no bounds; clear them or untick 'open'.")
        return errors
    if not set_bounds:
        errors.append(f"{kind_key}: set at least one bound, or mark the limit open explicitly.")
    for name, value in set_bounds.items():
        side = name.split("_")[1]
        if side not in kind.sides:
            errors.append(f"{kind_key}.{name}: {kind.label} has no {side}imum bound.")
        if value < 0:
            errors.append(f"{kind_key}.{name}: must not be negative (got {_fmt(value)} {kind.unit}).")
    lo_s, lo_h, hi_s, hi_h = limit.soft_min, limit.hard_min, limit.soft_max, limit.hard_max
    if hi_s is not None and hi_h is not None and hi_s > hi_h:
        errors.append(f"{kind_key}.soft_max: must not be above hard_max ({_fmt(hi_h)} {kind.unit}).")
    if lo_s is not None and lo_h is not None and lo_s < lo_h:
        errors.append(f"{kind_key}.soft_min: must not be below hard_min ({_fmt(lo_h)} {kind.unit}).")
    lows = [v for v in (lo_s, lo_h) if v is not None]
    highs = [v for v in (hi_s, hi_h) if v is not None]
    if lows and highs and max(lows) > min(highs):
        errors.append(f"{kind_key}: the minimum bounds must lie below the maximum bounds.")
    return errors


def parse_limits(data: Mapping[str, Any]) -> dict[str, Limit]:
    """Read a stored limits mapping; every kind must be present (open is explicit). ValueError names it."""
    out: dict[str, Limit] = {}
    errors: list[str] = []
    for key in KINDS:
        if key not in data:
            errors.append(f"{key}: missing; give bounds or mark it open explicitly.")
            continue
        try:
            limit = Limit.from_dict(data[key])
        except (InvalidOperation, TypeError, ValueError):
            errors.append(f"{key}: bounds must be numbers.")
            continue
        errors.extend(validate_limit(key, limit))
        out[key] = limit
    unknown = sorted(set(data) - set(KINDS))
    errors.extend(f"{key}: not a known limit kind." for key in unknown)
    if errors:
        raise ValueError("; ".join(errors))
    return out


class BreachDict(TypedDict):
    kind: str
    label: str
    severity: Severity
    side: Side
    limit: str
    value: str
    unit: str
    message: str
    source: str


@dataclass(frozen=True)
class Breach:
    kind: str
    severity: Severity
    side: Side
    limit: Decimal
    value: Decimal
    source: str = ""

    @property
    def unit(self) -> str:
        return KINDS[self.kind].unit

    @property
    def message(self) -> str:
        k = KINDS[self.kind]
        word = "above" if self.side == "max" else "below"
        consequence = "refused" if self.severity == "hard" else "needs a prescriber's override with a reason"
        return (
            f"{k.label} {_fmt(self.value)} {k.unit} is {word} the {self.severity} "
            f"{'maximum' if self.side == 'max' else 'minimum'} of {_fmt(self.limit)} {k.unit}: {consequence}."
        )

    def to_dict(self) -> BreachDict:
        return {
            "kind": self.kind,
            "label": KINDS[self.kind].label,
            "severity": self.severity,
            "side": self.side,
            "limit": str(self.limit),
            "value": str(self.value),
            "unit": self.unit,
            "message": self.message,
            "source": self.source,
        }


@dataclass(frozen=True)
class CheckResult:
    breaches: tuple[Breach, ...]
    not_applicable: tuple[str, ...]
    open_kinds: tuple[str, ...]

    @property
    def hard(self) -> tuple[Breach, ...]:
        return tuple(b for b in self.breaches if b.severity == "hard")

    @property
    def soft(self) -> tuple[Breach, ...]:
        return tuple(b for b in self.breaches if b.severity == "soft")

    @property
    def refused(self) -> bool:
        return bool(self.hard)

    @property
    def needs_override(self) -> bool:
        return not self.refused and bool(self.soft)

    @property
    def ok(self) -> bool:
        return not self.breaches


def check_value(kind_key: str, limit: Limit, value: Decimal) -> Breach | None:
    """The worst breach of ``value`` against ``limit`` (hard before soft), or None. At the bound passes."""
    if limit.is_open:
        return None
    src = limit.source
    if limit.hard_max is not None and value > limit.hard_max:
        return Breach(kind_key, "hard", "max", limit.hard_max, value, src)
    if limit.hard_min is not None and value < limit.hard_min:
        return Breach(kind_key, "hard", "min", limit.hard_min, value, src)
    if limit.soft_max is not None and value > limit.soft_max:
        return Breach(kind_key, "soft", "max", limit.soft_max, value, src)
    if limit.soft_min is not None and value < limit.soft_min:
        return Breach(kind_key, "soft", "min", limit.soft_min, value, src)
    return None


def check(limits: Mapping[str, Limit], values: Mapping[str, Decimal | None]) -> CheckResult:
    """Check every kind. ``values`` maps kind -> value (None = not applicable to this order).

    A kind missing from ``limits`` is a configuration error, not a pass: ``KeyError`` names it.

    >>> lim = {k: Limit.open() for k in KINDS} | {"dose_mg_per_kg": Limit(soft_max=Decimal("0.75"),
    ...        hard_max=Decimal("1"))}
    >>> check(lim, {"dose_mg_per_kg": Decimal("0.75")}).ok
    True
    >>> check(lim, {"dose_mg_per_kg": Decimal("0.76")}).needs_override
    True
    >>> check(lim, {"dose_mg_per_kg": Decimal("1.01")}).refused
    True
    """
    breaches: list[Breach] = []
    not_applicable: list[str] = []
    open_kinds: list[str] = []
    for key in KINDS:
        if key not in limits:
            raise KeyError(f"{key}: the library entry has no limit of this kind (not even an open one)")
        limit = limits[key]
        value = values.get(key)
        if value is None:
            not_applicable.append(key)
            continue
        if limit.is_open:
            open_kinds.append(key)
            continue
        breach = check_value(key, limit, value)
        if breach is not None:
            breaches.append(breach)
    return CheckResult(tuple(breaches), tuple(not_applicable), tuple(open_kinds))
