"""What every command shares: the streams, the engine import, checked arguments, warnings."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from ketaclinic.pkpd.cli.args import MAX_TIME_POINTS, UsageError
from ketaclinic.pkpd.cli.output import FloatArray
from ketaclinic.pkpd.text import fmt_time_min


@dataclass(frozen=True)
class Streams:
    out: TextIO
    err: TextIO


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


def _write_warnings(warnings: Sequence[str], err: TextIO, prefix: str = "", *, verbose: bool = True) -> None:
    """Every assumption and caveat (``--verbose``), or one line that says how many there are."""
    unique = list(dict.fromkeys(warnings))  # keep order, drop repeats
    if not verbose:
        if unique:
            err.write(f"note: {prefix}{len(unique)} assumptions and caveats apply; --verbose lists them\n")
        return
    for w in unique:
        err.write(f"warning: {prefix}{w}\n")


def _zone_labels(engine: Any) -> dict[str, str]:
    labels = {}
    zones = engine.ZONES
    items = zones.values() if isinstance(zones, Mapping) else zones
    for z in items:
        labels[str(z.key)] = str(z.label)
    return labels


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def patient_dict(args: argparse.Namespace) -> dict[str, Any]:
    return {"weight_kg": args.weight_kg, "age_yr": args.age, "sex": args.sex, "height_cm": args.height_cm}
