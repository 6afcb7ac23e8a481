"""What a drug-library change must carry before a second person may put it in force.

A change to the library moves the limits every later order is checked against, so it is held to
the standard of a pharmacy's drug-library review (the two-person rule): a reason a reviewer can
read, a source for every limit, bounds a human could have meant, and a second person's approval
(``protocols/actions/library.py``). This module holds the checks as pure functions, so that the
rules read in one place and are tested exactly.

Plausibility ceilings. No bound of a limit may exceed the ceiling of its kind for the entry's
route: a hard maximum of 1e308 mg/kg, or of 50 mg/kg, is a typing error or an attack, never a
protocol. The ceilings are generous: an anesthetic dose, not a therapeutic one.

- Dose per kg: the Ketalar label's induction range tops out at 4.5 mg/kg IV and 13 mg/kg IM
  (KETALAR prescribing information, section 2.2, "Induction of Anesthesia"). Nasal: the IV figure
  (assumed; no nasal mg/kg ceiling is published).
- Infusion rate: the label's alternative induction, 1-2 mg/kg at 0.5 mg/kg/min, is 30 mg/kg/h.
- Dose, bolus and cumulative session dose, IV and IM: the per-kg ceiling times a reference
  weight of 150 kg (assumed). Nasal: 84 mg, the highest esketamine dose (clinical.md section 2.1).
- Duration 1,440 min, interval 672 h (four weeks), 7 sessions a week: assumed.

Every ceiling can be changed by a clinic (``KETACLINIC_LIBRARY_CEILINGS``, docs/dosing.md); the
ones marked assumed say so wherever they are shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ketaclinic.protocols import limits

LABEL = "KETALAR prescribing information §2.2 (induction of anesthesia)"
SPRAVATO = "Spravato label: 84 mg is the highest dose (clinical.md §2.1)"
ASSUMED = "assumed: configurable, no published source"
REFERENCE_WEIGHT_KG = Decimal("150")


@dataclass(frozen=True)
class Ceiling:
    value: Decimal
    source: str

    @property
    def assumed(self) -> bool:
        return self.source.startswith("assumed")


def _per_kg(ceiling: str, source: str) -> dict[str, Ceiling]:
    per_kg = Decimal(ceiling)
    total = Ceiling(per_kg * REFERENCE_WEIGHT_KG, f"{ASSUMED} ({ceiling} mg/kg × {REFERENCE_WEIGHT_KG} kg)")
    return {
        "dose_mg_per_kg": Ceiling(per_kg, source),
        "dose_mg": total,
        "cumulative_session_mg": total,
        "bolus_mg": total,
    }


def default_ceilings() -> dict[str, dict[str, Ceiling]]:
    """The shipped ceilings, {route: {kind: Ceiling}}, every kind for every route."""
    common = {
        "rate_mg_per_kg_per_h": Ceiling(Decimal("30"), LABEL + ": 0.5 mg/kg/min"),
        "duration_min": Ceiling(Decimal("1440"), ASSUMED),
        "interval_since_last_h": Ceiling(Decimal("672"), ASSUMED),
        "sessions_per_week": Ceiling(Decimal("7"), ASSUMED),
    }
    nasal = Ceiling(Decimal("84"), SPRAVATO)
    return {
        "iv": {**common, **_per_kg("4.5", LABEL + ": 1-4.5 mg/kg IV")},
        "im": {**common, **_per_kg("13", LABEL + ": 6.5-13 mg/kg IM")},
        "nasal": {
            **common,
            **_per_kg("4.5", ASSUMED + " (the IV label figure)"),
            "dose_mg": nasal,
            "cumulative_session_mg": nasal,
            "bolus_mg": nasal,
        },
    }


def ceilings(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Ceiling]]:
    """The ceilings in force: the defaults with a clinic's overrides ({route: {kind: value}}).

    ValueError names a route, kind or value that is not one."""
    out = default_ceilings()
    for route, kinds in (overrides or {}).items():
        if route not in out:
            raise ValueError(f"library ceilings: {route!r} is not a route ({', '.join(out)}).")
        for kind, value in kinds.items():
            if kind not in limits.KINDS:
                raise ValueError(
                    f"library ceilings: {kind!r} is not a limit kind ({', '.join(limits.KINDS)})."
                )
            problem = f"library ceilings: {route}.{kind} must be a positive number, not {value!r}."
            try:
                number = Decimal(str(value))
            except ArithmeticError:
                raise ValueError(problem) from None
            if not number.is_finite() or number <= 0:
                raise ValueError(problem)
            out[route][kind] = Ceiling(number, "set by this clinic (KETACLINIC_LIBRARY_CEILINGS)")
    return out


def ceiling_problems(
    route: str, entry_limits: Mapping[str, limits.Limit], table: Mapping[str, Mapping[str, Ceiling]]
) -> dict[str, str]:
    """{"<kind>__<bound>": message} for every bound above its kind's ceiling on this route."""
    problems: dict[str, str] = {}
    for key, limit in entry_limits.items():
        ceiling, kind = table[route][key], limits.KINDS[key]
        for bound, value in limit.bounds().items():
            if value is not None and value > ceiling.value:
                problems[f"{key}__{bound}"] = (
                    f"{kind.label}: {value.normalize():f} {kind.unit} is above the most any {route.upper()} "
                    f"entry may allow, {ceiling.value.normalize():f} {kind.unit} ({ceiling.source})."
                )
    return problems


def missing_caps(entry_limits: Mapping[str, limits.Limit]) -> list[str]:
    """An entry must cap the dose: a hard maximum on the dose (per kg or in mg) and on the session's
    cumulative dose. Open or soft-only there, nothing would refuse an overdose. Messages, or []."""
    problems = []

    def capped(key: str) -> bool:
        limit = entry_limits.get(key)
        return limit is not None and limit.hard_max is not None

    if not (capped("dose_mg_per_kg") or capped("dose_mg")):
        problems.append(
            "Set a hard maximum on the dose per kg or on the dose: nothing else refuses an overdose."
        )
    if not capped("cumulative_session_mg"):
        problems.append("Set a hard maximum on the cumulative session dose: titration and boluses add up.")
    return problems


_WORD = re.compile(r"[^\W\d_]{2,}")


def readable(text: str, *, words: int, chars: int) -> bool:
    """At least ``chars`` characters and ``words`` words of two or more letters ("." is not a reason)."""
    text = text.strip()
    return len(text) >= chars and len(_WORD.findall(text)) >= words


def reason_problem(reason: str) -> str | None:
    if readable(reason, words=4, chars=20):
        return None
    return (
        "Say why the library changes in words a reviewer can check (at least four words): "
        "what changes, and on whose decision."
    )


def source_problem(source: str) -> str | None:
    if readable(source, words=2, chars=8):
        return None
    return (
        "Cite the source of this limit (a label, guideline or paper), or say that it is a local assumption."
    )


@dataclass(frozen=True)
class Change:
    """One difference between two versions of an entry, in words."""

    entry: str
    what: str
    before: str
    after: str

    def to_dict(self) -> dict[str, str]:
        return {"entry": self.entry, "what": self.what, "before": self.before, "after": self.after}


def _describe(data: Mapping[str, Any] | None, kind: str) -> str:
    if data is None:
        return "—"
    return limits.Limit.from_dict(data).describe(limits.KINDS[kind].unit)


def diff_entry(key: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[Change]:
    """What changed in one entry between two versions. ``before``/``after`` are stored entries
    ({"name", "route", "product", "limits"}) or None (added, removed)."""
    if after is None:
        return [] if before is None else [Change(key, "entry removed", str(before["name"]), "—")]
    changes = []
    if before is None:
        changes.append(Change(key, "entry added", "—", str(after["name"])))
    else:
        for field in ("name", "route", "product"):
            old, new = str(before[field] or "—"), str(after[field] or "—")
            if old != new:
                changes.append(Change(key, field, old, new))
    old_limits = (before or {}).get("limits", {})
    new_limits = after["limits"]
    for kind in limits.KINDS:
        old_l, new_l = old_limits.get(kind), new_limits.get(kind)
        if old_l == new_l:
            continue
        old_text, new_text = _describe(old_l, kind), _describe(new_l, kind)
        label = limits.KINDS[kind].label
        if old_text == new_text:
            changes.append(Change(key, f"{label}: source", old_l["source"], new_l["source"]))
        else:
            changes.append(Change(key, label, old_text, new_text))
    return changes
