"""``ketaclinic pk simulate``: one regimen for one patient (and a population band)."""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import numpy as np

from ketaclinic.pkpd.cli.args import EXIT_OK
from ketaclinic.pkpd.cli.common import (
    Streams,
    _check_model,
    _check_plot_path,
    _import_engine,
    _make_patient,
    _parse_regimen,
    _run,
    _times,
    _write_warnings,
    _zone_labels,
    patient_dict,
)
from ketaclinic.pkpd.cli.output import FloatArray, _dump_json, _progress_for, display_indices, render_table
from ketaclinic.pkpd.text import fmt_num, fmt_time_min
from ketaclinic.pkpd.verdict import PERCENTILES, ZONE_SHORT


def cmd_simulate(args: argparse.Namespace, s: Streams) -> int:
    engine = _import_engine()
    _check_plot_path(args.plot)
    model = _check_model(engine, args.model)
    patient = _make_patient(engine, args)
    regimen = _parse_regimen(engine, args.regimen)
    times = _times(args)
    result = _run(engine, engine.simulate, regimen, patient, times, model=model)
    pop = None
    if args.population:
        progress = _progress_for(args.population, s.err, "population")
        pop = _run(
            engine,
            engine.simulate_population,
            regimen,
            patient,
            times,
            n=args.population,
            seed=args.seed,
            model=model,
            progress=progress,
        )
    warnings = list(result.warnings) + ([] if pop is None else list(pop.warnings))
    if args.format == "json":
        _dump_json(simulation_json(args, result, pop), s.out)
    elif args.format == "csv":
        write_csv(result, pop, s.out)
        s.out.flush()
        _write_warnings(warnings, s.err, verbose=args.verbose)
    else:
        s.out.write(simulation_table(args, result, pop))
        s.out.flush()
        _write_warnings(warnings, s.err, verbose=args.verbose)
    if args.plot:
        from ketaclinic.pkpd import plots

        title = f"{args.regimen} ({args.weight_kg:g} kg)"
        plots.plot_simulation(result, args.plot, population=pop, title=title)
        s.err.write(f"wrote {args.plot}\n")
    return EXIT_OK


def simulation_json(args: argparse.Namespace, result: Any, pop: Any | None) -> dict[str, Any]:
    """The engine's result as a dict, with the inputs, and the population's percentile series."""
    data: dict[str, Any] = {"regimen": args.regimen, "patient": patient_dict(args)}
    data.update(result.to_dict())
    if pop is not None:
        data["warnings"] = list(dict.fromkeys([*result.warnings, *pop.warnings]))
        data["citations"] = list(dict.fromkeys([*result.citations, *pop.citations]))
        pop_data = pop.to_dict()
        pop_data.pop("times_min", None)  # same grid as the top level
        data["population"] = pop_data
    return data


def _series(result: Any) -> list[tuple[str, FloatArray]]:
    cols = [
        ("plasma_ng_per_ml", np.asarray(result.plasma_ng_per_ml, dtype=float)),
        ("effect_site_ng_per_ml", np.asarray(result.effect_site_ng_per_ml, dtype=float)),
    ]
    for key, values in result.effects.items():
        cols.append((str(key), np.asarray(values, dtype=float)))
    return cols


def _pop_series(pop: Any) -> list[tuple[str, FloatArray]]:
    cols = []
    for key, by_pct in pop.percentiles.items():
        for pct in PERCENTILES:
            if pct in by_pct:
                cols.append((f"{key}_p{pct}", np.asarray(by_pct[pct], dtype=float)))
    return cols


def write_csv(result: Any, pop: Any | None, out: TextIO) -> None:
    cols = [("time_min", np.asarray(result.times_min, dtype=float)), *_series(result)]
    if pop is not None:
        cols += _pop_series(pop)
    zones = list(result.zones)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in cols] + ["zone"])
    for i in range(cols[0][1].size):
        writer.writerow([f"{c[i]:.6g}" for _, c in cols] + [zones[i]])


def simulation_table(args: argparse.Namespace, result: Any, pop: Any | None) -> str:
    engine = _import_engine()
    labels = _zone_labels(engine)
    times = np.asarray(result.times_min, dtype=float)
    idx = display_indices(times)
    plasma = np.asarray(result.plasma_ng_per_ml, dtype=float)
    effect_site = np.asarray(result.effect_site_ng_per_ml, dtype=float)
    high = np.asarray(result.effects.get("high_pct_max", np.full(times.size, np.nan)), dtype=float)
    perc = np.asarray(result.effects.get("perceptual_pct_max", np.full(times.size, np.nan)), dtype=float)
    headers = ["time", "plasma ng/mL", "effect site ng/mL", "high %max", "perceptual %max"]
    band = None
    if pop is not None and "plasma_ng_per_ml" in pop.percentiles:
        band = pop.percentiles["plasma_ng_per_ml"]
        headers.append("plasma 5-95% ng/mL")
    headers.append("zone")
    rows = []
    for i in idx:
        row = [
            fmt_time_min(float(times[i])) if times[i] > 0 else "0",
            fmt_num(float(plasma[i])),
            fmt_num(float(effect_site[i])),
            fmt_num(float(high[i]), 2),
            fmt_num(float(perc[i]), 2),
        ]
        if band is not None:
            row.append(f"{fmt_num(float(band[5][i]))}-{fmt_num(float(band[95][i]))}")
        row.append(ZONE_SHORT.get(str(result.zones[i]), str(result.zones[i])))
        rows.append(row)
    parts = [
        f"Regimen: {args.regimen}",
        f"Patient: {args.weight_kg:g} kg, {args.age:g} years, {args.sex}, {args.height_cm:g} cm",
        f"Model:   {result.model}",
        "",
        render_table(headers, rows, left=(0, len(headers) - 1)),
        "",
        "Summary",
        render_table(["", "value"], summary_rows(result.summary, labels, pop), left=(0, 1)),
    ]
    citations = list(dict.fromkeys(result.citations))
    if citations:
        parts += ["", "Sources"] + [f"  - {c}" for c in citations]
    return "\n".join(parts) + "\n"


def _pop_range(pop: Any | None, key: str, fmt: Callable[[Any], str] = fmt_num) -> str:
    """`` (5-95%: a-b)`` from the population's per-patient percentiles, or ``""``."""
    if pop is None:
        return ""
    stats = pop.summary_percentiles.get(key)
    if stats is None:
        return ""
    return f" (5-95%: {_pct_text(stats.get(5), fmt)} to {_pct_text(stats.get(95), fmt)})"


def _pct_text(value: Any, fmt: Callable[[Any], str]) -> str:
    return "beyond the end" if value is None else fmt(value)


def summary_rows(summary: Any, labels: Mapping[str, str], pop: Any | None) -> list[list[str]]:
    """Rows of the summary block of ``simulate``'s table."""
    unnoticeable = summary.time_effect_unnoticeable_min
    rows = [
        [
            "peak plasma (Cmax)",
            f"{fmt_num(summary.cmax_ng_per_ml)} ng/mL" + _pop_range(pop, "cmax_ng_per_ml"),
        ],
        ["time of peak (Tmax)", fmt_time_min(summary.tmax_min) + _pop_range(pop, "tmax_min", fmt_time_min)],
        ["exposure (AUC)", f"{fmt_num(summary.auc_ng_h_per_ml)} ng*h/mL"],
        [
            "peak effect-site conc.",
            f"{fmt_num(summary.ce_max_ng_per_ml)} ng/mL" + _pop_range(pop, "ce_max_ng_per_ml"),
        ],
        [
            "peak drug high",
            f"{fmt_num(summary.peak_effect_pct_max, 2)}% of max at "
            f"{fmt_time_min(summary.peak_effect_time_min)}",
        ],
        ["peak zone", labels.get(summary.peak_zone, summary.peak_zone)],
        [
            "not noticeable from",
            ("still noticeable at the end" if unnoticeable is None else fmt_time_min(unnoticeable))
            + _pop_range(pop, "time_effect_unnoticeable_min", fmt_time_min),
        ],
    ]
    for threshold, minutes in summary.time_above_min.items():
        rows.append([f"time above {float(threshold):g} ng/mL", fmt_time_min(minutes)])
    return rows
