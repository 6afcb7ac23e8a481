"""Bedside rating scales, recovery scores and the discharge checklist. Pure functions.

Each scale says which published version it implements and cites reference/clinical.md. Every
item is validated: a value out of range raises ``ScaleError`` naming the scale and the item.

- CADSS: 23-item ketamine-study version, items 0-4, total 0-92 (§4 [S62][S64]).
- CADSS-6: items 1, 2, 6, 7, 15, 22 of the 23, total 0-24 (inferred) (Rodrigues 2021, §4 [S66]).
- MOAA/S: 0-5 with the labels of §4 [S72]; 0 = loss of consciousness (§2.2 [S28]).
- Pain: NRS 0-10 (§4 [S74]).
- Nausea: 4-point verbal scale 0-3 (none/mild/moderate/severe). No source in clinical.md: a local
  choice, unconfirmed.
- BPRS+: the 4 positive-symptom items on the standard 1-7 anchors, total 4-28 (§4 [S67][S68]);
  NCT04226963 scored them 0-6 (0-24). The labels of anchors 2-6 are unconfirmed (``BPRS_ANCHORS``).
- CADSS item cues (``CADSS_ITEM_CUES``) are short reminders of what each item asks, for the rating
  form, not the item wording (which the rater reads from the clinic's CADSS form).
- Modified Aldrete: 5 items 0-2 with the 1995 SpO2 item; circulation in mmHg, +/-20 / 20-50 / >50
  (Kim 2015, §3.1 [S41]); total 0-10, ready at >=9 [S40][S41].
- PADSS: Chung 1995 (§3.2 [S44][S45]), total 0-10, ready at >=9; bleeding and intake/output do
  not apply after ketamine (see ``score_padss``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class ScaleError(ValueError):
    """An item value outside its scale. ``field`` names the item, for a form error next to it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def int_item(scale: str, item: str, value: Any, low: int, high: int) -> int:
    name = f"{scale} {item}"
    hint = f"enter a whole number from {low} to {high}"
    if isinstance(value, bool) or value is None:
        raise ScaleError(name, hint)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        raise ScaleError(name, f"{value!r} is not a whole number; {hint}")
    if not low <= number <= high:
        raise ScaleError(name, f"{number} is outside {low}-{high}")
    return number


# --- CADSS --------------------------------------------------------------------------------------

CADSS_ITEM_COUNT = 23
CADSS_ITEM_MAX = 4
CADSS6_ITEMS = (1, 2, 6, 7, 15, 22)  # 1-based item numbers of the 23-item CADSS [S66]

# What each item asks about, as a short cue for the rater, not the item's wording: the rater reads the
# items from the clinic's own (licensed) CADSS form. Items 1-19 follow the subjective items of Bremner
# 1998, Table 1 (clinical.md §4 [S63]), assumed to keep their numbers in the 23-item version [S64]:
# unconfirmed. The content of items 20-23 is not in the reference: no cue (None).
CADSS_ITEM_CUES: tuple[str | None, ...] = (
    "time slowed, as in slow motion",
    "unreal, dreamlike",
    "separated from what happens (as in a film or play, robot-like)",
    "seeing things from outside the body",
    "watching as an onlooker",
    "disconnected from the body",
    "body feels changed (larger, smaller)",
    "people seem motionless, lifeless or mechanical",
    "objects look different than expected",
    "colours less intense",
    "tunnel or wide-angle vision",
    "the experience lasts longer than expected",
    "things happen very fast",
    "things happen that cannot be accounted for",
    "spacing out, losing track of what goes on",
    "sounds fade or grow much stronger",
    "things seem very real, a special clarity",
    "the world as through a fog, far away or unclear",
    "colours much brighter",
    None,
    None,
    None,
    None,
)
# Item anchors: only the ends are in the reference, "0 (normal) to 4 (severe symptoms)" (NCT04226963,
# clinical.md §4 [S67]); the verbal anchors of 1-3 are on the clinic's CADSS form.
CADSS_ANCHORS = {0: "absent (normal)", 4: "severe"}


def score_cadss(items: Sequence[Any]) -> int:
    """Total of the 23-item CADSS, each item 0-4, in item order.

    >>> score_cadss([1] * 23)
    23
    """
    if len(items) != CADSS_ITEM_COUNT:
        raise ScaleError("CADSS", f"needs all {CADSS_ITEM_COUNT} items, got {len(items)}")
    return sum(int_item("CADSS", f"item {i}", v, 0, CADSS_ITEM_MAX) for i, v in enumerate(items, start=1))


def score_cadss6(items: Mapping[int, Any] | Sequence[Any]) -> int:
    """Total of the 6-item short form: a sequence in the order of ``CADSS6_ITEMS``, or {item no: value}.

    >>> score_cadss6({1: 2, 2: 1, 6: 0, 7: 0, 15: 3, 22: 4})
    10
    """
    if isinstance(items, Mapping):
        keys = {int(k) for k in items}
        if keys != set(CADSS6_ITEMS):
            missing = sorted(set(CADSS6_ITEMS) - keys)
            extra = sorted(keys - set(CADSS6_ITEMS))
            detail = "; ".join(
                part
                for part in (
                    f"missing item(s) {', '.join(map(str, missing))}" if missing else "",
                    f"item(s) {', '.join(map(str, extra))} are not in the short form" if extra else "",
                )
                if part
            )
            raise ScaleError("CADSS-6", detail)
        by_number = {int(k): v for k, v in items.items()}
    else:
        if len(items) != len(CADSS6_ITEMS):
            raise ScaleError("CADSS-6", f"needs {len(CADSS6_ITEMS)} items, got {len(items)}")
        by_number = {n: items[i] for i, n in enumerate(CADSS6_ITEMS)}
    return sum(int_item("CADSS-6", f"item {n}", by_number[n], 0, CADSS_ITEM_MAX) for n in CADSS6_ITEMS)


def cadss6_from_full(items: Sequence[Any]) -> int:
    """The short-form total contained in a full 23-item rating."""
    score_cadss(items)  # validates all 23
    return sum(int(items[n - 1]) for n in CADSS6_ITEMS)


# --- MOAA/S, pain, nausea -------------------------------------------------------------------

MOAAS_LABELS: dict[int, str] = {
    5: "responds readily to name spoken in normal tone",
    4: "lethargic response to name spoken in normal tone",
    3: "responds only after name is called loudly and/or repeatedly",
    2: "responds only after mild prodding or shaking",
    1: "responds only after painful trapezius squeeze",
    0: "no response after painful trapezius squeeze (loss of consciousness)",
}


def score_moaas(value: Any) -> int:
    return int_item("MOAA/S", "score", value, 0, 5)


def score_pain_nrs(value: Any) -> int:
    return int_item("pain NRS", "score", value, 0, 10)


def pain_band(score: int) -> str:
    """1-3 mild, 4-6 moderate, 7-10 severe (clinical.md §4 [S74])."""
    if score == 0:
        return "none"
    return "mild" if score <= 3 else "moderate" if score <= 6 else "severe"


NAUSEA_LABELS = {0: "none", 1: "mild", 2: "moderate", 3: "severe"}


def score_nausea(value: Any) -> int:
    """4-point verbal nausea scale, 0 none to 3 severe. Local choice, unconfirmed (no source in
    clinical.md); chosen because it maps one-to-one onto PADSS's minimal/moderate/severe."""
    return int_item("nausea", "score", value, 0, 3)


# --- BPRS+ ----------------------------------------------------------------------------------

BPRS_POSITIVE_ITEMS = (
    "conceptual_disorganization",
    "suspiciousness",
    "hallucinations",
    "unusual_thought_content",
)
BPRS_MIN, BPRS_MAX = 1, 7  # standard BPRS anchors: 1 not present ... 7 extremely severe [S67][S68]
# The 1-7 verbal anchors of the BPRS. The ends are cited above; the labels of 2-6 are the usual BPRS
# anchors, not quoted in clinical.md: unconfirmed.
BPRS_ANCHORS = {
    1: "not present",
    2: "very mild",
    3: "mild",
    4: "moderate",
    5: "moderately severe",
    6: "severe",
    7: "extremely severe",
}


def score_bprs_positive(items: Mapping[str, Any]) -> int:
    """Sum of the 4 BPRS positive-symptom items, each 1-7 (total 4-28).

    NCT04226963 rated the same items 0-6 (total 0-24): subtract 4 from this total to compare.

    >>> score_bprs_positive({"conceptual_disorganization": 1, "suspiciousness": 2,
    ...                      "hallucinations": 1, "unusual_thought_content": 1})
    5
    """
    missing = [k for k in BPRS_POSITIVE_ITEMS if k not in items]
    if missing:
        raise ScaleError("BPRS+", f"missing item(s): {', '.join(missing)}")
    extra = sorted(set(items) - set(BPRS_POSITIVE_ITEMS))
    if extra:
        raise ScaleError("BPRS+", f"unknown item(s): {', '.join(extra)}")
    return sum(int_item("BPRS+", k, items[k], BPRS_MIN, BPRS_MAX) for k in BPRS_POSITIVE_ITEMS)


# --- Modified Aldrete -----------------------------------------------------------------------

ALDRETE_ITEMS = ("activity", "respiration", "circulation", "consciousness", "spo2")
ALDRETE_READY_AT = 9  # clinical.md §3.1 [S40][S41]


def aldrete_circulation(systolic_now: int, systolic_baseline: int) -> int:
    """Circulation points from the systolic pressure against its pre-dose level, mmHg version [S41]:
    within +/-20 mmHg = 2, 21-50 mmHg = 1, more than 50 mmHg = 0.

    >>> aldrete_circulation(150, 120), aldrete_circulation(175, 120), aldrete_circulation(60, 120)
    (1, 0, 0)
    """
    delta = abs(systolic_now - systolic_baseline)
    return 2 if delta <= 20 else 1 if delta <= 50 else 0


def aldrete_spo2(spo2_pct: int, on_oxygen: bool) -> int:
    """SpO2 points (1995): >92 % on room air = 2; needs O2 to stay >90 % = 1; <90 % even with O2 = 0 [S40]."""
    if spo2_pct > 92 and not on_oxygen:
        return 2
    return 1 if spo2_pct > 90 else 0


@dataclass(frozen=True)
class Score:
    total: int
    maximum: int
    ready: bool
    items: dict[str, int]
    notes: tuple[str, ...] = ()


def score_aldrete(items: Mapping[str, Any]) -> Score:
    """Modified Aldrete (1995, SpO2 replacing colour), each item 0-2; ready for discharge at >=9.

    >>> items = {"activity": 2, "respiration": 2, "circulation": 1, "consciousness": 2, "spo2": 2}
    >>> score_aldrete(items).total, score_aldrete(items).ready
    (9, True)
    """
    missing = [k for k in ALDRETE_ITEMS if k not in items]
    if missing:
        raise ScaleError("Aldrete", f"missing item(s): {', '.join(missing)}")
    scored = {k: int_item("Aldrete", k, items[k], 0, 2) for k in ALDRETE_ITEMS}
    total = sum(scored.values())
    return Score(total, 10, total >= ALDRETE_READY_AT, scored)


# --- PADSS ----------------------------------------------------------------------------------

PADSS_ITEMS = ("vital_signs", "activity_mental_status", "pain_nausea_vomiting", "bleeding", "intake_output")
PADSS_NOT_APPLICABLE = ("bleeding", "intake_output")
PADSS_READY_AT = 9  # clinical.md §3.2 [S45]


def padss_vital_signs(percent_change: float) -> int:
    """Within 20 % of pre-dose = 2; 20-40 % = 1; more than 40 % = 0 (Chung 1995, §3.2 [S44])."""
    change = abs(percent_change)
    return 2 if change <= 20 else 1 if change <= 40 else 0


def score_padss(items: Mapping[str, Any], *, score_intake_output: bool = False) -> Score:
    """PADSS as published by Chung, Chan & Ong 1995 (clinical.md §3.2), 5 items 0-2, ready at >=9.

    No validated ketamine-clinic adaptation exists (§3.2). Surgical bleeding does not apply (no
    surgery) and is scored 2, "minimal", which is literally true. Intake and output (oral fluids
    and voided) is not a discharge condition after ketamine: unless ``score_intake_output`` is set
    it is scored 2 too. Both choices are local and unconfirmed; they keep the published >=9
    cut-off, which then means at most one point lost on the three applicable items.

    >>> s = score_padss({"vital_signs": 2, "activity_mental_status": 1, "pain_nausea_vomiting": 2})
    >>> s.total, s.ready
    (9, True)
    """
    applicable = [k for k in PADSS_ITEMS if k != "bleeding" and (k != "intake_output" or score_intake_output)]
    missing = [k for k in applicable if k not in items]
    if missing:
        raise ScaleError("PADSS", f"missing item(s): {', '.join(missing)}")
    scored = {k: int_item("PADSS", k, items[k], 0, 2) for k in applicable}
    notes = []
    for k in PADSS_ITEMS:
        if k not in scored:
            scored[k] = 2
            notes.append(f"{k} not applicable after ketamine; scored 2 (local choice, unconfirmed)")
    total = sum(scored.values())
    return Score(total, 10, total >= PADSS_READY_AT, {k: scored[k] for k in PADSS_ITEMS}, tuple(notes))


# --- Discharge checklist --------------------------------------------------------------------


@dataclass(frozen=True)
class DischargeCriteria:
    """What "ready to leave" means; a protocol may change any of it.

    - blood pressure within 20 mmHg of the pre-dose value: the full-score band of the modified
      Aldrete circulation item, mmHg version (clinical.md §3.1 [S41]);
    - heart rate within 20 % of the pre-dose value: PADSS vital-signs full score (§3.2 [S44]);
    - fully alert, MOAA/S 5 "responds readily to name" (§4 [S72]);
    - dissociation resolved: latest CADSS (full or short form) total at most 0, a local choice
      (no published cut-off, §4), unconfirmed;
    - steady gait and an escort present (§3.2: PADSS activity item; discharge with a competent
      adult escort [S45]); advice not to drive until the next day given (§2.2 [S23][S29]).
    """

    max_bp_delta_mmhg: int = 20
    max_hr_delta_pct: float = 20.0
    required_moaas: int = 5
    max_cadss_total: int = 0


@dataclass(frozen=True)
class DischargeFacts:
    baseline_systolic_mmhg: int | None = None
    baseline_diastolic_mmhg: int | None = None
    baseline_heart_rate_bpm: int | None = None
    systolic_mmhg: int | None = None
    diastolic_mmhg: int | None = None
    heart_rate_bpm: int | None = None
    moaas: int | None = None
    cadss_total: int | None = None
    gait_steady: bool = False
    escort_present: bool = False
    no_driving_advice_given: bool = False


@dataclass(frozen=True)
class ChecklistItem:
    code: str
    label: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Checklist:
    items: tuple[ChecklistItem, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(i.passed for i in self.items)

    @property
    def failures(self) -> tuple[str, ...]:
        return tuple(f"{i.label}: {i.detail}" for i in self.items if not i.passed)


def _bp_item(f: DischargeFacts, c: DischargeCriteria) -> ChecklistItem:
    label = "Blood pressure back near baseline"
    if f.systolic_mmhg is None or f.diastolic_mmhg is None:
        return ChecklistItem("bp", label, False, "no blood pressure recorded in recovery")
    if f.baseline_systolic_mmhg is None or f.baseline_diastolic_mmhg is None:
        return ChecklistItem("bp", label, False, "no pre-dose blood pressure to compare with")
    ds = f.systolic_mmhg - f.baseline_systolic_mmhg
    dd = f.diastolic_mmhg - f.baseline_diastolic_mmhg
    ok = abs(ds) <= c.max_bp_delta_mmhg and abs(dd) <= c.max_bp_delta_mmhg
    return ChecklistItem(
        "bp",
        label,
        ok,
        f"{f.systolic_mmhg}/{f.diastolic_mmhg} vs "
        f"{f.baseline_systolic_mmhg}/{f.baseline_diastolic_mmhg} mmHg "
        f"({ds:+d}/{dd:+d}; limit +/-{c.max_bp_delta_mmhg})",
    )


def _hr_item(f: DischargeFacts, c: DischargeCriteria) -> ChecklistItem:
    label = "Heart rate back near baseline"
    if f.heart_rate_bpm is None:
        return ChecklistItem("hr", label, False, "no heart rate recorded in recovery")
    if not f.baseline_heart_rate_bpm:
        return ChecklistItem("hr", label, False, "no pre-dose heart rate to compare with")
    pct = 100.0 * (f.heart_rate_bpm - f.baseline_heart_rate_bpm) / f.baseline_heart_rate_bpm
    ok = abs(pct) <= c.max_hr_delta_pct
    return ChecklistItem(
        "hr",
        label,
        ok,
        f"{f.heart_rate_bpm} vs {f.baseline_heart_rate_bpm}/min "
        f"({pct:+.0f} %; limit +/-{c.max_hr_delta_pct:.0f} %)",
    )


def evaluate_discharge(facts: DischargeFacts, criteria: DischargeCriteria | None = None) -> Checklist:
    """Every discharge condition with pass/fail and the values behind it.

    >>> ok = DischargeFacts(120, 80, 70, 128, 84, 76, moaas=5, cadss_total=0, gait_steady=True,
    ...                     escort_present=True, no_driving_advice_given=True)
    >>> evaluate_discharge(ok).passed
    True
    >>> for failure in evaluate_discharge(DischargeFacts(120, 80, 70, 150, 84, 76, moaas=4)).failures[:2]:
    ...     print(failure)
    Blood pressure back near baseline: 150/84 vs 120/80 mmHg (+30/+4; limit +/-20)
    Fully alert: MOAA/S 4
    """
    c = criteria or DischargeCriteria()
    f = facts
    moaas_ok = f.moaas is not None and f.moaas >= c.required_moaas
    cadss_ok = f.cadss_total is not None and f.cadss_total <= c.max_cadss_total
    items = (
        _bp_item(f, c),
        ChecklistItem(
            "alert",
            "Fully alert",
            moaas_ok,
            "no MOAA/S recorded in recovery" if f.moaas is None else f"MOAA/S {f.moaas}",
        ),
        _hr_item(f, c),
        ChecklistItem(
            "dissociation",
            "Dissociation resolved",
            cadss_ok,
            "no CADSS recorded in recovery"
            if f.cadss_total is None
            else f"CADSS {f.cadss_total} (must be at most {c.max_cadss_total})",
        ),
        ChecklistItem(
            "gait", "Steady gait", f.gait_steady, "confirmed" if f.gait_steady else "not confirmed"
        ),
        ChecklistItem(
            "escort", "Escort present", f.escort_present, "confirmed" if f.escort_present else "not confirmed"
        ),
        ChecklistItem(
            "no_driving",
            "Advised not to drive until the next day",
            f.no_driving_advice_given,
            "given" if f.no_driving_advice_given else "not given",
        ),
    )
    return Checklist(items)


def discharge_failures(checklist: Checklist, score_kind: str, score_total: int | None) -> tuple[str, ...]:
    """What still keeps the patient: the checklist's failures, then the protocol's scored form
    (``score_kind`` "aldrete" or "padss"), which must be recorded in recovery and reach its cut-off.

    >>> discharge_failures(Checklist(), "padss", 9)
    ()
    >>> discharge_failures(Checklist(), "padss", 8)
    ('PADSS 8 is below 9',)
    >>> discharge_failures(Checklist(), "aldrete", None)
    ("no modified Aldrete score recorded in recovery (the protocol's discharge criterion)",)
    """
    if score_kind == "aldrete":
        name, ready_at = "modified Aldrete", ALDRETE_READY_AT
    else:
        name, ready_at = "PADSS", PADSS_READY_AT
    failures = list(checklist.failures)
    if score_total is None:
        failures.append(f"no {name} score recorded in recovery (the protocol's discharge criterion)")
    elif score_total < ready_at:
        failures.append(f"{name} {score_total} is below {ready_at}")
    return tuple(failures)
