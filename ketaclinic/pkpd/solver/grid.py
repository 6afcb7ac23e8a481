"""The time grid: whether a stretch of it is uniform (so exponentials factor over tiles), and
which segments of a plan are worth tiling."""

from __future__ import annotations

import math

import numpy as np

from ketaclinic.pkpd.solver.parameters import _SEED, FloatArray, _scratch
from ketaclinic.pkpd.solver.plans import Plan

#: Segments with fewer exponentials per block than this are evaluated directly (overheads).
#: Where ``exp`` is scalar (NumPy vectorises float64 ``exp`` only with AVX-512; about 5 ns a
#: value on the AVX2 machine this was measured on), tiling pays from about 6,000 of them: one
#: patient's 2,400-point infusion (4 poles) costs 54 us tiled against 72 us direct.
_MIN_TILING = 8192


#: Allowed deviation of a grid from ``t0 + k * step``, in units of eps times the largest time.
_UNIFORM_ULPS = 8.0


_EPS = float(np.finfo(np.float64).eps)


_ARANGE: FloatArray = np.arange(0.0)


def _arange(n: int) -> FloatArray:
    """``0.0, 1.0, ..., n - 1`` (a shared, read-only array grown on demand)."""
    global _ARANGE  # noqa: PLW0603 - process-wide cache of an immutable array
    ar = _ARANGE
    if ar.shape[0] < n:
        ar = np.arange(float(max(n, 2 * ar.shape[0])))
        ar.flags.writeable = False
        _ARANGE = ar
    return ar[:n]


_RAMP: tuple[float, FloatArray] = (0.0, np.arange(0.0))


def _ramp(n: int, step: float) -> FloatArray:
    """``-step * k`` for ``k = 0 .. n - 1`` (read-only; the last one kept: grids repeat)."""
    global _RAMP  # noqa: PLW0603 - process-wide cache of an immutable array
    cached_step, ramp = _RAMP
    if cached_step != step or ramp.shape[0] < n:
        ramp = np.multiply(_arange(max(n, ramp.shape[0] if cached_step == step else 0)), -step)
        ramp.flags.writeable = False
        _RAMP = (step, ramp)
    return ramp[:n]


def _deviation(times: FloatArray, step: float) -> FloatArray:
    """``times - k * step`` in a per-thread scratch buffer (valid until its next use)."""
    n = times.shape[0]
    d = _scratch(n)[:n]
    np.add(_ramp(n, step), times, out=d)
    return d


def _flat(d: FloatArray, t0: float, t1: float) -> bool:
    """Whether a deviation `d` from a line stays within ``8 eps max(|t0|, |t1|)``."""
    tol = _UNIFORM_ULPS * _EPS * max(abs(t0), abs(t1))
    return float(d.max()) - float(d.min()) <= tol


def _grid_step(times: FloatArray) -> float | None:
    """``(t[-1] - t[0]) / (len - 1)`` if positive and finite, else None."""
    n = times.shape[0]
    if n < 2:
        return None
    step = (float(times[-1]) - float(times[0])) / (n - 1)
    return step if step > 0.0 and math.isfinite(step) else None


def uniform_step(times: FloatArray) -> float | None:
    """The step of a uniform grid, or None if `times` is not one (to rounding).

    A grid is uniform when every point lies within ``8 eps max|t|`` of ``t[0] + k * step``
    with ``step = (t[-1] - t[0]) / (len - 1)``; checking the points themselves (not their
    differences) excludes slow drift.  Fewer than 2 points, or a zero step, give None.

    Examples
    --------
    >>> uniform_step(np.arange(21601) / 60.0) == 1.0 / 60.0
    True
    >>> uniform_step(np.array([0.0, 1.0, 3.0])) is None
    True
    """
    step = _grid_step(times)
    if step is None:
        return None
    return step if _flat(_deviation(times, step), float(times[0]), float(times[-1])) else None


def _segments(p: Plan, times: FloatArray, rows: int) -> list[tuple[int, int, float | None]]:
    """Index ranges of `times` in each segment of `p`, with the step of uniform ones.

    Only segments worth tiling (at least ``_MIN_TILING`` exponentials for `rows` rows) are
    tested.  One pass over the grid tests them against the grid's overall step; a segment that
    fails (a grid uniform piecewise only) is tested on its own.
    """
    bounds: list[int] = np.searchsorted(times, p.starts_min).tolist()
    bounds.append(times.shape[0])
    n_seg = len(bounds) - 1
    steps: list[float | None] = [None] * n_seg
    wanted = [
        i
        for i in range(n_seg)
        if bounds[i + 1] - bounds[i] > _SEED and (bounds[i + 1] - bounds[i]) * rows >= _MIN_TILING
    ]
    step = _grid_step(times) if wanted else None
    if step is not None:
        lo = bounds[wanted[0]]
        d = _deviation(times[lo:], step)
        failed = []
        for i in wanted:
            a, b = bounds[i], bounds[i + 1]
            if _flat(d[a - lo : b - lo], float(times[a]), float(times[b - 1])):
                steps[i] = step
            else:
                failed.append(i)
        for i in failed:
            steps[i] = uniform_step(times[bounds[i] : bounds[i + 1]])
    return [(bounds[i], bounds[i + 1], steps[i]) for i in range(n_seg)]
