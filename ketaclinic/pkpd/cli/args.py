"""The command line's parser and the value types of its options (durations, counts, numbers)."""

from __future__ import annotations

import argparse
import math
import re

from ketaclinic.pkpd.units import TIME_UNITS_MIN

PROG = "ketaclinic pk"


EXIT_OK = 0


EXIT_USAGE = 2


# Beyond this many time points a run is almost certainly a typo (e.g. --step 1s --until 30 days).
MAX_TIME_POINTS = 2_000_000


# Populations at least this large show a progress bar when stderr is a terminal.
PROGRESS_MIN_N = 200


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
    sim.add_argument("--verbose", action="store_true", help="list every assumption and caveat on stderr")

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
    cmp_.add_argument("--verbose", action="store_true", help="list every assumption and caveat on stderr")

    val = sub.add_parser(
        "validate",
        help="the engine against every measured value it is checked on",
        description="Predict every row of the engine's measurements file with every model it "
        "applies to: predicted, measured, error, tolerance, pass or fail, and whether the row was "
        "used to fit (calibration) or is independent (validation).",
    )
    val.add_argument("--model", help="only this model")
    val.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    return parser


def _patient_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weight-kg", type=_number, required=True, help="body weight in kg")
    p.add_argument("--age", type=_number, default=40.0, metavar="YEARS", help="age in years (40)")
    p.add_argument("--sex", choices=("female", "male"), default="female", help="(female)")
    p.add_argument("--height-cm", type=_number, default=170.0, metavar="CM", help="(170)")
