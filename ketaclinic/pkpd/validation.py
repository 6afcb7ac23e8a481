"""The engine against measured values: every row of ``data/measurements.toml``, for every model it
applies to, with its tolerance, its role (calibration or validation) and whether it passes.

``ketaclinic pk validate`` prints the table, and ``docs/validation.md`` is generated from
:func:`markdown`. :func:`model_ranking` scores the racemic models on the independent IV rows;
the default racemic model is the best of them (a test keeps it so).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from ketaclinic.pkpd.patient import Patient
from ketaclinic.pkpd.pd import ANAESTHETIC_BOUND_NG_PER_ML
from ketaclinic.pkpd.population import simulate_population
from ketaclinic.pkpd.published import DEFAULT_MODEL, MODELS
from ketaclinic.pkpd.regimen import parse_regimen
from ketaclinic.pkpd.simulate import SimulationResult, simulate
from ketaclinic.pkpd.summary import time_above

#: The patient every row is predicted for.
ADULT = Patient(weight_kg=70.0, age_yr=40.0, sex="male", height_cm=175.0)
ROLES = ("calibration", "validation")
_REQUIRED = ("id", "what", "source", "unit", "regimen", "measure", "models", "role")


@dataclass(frozen=True)
class Measurement:
    """One measured value (a row of the data file)."""

    id: str
    what: str
    source: str
    unit: str
    regimen: str
    measure: str
    models: str
    role: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    factor: float | None = None
    at_min: float | None = None
    after_min: float = 0.0
    until_min: float | None = None
    reference: str | None = None
    note: str = ""

    def centre(self) -> float:
        if self.value is not None:
            return self.value
        if self.low is None or self.high is None:
            raise ValueError(f"measurements: {self.id}: needs a value or a range")
        return (self.low + self.high) / 2.0

    def measured_text(self) -> str:
        if self.low is not None and self.high is not None:
            point = f"{fmt(self.value)}, " if self.value is not None else ""
            return f"{point}{fmt(self.low)}-{fmt(self.high)} {self.unit}"
        return f"{fmt(self.value)} {self.unit}"

    def tolerance_text(self) -> str:
        if self.low is not None and self.high is not None:
            return "inside the range"
        return f"within x{self.factor:g}"

    def passes(self, predicted: float) -> bool:
        if not math.isfinite(predicted):
            return False
        if self.low is not None and self.high is not None:
            return self.low <= predicted <= self.high
        if self.value is None or self.factor is None:
            raise ValueError(f"measurements: {self.id}: needs a range, or a value and a factor")
        ratio = predicted / self.value if self.value else math.inf
        return ratio > 0 and max(ratio, 1.0 / ratio) <= self.factor

    def model_names(self) -> tuple[str, ...]:
        if self.models in ("racemic", "esketamine"):
            return tuple(name for name, m in MODELS.items() if m.drug == self.models)
        return (self.models,)


@dataclass(frozen=True)
class Comparison:
    """One measurement predicted by one model."""

    measurement: Measurement
    model: str
    predicted: float

    @property
    def passed(self) -> bool:
        return self.measurement.passes(self.predicted)

    @property
    def log_error(self) -> float:
        """ln(predicted / measured centre): the signed error on the log scale."""
        c = self.measurement.centre()
        if not (math.isfinite(self.predicted) and self.predicted > 0 and c > 0):
            return math.nan
        return math.log(self.predicted / c)

    def to_dict(self) -> dict[str, Any]:
        m = self.measurement
        return {
            "id": m.id,
            "what": m.what,
            "source": m.source,
            "role": m.role,
            "model": self.model,
            "regimen": m.regimen,
            "measure": m.measure,
            "unit": m.unit,
            "measured": {"value": m.value, "low": m.low, "high": m.high},
            "tolerance": m.tolerance_text(),
            "predicted": None if not math.isfinite(self.predicted) else self.predicted,
            "error_pct": None if math.isnan(self.log_error) else 100.0 * math.expm1(self.log_error),
            "passed": self.passed,
            "note": m.note,
        }


def fmt(x: float | None) -> str:
    """Three significant figures (no exponent), "-" for None or a non-finite value."""
    if x is None or not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    return f"{x:.{max(0, 2 - magnitude)}f}"


def parse(rows: Iterable[Mapping[str, Any]]) -> tuple[Measurement, ...]:
    """Read and check the rows of a measurements file.

    Raises
    ------
    ValueError
        For a row without a required field, an unknown measure, model or role, a duplicate id,
        or neither a range nor a value with a factor; the message names the row.
    """
    out: list[Measurement] = []
    seen: set[str] = set()
    for i, row in enumerate(rows, start=1):
        name = row.get("id", f"row {i}")
        missing = [k for k in _REQUIRED if k not in row]
        if missing:
            raise ValueError(f"measurements: {name}: missing {', '.join(missing)}")
        unknown = set(row) - set(Measurement.__dataclass_fields__)
        if unknown:
            raise ValueError(f"measurements: {name}: unknown field(s) {', '.join(sorted(unknown))}")
        m = Measurement(**row)
        if m.id in seen:
            raise ValueError(f"measurements: {name}: duplicate id")
        seen.add(m.id)
        if m.measure not in MEASURES:
            raise ValueError(
                f"measurements: {name}: unknown measure {m.measure!r}; one of {', '.join(MEASURES)}"
            )
        if m.role not in ROLES:
            raise ValueError(f"measurements: {name}: role must be calibration or validation")
        if m.models not in ("racemic", "esketamine") and m.models not in MODELS:
            raise ValueError(f"measurements: {name}: unknown models {m.models!r}")
        has_range = m.low is not None and m.high is not None
        if not has_range and (m.value is None or m.factor is None or m.factor < 1):
            raise ValueError(f"measurements: {name}: give low and high, or value and a factor >= 1")
        if m.measure == "plasma_at" and m.at_min is None:
            raise ValueError(f"measurements: {name}: plasma_at needs at_min")
        if m.measure == "bioavailability_pct" and not m.reference:
            raise ValueError(f"measurements: {name}: bioavailability_pct needs a reference regimen")
        out.append(m)
    return tuple(out)


@cache
def measurements() -> tuple[Measurement, ...]:
    """The engine's measurements file (``ketaclinic/pkpd/data/measurements.toml``)."""
    text = resources.files("ketaclinic.pkpd").joinpath("data/measurements.toml").read_text("utf-8")
    return parse(tomllib.loads(text)["row"])


# --- reading a prediction off the engine ---------------------------------------------------------


def _run(regimen: str, model: str, until_min: float, step_min: float = 0.1) -> SimulationResult:
    """Simulate on 0.01 min over the first 30 min, then `step_min` (AUC exact to well under 1%)."""
    fine = np.arange(0.0, min(30.0, until_min), 0.01)
    coarse = np.arange(fine[-1] + step_min, until_min + step_min / 2, step_min)
    return simulate(regimen, ADULT, np.concatenate([fine, coarse]), model=model)


def _auc_inf(res: SimulationResult) -> float:
    """AUC (ng h/mL) over the grid plus the log-linear tail of the last 20% of it."""
    t, c = res.times_min, res.plasma_ng_per_ml
    mask = t >= 0.8 * t[-1]
    k = -np.polyfit(t[mask], np.log(c[mask]), 1)[0]
    return float(res.summary.auc_ng_h_per_ml + c[-1] / k / 60.0)


def _half_life_h(m: Measurement, model: str) -> float:
    res = _run(m.regimen, model, 48 * 60.0, step_min=1.0)
    t, c = res.times_min, res.plasma_ng_per_ml
    mask = t >= 36 * 60.0
    return float(math.log(2.0) / -np.polyfit(t[mask], np.log(c[mask]), 1)[0] / 60.0)


def _metabolite_half_life_h(m: Measurement, model: str) -> float:
    res = _run(m.regimen, model, 48 * 60.0, step_min=1.0)
    if res.metabolite_ng_per_ml is None:
        return math.nan
    t, c = res.times_min, res.metabolite_ng_per_ml
    mask = t >= 24 * 60.0
    return float(math.log(2.0) / -np.polyfit(t[mask], np.log(c[mask]), 1)[0] / 60.0)


def _bolus_mg(regimen: str) -> float:
    return sum(e.amount_mg(ADULT.weight_kg) for e in parse_regimen(regimen).events)


def _clearance(m: Measurement, model: str) -> float:
    res = _run(m.regimen, model, 96 * 60.0, step_min=1.0)
    return _bolus_mg(m.regimen) * 1000.0 / _auc_inf(res)  # mg / (ng h/mL) = 1000 L/h


def _vss(m: Measurement, model: str) -> float:
    res = _run(m.regimen, model, 96 * 60.0, step_min=1.0)
    t, c = res.times_min, res.plasma_ng_per_ml
    mask = t >= 72 * 60.0
    k = -np.polyfit(t[mask], np.log(c[mask]), 1)[0]
    auc = np.trapezoid(c, t) + c[-1] / k
    aumc = np.trapezoid(c * t, t) + c[-1] * t[-1] / k + c[-1] / k**2
    return float(_bolus_mg(m.regimen) * 1e6 / auc * aumc / auc / 1000.0)


def _until(m: Measurement) -> float:
    return float(m.until_min if m.until_min is not None else (m.at_min or 0.0) + 1.0)


def _bioavailability(m: Measurement, model: str) -> float:
    if m.reference is None:
        raise ValueError(f"measurements: {m.id}: bioavailability_pct needs a reference regimen")
    test = _auc_inf(_run(m.regimen, model, _until(m), step_min=1.0))
    ref = _auc_inf(_run(m.reference, model, _until(m), step_min=1.0))
    return 100.0 * test / ref


def _dissociating(m: Measurement, model: str) -> float:
    pop = simulate_population(
        m.regimen, ADULT, np.arange(0.0, _until(m) + 1.0, 1.0), n=4000, seed=7, model=model
    )
    return 100.0 * (pop.peak_zone_share["dissociative"] + pop.peak_zone_share["anaesthetic"])


def _anaesthetic_min(m: Measurement, model: str) -> float:
    res = _run(m.regimen, model, _until(m))
    return time_above(res.times_min, res.effect_site_ng_per_ml, ANAESTHETIC_BOUND_NG_PER_ML)


def _unnoticeable_h(m: Measurement, model: str) -> float:
    value = _run(m.regimen, model, _until(m)).summary.time_effect_unnoticeable_min
    return math.nan if value is None else (value - m.after_min) / 60.0


def _plasma_at(m: Measurement, model: str) -> float:
    res = _run(m.regimen, model, _until(m))
    return float(np.interp(float(m.at_min or 0.0), res.times_min, res.plasma_ng_per_ml))


MEASURES: Mapping[str, Callable[[Measurement, str], float]] = {
    "plasma_at": _plasma_at,
    "cmax": lambda m, model: _run(m.regimen, model, _until(m)).summary.cmax_ng_per_ml,
    "tmax": lambda m, model: _run(m.regimen, model, _until(m)).summary.tmax_min - m.after_min,
    "auc": lambda m, model: _auc_inf(_run(m.regimen, model, _until(m), step_min=1.0)),
    "effect_peak_time": lambda m, model: _run(m.regimen, model, _until(m)).summary.peak_effect_time_min,
    "unnoticeable_h": _unnoticeable_h,
    "half_life_h": _half_life_h,
    "metabolite_half_life_h": _metabolite_half_life_h,
    "clearance_l_per_h": _clearance,
    "vss_l": _vss,
    "bioavailability_pct": _bioavailability,
    "dissociating_pct": _dissociating,
    "anaesthetic_min": _anaesthetic_min,
}


def compare(
    rows: Iterable[Measurement] | None = None, models: Iterable[str] | None = None
) -> list[Comparison]:
    """Predict every row with every model it applies to (or only `models`)."""
    wanted = None if models is None else set(models)
    out = []
    for m in measurements() if rows is None else rows:
        for model in m.model_names():
            if wanted is None or model in wanted:
                out.append(Comparison(m, model, float(MEASURES[m.measure](m, model))))
    return out


def _is_iv(m: Measurement) -> bool:
    return all(e.route == "iv" for e in parse_regimen(m.regimen).events)


def model_ranking(comparisons: Iterable[Comparison]) -> list[dict[str, Any]]:
    """Racemic models scored on the independent (validation) IV rows, best first.

    Each entry: ``model``, ``n`` rows, ``mean_abs_log_error`` (the score), ``bias`` (mean signed
    log error, as a factor), ``passed``.
    """
    by_model: dict[str, list[Comparison]] = {}
    for c in comparisons:
        m = c.measurement
        if m.role == "validation" and m.models == "racemic" and _is_iv(m) and math.isfinite(c.log_error):
            by_model.setdefault(c.model, []).append(c)
    out = []
    for model, rows in by_model.items():
        errs = np.array([c.log_error for c in rows])
        out.append(
            {
                "model": model,
                "n": len(rows),
                "mean_abs_log_error": float(np.mean(np.abs(errs))),
                "bias_factor": float(math.exp(np.mean(errs))),
                "passed": sum(c.passed for c in rows),
            }
        )
    return sorted(out, key=lambda r: r["mean_abs_log_error"])


def table(comparisons: Iterable[Comparison]) -> str:
    """Plain-text table for the terminal."""
    lines = [f"{'role':11s} {'id':30s} {'model':17s} {'measured':>22s} {'predicted':>10s} {'error':>7s}  ok"]
    for c in comparisons:
        m = c.measurement
        err = "-" if math.isnan(c.log_error) else f"{100.0 * math.expm1(c.log_error):+.0f}%"
        lines.append(
            f"{m.role:11s} {m.id:30s} {c.model:17s} {m.measured_text():>22s} {fmt(c.predicted):>10s} "
            f"{err:>7s}  {'yes' if c.passed else 'NO'}"
        )
    return "\n".join(lines)


def _md_row(c: Comparison) -> str:
    m = c.measurement
    err = "-" if math.isnan(c.log_error) else f"{100.0 * math.expm1(c.log_error):+.0f}%"
    default = " (default)" if DEFAULT_MODEL.get(MODELS[c.model].drug) == c.model else ""
    note = f" ({m.note})" if m.note else ""
    return (
        f"| {m.what} ({m.source}) | {m.measured_text()} | {c.model}{default} | `{m.regimen}` | "
        f"{m.measure}{note} | {fmt(c.predicted)} {m.unit} | {err} | {m.tolerance_text()} | "
        f"{'pass' if c.passed else '**FAIL**'} |"
    )


def markdown(comparisons: list[Comparison], version: str) -> str:
    """The body of ``docs/validation.md``."""
    head = (
        "| measured | value | model | regimen | prediction read as | predicted | error | tolerance | result |"
    )
    rule = "|---|---|---|---|---|---|---|---|---|"
    out = [
        "# Validation: the engine against measured values",
        "",
        "Generated by `ketaclinic pk validate --markdown` from `ketaclinic/pkpd/data/measurements.toml` "
        f"(do not edit by hand; a test checks that this file is up to date). Engine version {version}.",
        "",
        "Every row is predicted for a 70 kg, 40-year-old man by every registered model it applies to, "
        "with the model's typical parameters. A row passes when the prediction is inside the measured "
        "range, or within the stated factor of a point value. *Error* is against the point value or "
        "the middle of the range. Failures are shown as they are.",
        "",
        "**Calibration** rows are the ones the engine's values were fitted or chosen to match "
        "(`scripts/fit_pkpd.py` fits them; `published.py` and `pd.py` mark such values `fitted` or "
        "`assumed`): they show how well the fit holds, and are not evidence. **Validation** rows are "
        "independent: nothing was fitted to them.",
        "",
    ]
    for role, title in (
        ("calibration", "Calibration rows (fitted to)"),
        ("validation", "Validation rows (independent)"),
    ):
        rows = [c for c in comparisons if c.measurement.role == role]
        passed = sum(c.passed for c in rows)
        out += [f"## {title}", "", f"{passed} of {len(rows)} comparisons pass.", "", head, rule]
        out += [_md_row(c) for c in rows]
        out.append("")
    ranking = model_ranking(comparisons)
    out += [
        "## Which racemic model is the default",
        "",
        "Each racemic model scored on the independent IV rows above (their mean absolute error on "
        "the log scale; bias as a factor, above 1 = predicts too high). The default is the best score "
        "(a test keeps it so).",
        "",
        "| model | rows | mean abs log error | bias | pass |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| {r['model']}{' (default)' if r['model'] == DEFAULT_MODEL['racemic'] else ''} | {r['n']} | "
        f"{r['mean_abs_log_error']:.2f} | x{r['bias_factor']:.2f} | {r['passed']} of {r['n']} |"
        for r in ranking
    ]
    out.append("")
    return "\n".join(out)
