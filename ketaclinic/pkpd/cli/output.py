"""How results are written: progress on stderr, JSON, aligned tables."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from ketaclinic.pkpd.cli.args import PROGRESS_MIN_N

FloatArray = NDArray[np.float64]


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
