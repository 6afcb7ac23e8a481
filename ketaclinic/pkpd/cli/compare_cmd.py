"""``ketaclinic pk compare``: several regimens side by side, each with its verdict."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ketaclinic.pkpd.cli.args import EXIT_OK
from ketaclinic.pkpd.cli.common import (
    Streams,
    _check_plot_path,
    _clip,
    _import_engine,
    _make_patient,
    _parse_regimen,
    _run,
    _times,
    _write_warnings,
    patient_dict,
)
from ketaclinic.pkpd.cli.output import _dump_json, _progress_for, render_table
from ketaclinic.pkpd.cli.simulate_cmd import _pct_text
from ketaclinic.pkpd.text import fmt_num, fmt_time_min
from ketaclinic.pkpd.verdict import ZONE_SHORT, comparison_item


def cmd_compare(args: argparse.Namespace, s: Streams) -> int:
    engine = _import_engine()
    _check_plot_path(args.plot)
    patient = _make_patient(engine, args)
    regimens = [_parse_regimen(engine, text) for text in args.regimens]
    times = _times(args)
    runs = []
    for text, regimen in zip(args.regimens, regimens, strict=True):
        result = _run(engine, engine.simulate, regimen, patient, times)
        progress = _progress_for(args.population, s.err, _clip(text, 28))
        pop = _run(
            engine,
            engine.simulate_population,
            regimen,
            patient,
            times,
            n=args.population,
            seed=args.seed,
            progress=progress,
        )
        runs.append((text, regimen, result, pop))
    items = [comparison_item(text, regimen, result, pop) for text, regimen, result, pop in runs]
    if args.format == "json":
        data = {
            "patient": patient_dict(args),
            "population_n": args.population,
            "seed": args.seed,
            "regimens": items,
        }
        _dump_json(data, s.out)
    else:
        s.out.write(comparison_table(args, items))  # the answer first, the assumptions after it
        s.out.flush()
        for item in items:
            _write_warnings(item["warnings"], s.err, prefix=f"{item['regimen']}: ", verbose=args.verbose)
    if args.plot:
        from ketaclinic.pkpd import plots

        plots.plot_comparison(
            [(text, result, pop) for text, _, result, pop in runs],
            args.plot,
            title=f"Does it get you high? Predicted for a {args.weight_kg:g} kg adult",
        )
        s.err.write(f"wrote {args.plot}\n")
    return EXIT_OK


def _zone_range(zone: Mapping[str, str]) -> str:
    lo, hi = ZONE_SHORT[zone["p5"]], ZONE_SHORT[zone["p95"]]
    return lo if lo == hi else f"{lo} to {hi}"


def comparison_table(args: argparse.Namespace, items: Sequence[Mapping[str, Any]]) -> str:
    """Side-by-side table of the regimens, then one verdict per regimen and the sources."""
    from ketaclinic.pkpd.pd import ZONES

    labels = {z.key: z.label for z in ZONES}

    def rng(d: Mapping[str, Any], fmt: Callable[[Any], str] = fmt_num) -> str:
        typical = "still above at end" if d["typical"] is None else fmt(d["typical"])
        return f"{typical} ({_pct_text(d['p5'], fmt)} to {_pct_text(d['p95'], fmt)})"

    headers = ["", *(_clip(it["regimen"], 34) for it in items)]
    metric_rows: list[tuple[str, Callable[[Mapping[str, Any]], str]]] = [
        ("model", lambda it: str(it["model"])),
        ("peak plasma, ng/mL", lambda it: rng(it["peak_plasma_ng_per_ml"])),
        ("time of peak plasma", lambda it: rng(it["peak_plasma_time_min"], fmt_time_min)),
        (
            "peak drug high, % of max",
            lambda it: (
                "above the studied range"
                if it.get("peak_high_above_studied_range")
                else rng(it["peak_high_pct_max"], lambda v: fmt_num(v, 2))
            ),
        ),
        ("simulated people dissociating", lambda it: f"{100 * it['dissociating_share']:.0f}%"),
        ("peak zone (typical)", lambda it: ZONE_SHORT[it["peak_zone"]["typical"]]),
        (
            "peak zone (5th-95th)",
            lambda it: _zone_range(it["peak_zone"]),
        ),
        ("not noticeable after", lambda it: rng(it["unnoticeable_after_min"], fmt_time_min)),
    ]
    rows = [[label, *(fn(it) for it in items)] for label, fn in metric_rows]
    wrap = textwrap.TextWrapper(width=100, subsequent_indent="   ")
    parts = [
        f"Patient: {args.weight_kg:g} kg, {args.age:g} years, {args.sex}. "
        f"Typical patient, with the 5th to 95th percentile of {args.population} simulated "
        f"patients (seed {args.seed}) in brackets; times from the first dose.",
        "",
        render_table(headers, rows, left=tuple(range(len(headers)))),
        "",
        "Zones (racemic-equivalent brain concentration): "
        + "; ".join(f"{ZONE_SHORT[k]} = {labels[k]}" for k in labels),
        "",
        "Does it get you high?",
    ]
    sources: dict[str, int] = {}
    for it in items:
        refs = [sources.setdefault(c, len(sources) + 1) for c in it["citations"]]
        parts.append(wrap.fill(f"-  {it['verdict']} Sources: " + ", ".join(f"[{r}]" for r in refs) + "."))
    parts += ["", "Sources"]
    parts += [wrap.fill(f"[{n}] {c}") for c, n in sources.items()]
    parts += [
        "",
        "Decision support from published population models, not a prediction for "
        "you in particular; a clinician decides.",
    ]
    return "\n".join(parts) + "\n"
