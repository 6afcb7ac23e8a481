"""The engine's prediction for one order, as numbers for the page and a server-rendered SVG chart.

Calls ``ketaclinic.pkpd`` (typical patient + a population band) and turns the result into plain
values: no JavaScript is needed to draw it, and the same SVG prints on the patient's handout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from django.utils import timezone

from ketaclinic.patients.models import Patient
from ketaclinic.pkpd import ZONES, Regimen, RegimenError, pd, simulate, simulate_population
from ketaclinic.pkpd import Patient as PkPatient
from ketaclinic.pkpd.summary import unnoticeable_time
from ketaclinic.protocols.dose_calc import DoseComputation
from ketaclinic.protocols.models import DoseOrder

if TYPE_CHECKING:
    from ketaclinic.protocols.actions import OrderDraft

POPULATION_N = 300  # enough for a stable 5-95% band and fast enough (~30 ms) for typing
POPULATION_SEED = 1  # the same order always draws the same band
RECOVERY_MIN = 240  # simulate this long after the last input ends

ZONE_COLOURS = {"none": "#e8f3ea", "mild": "#fff3c4", "dissociative": "#f7d3a6", "anaesthetic": "#f2a7a0"}
ZONE_LABELS = {z.key: z.label for z in ZONES}
ZONE_SOURCES = {z.key: z.source for z in ZONES}


@dataclass(frozen=True)
class Prediction:
    ok: bool
    error: str = ""
    times_min: list[float] = field(default_factory=list)
    plasma: list[float] = field(default_factory=list)
    effect: list[float] = field(default_factory=list)
    high_pct: list[float] = field(default_factory=list)
    band_low: list[float] = field(default_factory=list)
    band_high: list[float] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)
    unnoticeable_min: float | None = None
    unnoticeable_p5_min: float | None = None
    unnoticeable_p95_min: float | None = None
    peak_zone: str = ""
    ce_max_ng_per_ml: float = 0.0
    peak_high_pct: float = 0.0
    peak_time_min: float = 0.0
    zone_minutes: dict[str, float] = field(default_factory=dict)
    # The rating is measured only over 50-200 ng/mL (racemic-equivalent); above it, words not a number.
    above_studied_range: bool = False
    intensity: str = ""
    dissociating_share: float | None = None  # of simulated patients
    impaired_until_min: float | None = None  # typical plasma above 50 ng/mL (racemic-equivalent) until
    given_until_min: float | None = None  # chair view: events before this were recorded, after it forecast
    drug: str = "racemic"
    model: str = ""
    warnings: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    svg: str = ""

    @property
    def interaction_warnings(self) -> list[str]:
        """The warnings about the patient's medications and liver (shown first, not in the list)."""
        return [w for w in self.warnings if w.startswith(("interaction applied", "hepatic impairment"))]

    @property
    def dissociating_in_10(self) -> int | None:
        """Simulated people like this patient who reach dissociation, out of 10 (rounded)."""
        return None if self.dissociating_share is None else round(10 * self.dissociating_share)

    @property
    def peak_zone_label(self) -> str:
        return ZONE_LABELS.get(self.peak_zone, self.peak_zone)

    def summary(self) -> dict[str, Any]:
        """What an order stores: the numbers, not the curves."""
        return {
            "model": self.model,
            "unnoticeable_min": _r(self.unnoticeable_min),
            "unnoticeable_p5_min": _r(self.unnoticeable_p5_min),
            "unnoticeable_p95_min": _r(self.unnoticeable_p95_min),
            "peak_zone": self.peak_zone,
            "ce_max_ng_per_ml": _r(self.ce_max_ng_per_ml),
            "peak_high_pct": _r(self.peak_high_pct),
            "zone_minutes": {k: _r(v) for k, v in self.zone_minutes.items()},
            "above_studied_range": self.above_studied_range,
            "intensity": self.intensity,
            "dissociating_share": _r(
                None if self.dissociating_share is None else 100 * self.dissociating_share
            ),
            "warnings": self.warnings,
        }


def _r(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 1)


#: Child-Pugh class recorded at intake -> the engine's hepatic impairment grade.
CHILD_PUGH_GRADES = {"A": "mild", "B": "moderate", "C": "severe"}


def engine_patient(
    weight_kg: Decimal,
    age_yr: float | None,
    sex: str | None,
    height_cm: Decimal | None,
    *,
    medications: tuple[str, ...] = (),
    hepatic_impairment: str | None = None,
) -> PkPatient:
    return PkPatient(
        weight_kg=float(weight_kg),
        age_yr=age_yr,
        sex=sex if sex in ("female", "male") else None,  # type: ignore[arg-type]
        height_cm=float(height_cm) if height_cm else None,
        medications=medications,
        hepatic_impairment=hepatic_impairment,
    )


def chart_covariates(patient: Patient) -> tuple[tuple[str, ...], str | None]:
    """The latest intake's medications (generic names) and Child-Pugh grade, for the engine."""
    from ketaclinic.patients import history

    intake = patient.intakes.order_by("-version").first()
    if intake is None:
        return (), None
    meds = tuple((m.generic_name or m.name).lower() for m in intake.medications.all())
    return meds, CHILD_PUGH_GRADES.get(history.grade_of(intake.history, "hepatic_impairment"))


def predict_order(order: DoseOrder, *, with_population: bool = True) -> Prediction:
    """The engine's prediction for a signed order and its patient (the handout, the chair view)."""
    return predict(order.computation(), order.patient, with_population=with_population)


def predict_draft(draft: OrderDraft, *, with_population: bool = True) -> Prediction:
    """The prediction for an order drafted but not yet signed (the live preview, signing)."""
    return predict(draft.computation, draft.plan.patient, with_population=with_population)


def predict(comp: DoseComputation, patient: Patient, *, with_population: bool = True) -> Prediction:
    """Simulate ``comp`` for ``patient`` (weight from the order; age today, sex and height from the
    chart). Engine errors come back as ``Prediction(ok=False, error=...)``, never raise."""
    try:
        regimen = comp.regimen()
    except (RegimenError, ValueError) as exc:
        return Prediction(ok=False, error=str(exc))
    return predict_regimen(regimen, patient, comp.weight_kg, with_population=with_population)


def predict_regimen(
    regimen: Regimen,
    patient: Patient,
    weight_kg: Decimal,
    *,
    with_population: bool = True,
    given_until_min: float | None = None,
) -> Prediction:
    """Simulate a regimen (an order's, or what a session's pump gave) for ``patient``."""
    age_yr = patient.age_on(timezone.localdate())
    try:
        meds, hepatic = chart_covariates(patient)
        pk_patient = engine_patient(
            weight_kg, age_yr, patient.sex, patient.height_cm, medications=meds, hepatic_impairment=hepatic
        )
        horizon = max(360.0, math.ceil((regimen.end_min + RECOVERY_MIN) / 30.0) * 30.0)
        times = np.arange(0.0, horizon + 1.0, 2.0)
        res = simulate(regimen, pk_patient, times)
        pop = (
            simulate_population(regimen, pk_patient, times, n=POPULATION_N, seed=POPULATION_SEED)
            if with_population
            else None
        )
    except (RegimenError, ValueError) as exc:
        return Prediction(ok=False, error=str(exc))
    summary = res.summary
    zones = [str(z) for z in res.zones]
    step = float(times[1] - times[0])
    zone_minutes = {z.key: zones.count(z.key) * step for z in ZONES}
    high = res.effects["high_pct_max"]
    band_low = band_high = []
    p5 = p95 = None
    share = None
    if pop is not None:
        band_low = pop.percentiles["effect_site_ng_per_ml"][5].tolist()
        band_high = pop.percentiles["effect_site_ng_per_ml"][95].tolist()
        p5 = pop.summary_percentiles["time_effect_unnoticeable_min"][5]
        p95 = pop.summary_percentiles["time_effect_unnoticeable_min"][95]
        share = pop.peak_zone_share["dissociative"] + pop.peak_zone_share["anaesthetic"]
    eq_plasma = pd.racemic_equivalent(res.plasma_ng_per_ml, res.drug)
    impaired = unnoticeable_time(times, eq_plasma, pd.IMPAIRMENT_NG_PER_ML)
    pred = Prediction(
        ok=True,
        times_min=times.tolist(),
        plasma=res.plasma_ng_per_ml.tolist(),
        effect=res.effect_site_ng_per_ml.tolist(),
        high_pct=[round(float(v), 1) for v in high],
        band_low=band_low,
        band_high=band_high,
        zones=zones,
        unnoticeable_min=summary.time_effect_unnoticeable_min,
        unnoticeable_p5_min=p5,
        unnoticeable_p95_min=p95,
        peak_zone=summary.peak_zone,
        ce_max_ng_per_ml=summary.ce_max_ng_per_ml,
        peak_high_pct=float(np.max(high)) if len(high) else 0.0,
        # "Strongest" for people is the effect-site peak (the same time as the rating's peak).
        peak_time_min=summary.peak_effect_time_min,
        zone_minutes=zone_minutes,
        above_studied_range=bool(pd.above_studied_range(np.array([summary.ce_max_ng_per_ml]), res.drug)[0]),
        intensity=pd.intensity(summary.ce_max_ng_per_ml, res.drug),
        dissociating_share=share,
        impaired_until_min=impaired,
        given_until_min=given_until_min,
        drug=res.drug,
        model=res.model,
        warnings=list(res.warnings),
        citations=list(res.citations),
    )
    return _with_svg(pred, end_min=regimen.end_min)


def _with_svg(p: Prediction, end_min: float) -> Prediction:
    from dataclasses import replace

    return replace(p, svg=render_svg(p, end_min))


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10.0 ** math.floor(math.log10(v))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if v <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def render_svg(p: Prediction, end_min: float, width: int = 760, height: int = 300) -> str:
    """Plasma and effect-site curves, the 5–95% band, a zone strip and the 'not noticeable' mark."""
    left, right, top, strip_h = 56, 12, 12, 16
    plot_bottom = height - 58
    plot_h = plot_bottom - top
    plot_w = width - left - right
    t_max = p.times_min[-1] if p.times_min else 1.0
    y_max = _nice_max(max([*p.plasma, *p.effect, *p.band_high, 1.0]) * 1.05)

    def x(t: float) -> float:
        return left + plot_w * t / t_max

    def y(c: float) -> float:
        return top + plot_h * (1 - min(c, y_max) / y_max)

    def path(ts: list[float], cs: list[float]) -> str:
        return " ".join(
            f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(c):.1f}"
            for i, (t, c) in enumerate(zip(ts, cs, strict=True))
        )

    fade_text = (
        f"more than {int(t_max)}" if p.unnoticeable_min is None else str(int(round(p.unnoticeable_min)))
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="prediction-chart" aria-labelledby="pred-title pred-desc">',
        '<title id="pred-title">Predicted ketamine concentration over the session</title>',
        f'<desc id="pred-desc">Effect-site concentration peaks at about {p.ce_max_ng_per_ml:.0f} ng/mL; '
        f"the effect is predicted to be no longer noticeable after about "
        f"{fade_text} min.</desc>",
    ]
    # Axes and grid.
    for i in range(5):
        c = y_max * i / 4
        yy = y(c)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e3e7ed"/>')
        out.append(
            f'<text x="{left - 6}" y="{yy + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#5b6676">{c:g}</text>'
        )
    tick = 30 if t_max <= 360 else 60
    t = 0.0
    while t <= t_max + 0.1:
        xx = x(t)
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top}" y2="{plot_bottom}" stroke="#f0f2f5"/>')
        out.append(
            f'<text x="{xx:.1f}" y="{plot_bottom + strip_h + 16}" font-size="11" text-anchor="middle" '
            f'fill="#5b6676">{int(t)}</text>'
        )
        t += tick
    out.append(
        f'<text x="{left + plot_w / 2}" y="{height - 6}" font-size="12" text-anchor="middle" fill="#1d2430">'
        "minutes from the start of dosing</text>"
    )
    out.append(
        f'<text x="12" y="{top + plot_h / 2}" font-size="12" text-anchor="middle" fill="#1d2430" '
        f'transform="rotate(-90 12 {top + plot_h / 2})">ng/mL</text>'
    )
    # Dosing period.
    if end_min > 0:
        out.append(
            f'<rect x="{x(0):.1f}" y="{top}" width="{x(end_min) - x(0):.1f}" height="{plot_h}" '
            'fill="#1f5fa8" fill-opacity="0.06"><title>dosing</title></rect>'
        )
    # Population band (5th-95th percentile of the effect site).
    if p.band_low and p.band_high:
        upper = " ".join(f"L{x(tt):.1f},{y(c):.1f}" for tt, c in zip(p.times_min, p.band_high, strict=True))
        lower = " ".join(
            f"L{x(tt):.1f},{y(c):.1f}"
            for tt, c in zip(reversed(p.times_min), reversed(p.band_low), strict=True)
        )
        out.append(
            f'<path d="M{x(p.times_min[0]):.1f},{y(p.band_high[0]):.1f} {upper} {lower} Z" fill="#d94f00" '
            'fill-opacity="0.15" stroke="none"><title>5th–95th percentile of similar patients</title></path>'
        )
    out.append(f'<path d="{path(p.times_min, p.plasma)}" fill="none" stroke="#1f5fa8" stroke-width="2"/>')
    out.append(f'<path d="{path(p.times_min, p.effect)}" fill="none" stroke="#d94f00" stroke-width="2.5"/>')
    # Zone strip.
    sy = plot_bottom + 2
    run_start = 0
    for i in range(1, len(p.zones) + 1):
        if i == len(p.zones) or p.zones[i] != p.zones[run_start]:
            z = p.zones[run_start]
            x0 = x(p.times_min[run_start])
            x1 = x(p.times_min[i - 1]) if i == len(p.zones) else x(p.times_min[i])
            out.append(
                f'<rect x="{x0:.1f}" y="{sy}" width="{max(x1 - x0, 0.5):.1f}" height="{strip_h}" '
                f'fill="{ZONE_COLOURS.get(z, "#ccc")}"><title>{ZONE_LABELS.get(z, z)}</title></rect>'
            )
            run_start = i
    if p.unnoticeable_min is not None:
        xu = x(p.unnoticeable_min)
        out.append(
            f'<line x1="{xu:.1f}" x2="{xu:.1f}" y1="{top}" y2="{plot_bottom + strip_h}" stroke="#1b7a3d" '
            'stroke-dasharray="5 4" stroke-width="2"/>'
        )
        out.append(
            f'<text x="{xu + 4:.1f}" y="{top + 14}" font-size="12" fill="#1b7a3d">not noticeable '
            f"≈ {int(round(p.unnoticeable_min))} min</text>"
        )
    out.append("</svg>")
    return "".join(out)
