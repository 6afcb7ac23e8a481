"""Command line of the PK/PD engine: ``ketaclinic pk models|simulate|compare``.

The top-level ``ketaclinic`` script hands ``ketaclinic pk ARGS...`` to :func:`main`; the module also
runs on its own as ``python -m ketaclinic.pkpd.cli``. Results go to stdout (table, JSON or CSV);
warnings, progress and notes go to stderr, so stdout can be piped. A bad regimen, duration, model
name or patient value gets a message on stderr naming what was wrong and exit status 2, with
nothing on stdout.

Examples
--------
>>> main(["simulate", "--weight-kg", "70", "--regimen", "iv 0.5 mg/kg over 40 mni"])
2
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from ketaclinic.pkpd.units import TIME_UNITS_MIN

FloatArray = NDArray[np.float64]

PROG = "ketaclinic pk"
EXIT_OK = 0
EXIT_USAGE = 2
# Beyond this many time points a run is almost certainly a typo (e.g. --step 1s --until 30 days).
MAX_TIME_POINTS = 2_000_000
# Populations at least this large show a progress bar when stderr is a terminal.
PROGRESS_MIN_N = 200
PERCENTILES = (5, 50, 95)

# Durations on the command line: every spelling the regimen parser accepts, plus days.
_DURATION_UNITS_MIN = {**TIME_UNITS_MIN, "d": 1440.0, "day": 1440.0, "days": 1440.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]+)\s*$")


class UsageError(Exception):
    """A user input the CLI cannot act on; the message is shown as is, exit status 2."""


def parse_duration_min(text: str) -> float:
    """Read a duration such as ``6h``, ``90 min`` or ``30s`` and return it in minutes.

    Examples
    --------
    >>> parse_duration_min("6h"), parse_duration_min("90 min"), parse_duration_min("30s")
    (360.0, 90.0, 0.5)
    >>> parse_duration_min("6 parsecs")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: could not read '6 parsecs': unknown unit 'parsecs'; expected a number followed...
    """
    match = _DURATION_RE.match(text)
    expected = "expected a number followed by s, min, h or d (for example 6h or 90min)"
    if match is None:
        raise ValueError(f"could not read {text!r}: {expected}")
    number, unit = match.groups()
    factor = _DURATION_UNITS_MIN.get(unit.lower())
    if factor is None:
        raise ValueError(f"could not read {text!r}: unknown unit {unit!r}; {expected}")
    return float(number) * factor


def _duration_arg(text: str) -> float:
    try:
        return parse_duration_min(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


# ---------------------------------------------------------------------------------------------
# Progress bar (no dependency): redraws one line on stderr with \r
# ---------------------------------------------------------------------------------------------


class ProgressBar:
    """Callable ``(done, total)`` that draws ``label [#####.....]  45%  450/1000`` on a stream."""

    def __init__(self, stream: TextIO, label: str = "population", width: int = 30) -> None:
        self.stream = stream
        self.label = label
        self.width = width
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        total = max(int(total), 1)
        done = min(max(int(done), 0), total)
        percent = done * 100 // total
        if percent == self._last and done < total:
            return
        self._last = percent
        filled = self.width * done // total
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {percent:3d}%  {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _progress_for(n: int, stream: TextIO, label: str) -> Callable[[int, int], None] | None:
    isatty = getattr(stream, "isatty", None)
    if n >= PROGRESS_MIN_N and isatty is not None and isatty():
        return ProgressBar(stream, label)
    return None


# ---------------------------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Convert engine output (NumPy arrays and scalars, NaN, tuples, int keys) to JSON values.

    Non-finite numbers become ``None`` (JSON has no NaN).

    >>> jsonable({5: np.array([1.0, np.nan]), "t": (np.float64(2.5),)})
    {'5': [1.0, None], 't': [2.5]}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    return str(value)


def _dump_json(data: Any, out: TextIO) -> None:
    json.dump(jsonable(data), out, indent=2, allow_nan=False)
    out.write("\n")


# ---------------------------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------------------------


def fmt_num(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant figures, no scientific notation for common sizes.

    >>> fmt_num(240.33), fmt_num(0.01234), fmt_num(1234.4), fmt_num(float("nan"))
    ('240', '0.0123', '1234', '-')
    """
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) < 1e-9:  # round-off around zero, e.g. -6e-13 before any drug arrives
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:.{decimals}f}"


def fmt_time_min(minutes: float | None) -> str:
    """``95`` -> ``1 h 35 min``; ``40`` -> ``40 min``; ``0.5`` -> ``30 s``.

    >>> fmt_time_min(95), fmt_time_min(40), fmt_time_min(0.5), fmt_time_min(120)
    ('1 h 35 min', '40 min', '30 s', '2 h')
    """
    if minutes is None or not math.isfinite(minutes):
        return "-"
    if minutes < 1:
        return f"{round(minutes * 60)} s"
    total = round(minutes)
    if total < 60:
        return f"{total} min"
    hours, rest = divmod(total, 60)
    return f"{hours} h" if rest == 0 else f"{hours} h {rest} min"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (0,)) -> str:
    """Plain-text table with a header rule; columns right-aligned except those in `left`.

    >>> print(render_table(["t", "conc"], [["0", "1.5"], ["10", "12"]]))
    t   conc
    --  ----
    0    1.5
    10    12
    """
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def display_indices(times_min: FloatArray, max_rows: int = 30) -> NDArray[np.intp]:
    """Indices of the rows to show: a round display step giving at most ``max_rows`` rows.

    >>> display_indices(np.arange(0.0, 361.0)).size <= 30
    True
    >>> display_indices(np.arange(0.0, 361.0))[:3].tolist()
    [0, 15, 30]
    """
    if times_min.size <= max_rows:
        return np.arange(times_min.size)
    span = float(times_min[-1] - times_min[0])
    steps = [1, 2, 5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 720, 1440, 2880, 10080]
    step = next((s for s in steps if span / s <= max_rows - 1), steps[-1])
    wanted = np.arange(times_min[0], times_min[-1] + 1e-9, step)
    idx = np.searchsorted(times_min, wanted - 1e-9)
    idx = idx[idx < times_min.size]
    return np.unique(idx)


# ---------------------------------------------------------------------------------------------
# Argument parser
# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Ketamine and esketamine PK/PD: simulate a regimen for a patient, compare "
        "regimens, list the published models. Decision support, not a medical device.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    models = sub.add_parser("models", help="list the registered PK models, their sources and ranges")
    models.add_argument("--format", choices=("table", "json"), default="table")

    sim = sub.add_parser(
        "simulate",
        help="concentration and effect over time for one patient (and a population)",
        description="Simulate a regimen for one patient: plasma and effect-site concentration, "
        "effect (percent of maximum rating) and zone over time, with a summary.",
    )
    sim.add_argument(
        "--model",
        help="model name (see `ketaclinic pk models`); default: the engine's choice for the route",
    )
    _patient_args(sim)
    sim.add_argument("--regimen", required=True, help='for example "iv 0.5 mg/kg over 40 min"')
    sim.add_argument(
        "--until",
        type=_duration_arg,
        default=360.0,
        metavar="DURATION",
        help="end of the simulated time, e.g. 6h (default), 90min",
    )
    sim.add_argument(
        "--step",
        type=_duration_arg,
        default=1.0,
        metavar="DURATION",
        help="time between points, e.g. 1min (default), 10s",
    )
    sim.add_argument(
        "--population",
        type=_positive_int,
        metavar="N",
        help="also simulate N patients with inter-individual variability",
    )
    sim.add_argument("--seed", type=int, default=1, help="random seed of the population (1)")
    sim.add_argument("--format", choices=("table", "json", "csv"), default="table")
    sim.add_argument("--plot", metavar="FILE", help="write a chart to FILE.png or FILE.svg")

    cmp_ = sub.add_parser(
        "compare",
        help='side by side: "does this regimen get you high, and for how long?"',
        description="Compare regimens for one patient: peak plasma concentration, peak effect, "
        "peak zone and the time until the effect is no longer noticeable, each with the "
        "5-95%% range over a simulated population, and a plain-language verdict with sources.",
    )
    _patient_args(cmp_)
    cmp_.add_argument("regimens", nargs="+", metavar="REGIMEN", help="regimen text, quoted")
    cmp_.add_argument(
        "--until",
        type=_duration_arg,
        default=480.0,
        metavar="DURATION",
        help="end of the simulated time (default 8h)",
    )
    cmp_.add_argument(
        "--step",
        type=_duration_arg,
        default=1.0,
        metavar="DURATION",
        help="time between points (default 1min)",
    )
    cmp_.add_argument(
        "--population",
        type=_positive_int,
        default=500,
        metavar="N",
        help="patients per regimen for the 5-95%% ranges (default 500)",
    )
    cmp_.add_argument("--seed", type=int, default=1, help="random seed of the population (1)")
    cmp_.add_argument("--format", choices=("table", "json"), default="table")
    cmp_.add_argument("--plot", metavar="FILE", help="write a chart to FILE.png or FILE.svg")
    return parser


def _patient_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weight-kg", type=_number, required=True, help="body weight in kg")
    p.add_argument("--age", type=_number, default=40.0, metavar="YEARS", help="age in years (40)")
    p.add_argument("--sex", choices=("female", "male"), default="female", help="(female)")
    p.add_argument("--height-cm", type=_number, default=170.0, metavar="CM", help="(170)")


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Streams:
    out: TextIO
    err: TextIO


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ketaclinic pk`` with ``argv`` (without the program name); return the exit status."""
    streams = Streams(sys.stdout, sys.stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.command == "models":
            return cmd_models(args, streams)
        if args.command == "simulate":
            return cmd_simulate(args, streams)
        return cmd_compare(args, streams)
    except UsageError as exc:
        streams.err.write(f"{PROG} {args.command}: error: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `| head`: not an error of ours
        return EXIT_OK


def _import_engine() -> Any:
    import ketaclinic.pkpd as engine

    return engine


def _model_names(engine: Any) -> list[str]:
    return sorted(engine.MODELS)


def _check_model(engine: Any, name: str | None) -> str | None:
    if name is None:
        return None
    names = _model_names(engine)
    if name in names:
        return name
    lowered = {n.lower(): n for n in names}
    if name.lower() in lowered:
        return lowered[name.lower()]
    raise UsageError(f"unknown model {name!r}; valid models: {', '.join(names)}")


def _check_plot_path(path: str | None) -> None:
    if path is None:
        return
    if not path.lower().endswith((".png", ".svg")):
        raise UsageError(f"--plot {path!r}: the file name must end in .png or .svg")


def _make_patient(engine: Any, args: argparse.Namespace) -> Any:
    try:
        return engine.Patient(
            weight_kg=args.weight_kg, age_yr=args.age, sex=args.sex, height_cm=args.height_cm
        )
    except ValueError as exc:
        raise UsageError(f"patient: {exc}") from None


def _parse_regimen(engine: Any, text: str) -> Any:
    try:
        return engine.parse_regimen(text)
    except engine.RegimenError as exc:
        raise UsageError(describe_regimen_error(text, exc)) from None


def describe_regimen_error(text: str, exc: Exception) -> str:
    """The parser's message with the regimen text and a caret under the failing word."""
    message = getattr(exc, "message", None) or str(exc)
    word = getattr(exc, "word", None)
    position = getattr(exc, "position", None)
    lines = [f"could not read the regimen {text!r}: {message}"]
    if word and str(word) not in message:
        lines[0] += f" (at {str(word)!r})"
    if isinstance(position, int) and 0 <= position <= len(text):
        width = max(1, len(str(word))) if word else 1
        lines.append(f"    {text}")
        lines.append("    " + " " * position + "^" * width)
    return "\n".join(lines)


def _times(args: argparse.Namespace) -> FloatArray:
    until, step = float(args.until), float(args.step)
    if step <= 0:
        raise UsageError("--step must be longer than zero")
    if until <= 0:
        raise UsageError("--until must be longer than zero")
    n = math.floor(until / step + 1e-9) + 1
    if n > MAX_TIME_POINTS:
        raise UsageError(
            f"--until {fmt_time_min(until)} at --step {fmt_time_min(step)} gives {n:,} time "
            f"points; the limit is {MAX_TIME_POINTS:,}: use a longer --step"
        )
    return np.arange(n, dtype=np.float64) * step


def _run(engine: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an engine function, turning the engine's input errors into usage errors."""
    try:
        return fn(*args, **kwargs)
    except engine.RegimenError as exc:
        raise UsageError(str(exc)) from None
    except (ValueError, KeyError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None


def _write_warnings(warnings: Sequence[str], err: TextIO, prefix: str = "") -> None:
    for w in dict.fromkeys(warnings):  # keep order, drop repeats
        err.write(f"warning: {prefix}{w}\n")


# ---- models ---------------------------------------------------------------------------------


def model_rows(engine: Any) -> list[dict[str, Any]]:
    """One plain dict per registered model, for the table and for JSON."""
    return [model_to_dict(engine.MODELS[name]) for name in engine.MODELS]


def _param_dict(p: Any) -> dict[str, Any]:
    return {"value": p.value, "unit": p.unit, "status": p.status, "source": p.source}


def model_to_dict(m: Any) -> dict[str, Any]:
    """A JSON-ready view of a model record: citation, population, ranges, values and status."""
    routes: dict[str, Any] = {}
    for route, absorption in m.routes.items():
        if absorption is None:
            routes[route] = None
        else:
            routes[route] = {
                "bioavailability": _param_dict(absorption.bioavailability),
                "ka_per_min": _param_dict(absorption.ka_per_min),
            }
    return {
        "name": m.name,
        "title": m.title,
        "drug": m.drug,
        "citation": m.citation,
        "reference_id": m.reference_id,
        "population": m.population,
        "sampling_site": m.sampling_site,
        "age_range_yr": list(m.age_range_yr),
        "weight_range_kg": list(m.weight_range_kg),
        "range_status": m.range_status,
        "structure": m.structure,
        "n_compartments": m.n_compartments,
        "covariates": m.covariates,
        "params": {k: _param_dict(p) for k, p in m.params.items()},
        "ke0_per_min": _param_dict(m.ke0_per_min),
        "iiv_cv": {k: _param_dict(p) for k, p in m.iiv_cv.items()},
        "routes": routes,
        "assumed": list(m.assumed()),
        "notes": list(m.notes),
    }


def cmd_models(args: argparse.Namespace, s: Streams) -> int:
    engine = _import_engine()
    rows = model_rows(engine)
    if args.format == "json":
        _dump_json({"models": rows}, s.out)
        return EXIT_OK
    for row in rows:
        s.out.write(describe_model(row) + "\n\n")
    s.out.write(f"{len(rows)} models. `--format json` gives every value with its unit, status and source.\n")
    return EXIT_OK


def describe_model(row: Mapping[str, Any]) -> str:
    """A few readable lines for one model (the output of :func:`model_to_dict`)."""
    age, weight = row["age_range_yr"], row["weight_range_kg"]
    ranges = f"age {age[0]:g}-{age[1]:g} years, weight {weight[0]:g}-{weight[1]:g} kg ({row['range_status']})"
    ke0 = row["ke0_per_min"]
    fields = [
        ("drug", row["drug"]),
        ("routes", ", ".join(row["routes"])),
        ("population", row["population"]),
        ("sampling", row["sampling_site"]),
        ("valid ranges", ranges),
        ("covariates", row["covariates"]),
        ("ke0", f"{fmt_num(ke0['value'])} /min ({ke0['status']}): {ke0['source']}"),
        ("citation", f"{row['citation']} [{row['reference_id']}]"),
    ]
    lines = [f"{row['name']}: {row['title']}"]
    lines += [f"  {label + ':':<14}{value}" for label, value in fields]
    n_assumed = len(row["assumed"])
    if n_assumed:
        lines.append(f"  {'assumed:':<14}{n_assumed} value(s) not published, see --format json")
    return "\n".join(lines)


# ---- simulate -------------------------------------------------------------------------------


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
        _write_warnings(warnings, s.err)
        write_csv(result, pop, s.out)
    else:
        _write_warnings(warnings, s.err)
        s.out.write(simulation_table(args, result, pop))
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


def _zone_labels(engine: Any) -> dict[str, str]:
    labels = {}
    zones = engine.ZONES
    items = zones.values() if isinstance(zones, Mapping) else zones
    for z in items:
        labels[str(z.key)] = str(z.label)
    return labels


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
        row.append(_ZONE_SHORT.get(str(result.zones[i]), str(result.zones[i])))
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


# ---- compare --------------------------------------------------------------------------------


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
        for item in items:
            _write_warnings(item["warnings"], s.err, prefix=f"{item['regimen']}: ")
        s.out.write(comparison_table(args, items))
    if args.plot:
        from ketaclinic.pkpd import plots

        plots.plot_comparison(
            [(text, result, pop) for text, _, result, pop in runs],
            args.plot,
            title=f"Does it get you high? Predicted for a {args.weight_kg:g} kg adult",
        )
        s.err.write(f"wrote {args.plot}\n")
    return EXIT_OK


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def patient_dict(args: argparse.Namespace) -> dict[str, Any]:
    return {"weight_kg": args.weight_kg, "age_yr": args.age, "sex": args.sex, "height_cm": args.height_cm}


def _zone_of(ce_ng_per_ml: float, drug: str) -> str:
    from ketaclinic.pkpd import pd

    return str(pd.zones(np.array([ce_ng_per_ml]), drug)[0])  # type: ignore[arg-type]


def _high_of(ce_ng_per_ml: float, drug: str) -> float:
    from ketaclinic.pkpd import pd

    return float(pd.high_pct_max(np.array([ce_ng_per_ml]), drug)[0])  # type: ignore[arg-type]


def comparison_item(text: str, regimen: Any, result: Any, pop: Any) -> dict[str, Any]:
    """Key numbers of one regimen with their 5-95% ranges, and the plain-language verdict.

    Percentiles are over simulated patients (``pop.summary_percentiles``). The drug-high rating
    and the zone are monotone in the effect-site concentration, so their percentiles are those
    of the peak effect-site concentration mapped through the engine's relations.
    """
    sm, sq = result.summary, pop.summary_percentiles
    ce_q = sq["ce_max_ng_per_ml"]
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
            **{f"p{q}": _high_of(ce_q[q], result.drug) for q in PERCENTILES},
        },
        "peak_high_time_min": sm.peak_effect_time_min,
        "peak_zone": {
            "typical": sm.peak_zone,
            **{f"p{q}": _zone_of(ce_q[q], result.drug) for q in PERCENTILES},
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


_INTENSITY = ((25.0, "mild"), (50.0, "mild-to-moderate"), (75.0, "moderate-to-strong"))
_ZONE_WORDS = {
    "none": "little or nothing: the predicted brain concentration stays below the level at "
    "which effects are reported",
    "mild": "a mild perceptual change (light, floaty, slightly 'high'), short of dissociation",
    "dissociative": "a {intensity} dissociative effect (feeling detached from body or "
    "surroundings, a 'high')",
    "anaesthetic": "an anaesthetic effect: unresponsive, not awake, needing airway monitoring",
}
_ZONE_SHORT = {
    "none": "not noticeable",
    "mild": "mild",
    "dissociative": "dissociative",
    "anaesthetic": "anaesthetic",
}


def _about(minutes: float) -> str:
    """Round a time for prose: 5-minute steps below 2 h, quarter hours above."""
    if minutes < 10:
        return fmt_time_min(max(1.0, round(minutes)))
    step = 5 if minutes < 120 else 15
    return fmt_time_min(step * round(minutes / step))


def verdict(item: Mapping[str, Any]) -> str:
    """Answer "does it get you high, and for how long?" in words, with the 5-95% range.

    The wording comes from the median simulated patient ("most people"); the 5-95% ranges of
    the peak zone, the peak drug-high rating and the time until the effect is no longer
    noticeable follow in brackets.
    """
    zone = item["peak_zone"]
    high = item["peak_high_pct_max"]
    key = zone["p50"]
    intensity = next((w for bound, w in _INTENSITY if high["p50"] < bound), "strong")
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
                f"(90% of simulated people: {rng})"
            )
    text += (
        f". Peak drug-high rating {fmt_num(high['p50'], 2)}% of the maximum "
        f"(5-95%: {fmt_num(high['p5'], 2)}-{fmt_num(high['p95'], 2)}%)"
    )
    if zone["p5"] != zone["p95"]:
        text += (
            f"; peak zone from {_ZONE_SHORT[zone['p5']]} (5th percentile) to "
            f"{_ZONE_SHORT[zone['p95']]} (95th)"
        )
    text += f". Model: {item['model']}; effect: "
    text += "Simons 2022 (S-ketamine)" if item["drug"] == "esketamine" else "Bowdle 1998"
    text += "; zones: pkpd.ZONES."
    return text


def _zone_range(zone: Mapping[str, str]) -> str:
    lo, hi = _ZONE_SHORT[zone["p5"]], _ZONE_SHORT[zone["p95"]]
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
            lambda it: rng(
                {**it["peak_high_pct_max"], "typical": it["peak_high_pct_max"]["typical"]},
                lambda v: fmt_num(v, 2),
            ),
        ),
        ("peak zone (typical)", lambda it: _ZONE_SHORT[it["peak_zone"]["typical"]]),
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
        + "; ".join(f"{_ZONE_SHORT[k]} = {labels[k]}" for k in labels),
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


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
