"""The answer to "will this get me high, and for how long?": the key numbers of one regimen with
their 5-95% ranges over simulated patients (``comparison_item``), and the same in words
(``verdict``). The engine's own, so the command line, the pages and a researcher's script read the
same answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ketaclinic.pkpd.text import fmt_num, fmt_time_min

PERCENTILES = (5, 50, 95)


def _zone_of(ce_ng_per_ml: float, drug: str) -> str:
    from ketaclinic.pkpd import pd

    return str(pd.zones(np.array([ce_ng_per_ml]), drug)[0])  # type: ignore[arg-type]


def _high_of(ce_ng_per_ml: float, drug: str) -> float:
    from ketaclinic.pkpd import pd

    return float(pd.high_pct_max(np.array([ce_ng_per_ml]), drug)[0])  # type: ignore[arg-type]


def _above(ce_ng_per_ml: float, drug: str) -> bool:
    from ketaclinic.pkpd import pd

    return bool(pd.above_studied_range(np.array([ce_ng_per_ml]), drug)[0])  # type: ignore[arg-type]


def _intensity(ce_ng_per_ml: float, drug: str) -> str:
    from ketaclinic.pkpd import pd

    return pd.intensity(ce_ng_per_ml, drug)  # type: ignore[arg-type]


def comparison_item(text: str, regimen: Any, result: Any, pop: Any) -> dict[str, Any]:
    """Key numbers of one regimen with their 5-95% ranges, and the plain-language verdict.

    Percentiles are over simulated patients (``pop.summary_percentiles``). The drug-high rating
    and the zone are monotone in the effect-site concentration, so their percentiles are those
    of the peak effect-site concentration times each patient's sensitivity mapped through the
    engine's relations. Added fields
    (the older ones keep their names): ``peak_high_above_studied_range`` (the typical peak is
    above the 50-200 ng/mL the rating was measured over: words say so instead of a number),
    ``intensity``, ``dissociating_share`` and ``peak_zone_share`` (simulated patients), ``routes``.
    """
    sm, sq = result.summary, pop.summary_percentiles
    ce_q = sq["ce_max_ng_per_ml"]
    # what patients feel includes their sensitivity: the rating and zone percentiles use it
    felt_q = sq.get("felt_max_ng_per_ml", ce_q)
    infusion = any(e.duration_min > 0 for e in regimen.events)
    item: dict[str, Any] = {
        "regimen": text,
        "model": result.model,
        "drug": result.drug,
        "dosing_ends_min": float(regimen.end_min),
        "infusion": infusion,
        "peak_plasma_ng_per_ml": _triple(sm.cmax_ng_per_ml, sq["cmax_ng_per_ml"]),
        "peak_plasma_time_min": _triple(sm.tmax_min, sq["tmax_min"]),
        "peak_effect_site_ng_per_ml": _triple(sm.ce_max_ng_per_ml, ce_q),
        "peak_high_pct_max": {
            "typical": sm.peak_effect_pct_max,
            **{f"p{q}": _high_of(felt_q[q], result.drug) for q in PERCENTILES},
        },
        "peak_high_time_min": sm.peak_effect_time_min,
        "peak_high_above_studied_range": bool(_above(sm.ce_max_ng_per_ml, result.drug)),
        "intensity": _intensity(sm.ce_max_ng_per_ml, result.drug),
        "dissociating_share": pop.peak_zone_share.get("dissociative", 0.0)
        + pop.peak_zone_share.get("anaesthetic", 0.0),
        "peak_zone_share": dict(pop.peak_zone_share),
        "routes": list(regimen.routes),
        "peak_zone": {
            "typical": sm.peak_zone,
            **{f"p{q}": _zone_of(felt_q[q], result.drug) for q in PERCENTILES},
        },
        "unnoticeable_after_min": _triple(
            sm.time_effect_unnoticeable_min, sq["time_effect_unnoticeable_min"]
        ),
        "population_n": pop.n,
        "warnings": list(dict.fromkeys([*result.warnings, *pop.warnings])),
        "citations": list(dict.fromkeys([*result.citations, *pop.citations])),
    }
    item["verdict"] = verdict(item)
    return item


def _triple(typical: float | None, q: Mapping[int, float | None]) -> dict[str, float | None]:
    return {"typical": typical, "p5": q.get(5), "p50": q.get(50), "p95": q.get(95)}


_ZONE_WORDS = {
    "none": "little or nothing: the predicted brain concentration stays below the level at "
    "which effects are expected",
    "mild": "a mild perceptual change (light, floaty, slightly 'high'), short of dissociation",
    "dissociative": "a {intensity} dissociative effect (feeling detached from body or "
    "surroundings, a 'high')",
    "anaesthetic": "an anaesthetic effect: unresponsive, not awake, needing airway monitoring",
}


ZONE_SHORT = {
    "none": "not noticeable",
    "mild": "mild",
    "dissociative": "dissociative",
    "anaesthetic": "anaesthetic",
}


#: How the setting differs, by route: what a patient asks when comparing with street use.
SETTING = {
    "insufflated": "Street use differs from a clinic dose in more than the number: the amount in "
    "a line or bump is not measured and street powder varies in strength and may contain other "
    "drugs; snorted, it reaches the brain within minutes; nobody watches blood pressure or "
    "breathing, and a second line before the first has worn off stacks on top of it",
    "iv": "In a clinic the dose is measured by body weight and given slowly by a pump; a nurse "
    "watches blood pressure, breathing and how you feel, and slows or stops the pump if it is "
    "too strong",
    "nasal": "A measured spray dose, taken in a clinic where staff watch blood pressure and "
    "sedation for at least 2 hours afterwards",
    "im": "A measured injection, given in a clinic with monitoring afterwards",
}


def _about(minutes: float) -> str:
    """Round a time for prose: 5-minute steps below 2 h, quarter hours above."""
    if minutes < 10:
        return fmt_time_min(max(1.0, round(minutes)))
    step = 5 if minutes < 120 else 15
    return fmt_time_min(step * round(minutes / step))


def _share_words(share: float) -> str:
    tenths = round(10 * share)
    if tenths >= 10:
        return "nearly all"
    if tenths <= 0:
        return "almost none"
    return f"about {tenths} in 10"


def verdict(item: Mapping[str, Any]) -> str:
    """Answer "does it get you high, and for how long?" in words, with the 5-95% range.

    The wording comes from the median simulated patient ("most people"); the share of
    simulated people who reach dissociation, the 5-95% ranges of the peak zone and of the time
    until the effect is no longer noticeable follow. The drug-high rating is given as a number
    only inside the concentrations it was measured over; above them the text says so. For the
    routes a patient compares (snorted powder, a clinic infusion) it says how the setting
    differs.
    """
    zone = item["peak_zone"]
    high = item["peak_high_pct_max"]
    key = zone["p50"]
    intensity = item.get("intensity") or "mild-to-moderate"
    feel = _ZONE_WORDS[key].format(intensity=intensity)
    text = f"{item['regimen']}: most people feel {feel}"
    if key == "none":
        text = f"{item['regimen']}: most people notice {feel}"
    end = float(item["dosing_ends_min"])
    peak_t = float(item["peak_high_time_min"])
    if key != "none":
        if item["infusion"] and abs(peak_t - end) <= 5.0:
            text += ", peaking near the end of the infusion"
        elif item["infusion"] and peak_t < end:
            text += f", peaking about {_about(peak_t)} after the start"
        else:
            after = "the last dose" if end > 0 else "the dose"
            text += f", peaking about {_about(max(peak_t - end, 0.0))} after {after}"
        fade = item["unnoticeable_after_min"]
        since = "it stops" if item["infusion"] else ("the last dose" if end > 0 else "the dose")
        if fade["p50"] is None:
            text += "; it is still noticeable at the end of the simulated time"
        else:
            lo, hi = fade["p5"], fade["p95"]
            rng = f"{_about(max(lo - end, 0.0))} to " + (
                "beyond the simulated time" if hi is None else _about(max(hi - end, 0.0))
            )
            text += (
                f", and fades within about {_about(max(fade['p50'] - end, 0.0))} after {since} "
                f"(90% of simulated people: {rng}; a concentration estimate)"
            )
    share = item.get("dissociating_share")
    if share is not None:
        text += f". {_share_words(float(share)).capitalize()} simulated people reach dissociation"
    if item.get("peak_high_above_studied_range"):
        text += (
            ". Drug-high rating: above the studied range (the rating was measured at 50-200 ng/mL; "
            "this peak is higher, so no number is given)"
        )
    else:
        text += (
            f". Peak drug-high rating {fmt_num(high['p50'], 2)}% of the maximum "
            f"(5-95%: {fmt_num(high['p5'], 2)}-{fmt_num(high['p95'], 2)}%)"
        )
    if zone["p5"] != zone["p95"]:
        text += (
            f"; peak zone from {ZONE_SHORT[zone['p5']]} (5th percentile) to {ZONE_SHORT[zone['p95']]} (95th)"
        )
    routes = item.get("routes") or []
    setting = next((SETTING[r] for r in ("insufflated", "iv", "nasal", "im") if r in routes), None)
    if setting is not None and not (item["drug"] == "racemic" and "nasal" in routes):
        text += f". {setting}"
    text += f". Model: {item['model']}; effect: "
    text += "Simons 2022 (S-ketamine)" if item["drug"] == "esketamine" else "fitted to Bowdle 1998"
    text += "; zones: pkpd.ZONES (bounds partly heuristic)."
    return text
