"""One patient on its own path: the same tiling with few NumPy calls."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ketaclinic.pkpd.solver.grid import _segments
from ketaclinic.pkpd.solver.parameters import _SEED, FloatArray, _scratch
from ketaclinic.pkpd.solver.plans import Plan
from ketaclinic.pkpd.solver.tiles import _MAX_CONDITION, _Tau


def _bad_one(table: FloatArray, poles: Sequence[float], tau: float) -> bool:
    """One patient: whether ``sum |terms| > 64 |sum|`` for either output at time `tau`.

    The scalar form of :func:`_condition_bad` (``table`` (2, m + 1) as nested lists, `poles`
    the m poles): a handful of numbers, cheaper in plain floats than in arrays.
    """
    ex = [math.exp(-pole * tau) for pole in poles]
    for row in table:
        total = row[-1]
        size = abs(total)
        for coef, x in zip(row, ex, strict=False):
            term = coef * x
            total += term
            size += abs(term)
        if not size <= _MAX_CONDITION * abs(total):  # NaN: ill conditioned
            return True
    return False


def _seed_one(table: FloatArray, poles: Sequence[float], tau: _Tau, seed: int) -> int | None:
    """:func:`_choose_seed` for one patient: the seed, or None if the segment must be direct.

    The seed doubles from `seed` while the condition number exceeds 64 at the first column
    computed by products or at the last one (up to half the segment); if it still does, the
    patient is evaluated directly, as :func:`_eval_patients` does for ill-conditioned ones.
    """
    nt = tau.shape[0]
    if seed >= nt:
        return None
    if _bad_one(table, poles, float(tau[nt - 1])):
        return None
    while _bad_one(table, poles, float(tau[seed])):
        if 2 * seed >= nt:
            return None
        seed *= 2
    return seed


def _rows_one(
    table: FloatArray, neg: FloatArray, tau: _Tau, width: int, *, rows: tuple[FloatArray, FloatArray]
) -> None:
    """One patient, one uniform segment, tiled, into `rows`.

    ``table`` (2, m + 1), ``neg`` the negated poles followed by a 0 (m + 1,), ``rows`` the two
    contiguous output rows of the segment.  Two levels instead of :func:`_eval_rows`' three
    (for one patient the exponentials are few and each array operation costs more than the
    arithmetic): column ``c = q W + i`` uses ``exp(-pole tau_c) = F_q * exp(-pole tau_i)``
    with ``F_q = exp(-pole (tau_qW - tau_0))``, two correctly rounded exponentials; ``W``, the
    seed, is about ``sqrt(len)`` (:func:`_seed_one`).  ``E`` (m + 1, W) is the seed's
    exponentials, ``D`` (2, m + 1, tiles) the coefficients times ``F_q``.  The pole 0 has
    ``exp(-0 tau) = 1`` exactly: it gives ``E`` its row of ones, and with ``F_0 = 1`` (offset
    0) the whole of ``D`` is one product ``table * F``.  Whole tiles go straight into each
    output row, one matrix product per output; the rest (the partial tile, or everything when
    fewer than two tiles are whole) for both outputs at once through a scratch copy.  Every
    product has at least two rows: BLAS then sums each value in the same order whatever the
    shape (a one-row product may go to a matrix-vector kernel that does not), so the seed's
    points equal the direct path's.
    """
    k = neg.shape[0]
    nt = tau.shape[0]
    tiles = -(-nt // width)
    cols = width + tiles
    whole = nt // width if nt // width >= 2 else 0
    left = tiles - whole
    n_d, n_x = 2 * k * tiles, k * cols
    buf = _scratch(n_d + n_x + max(cols, 2 * left * width))
    d = buf[:n_d].reshape(2, k, tiles)
    x = buf[n_d : n_d + n_x].reshape(k, cols)
    # the offsets: the seed's times, then tau_qW - tau_0 for F_q (q >= 0)
    off = buf[n_d + n_x : n_d + n_x + cols]
    times, start = tau.times, tau.start
    np.subtract(times[:width], start, out=off[:width])
    np.subtract(times[::width], start, out=off[width:])
    off[width:] -= off[width]
    np.multiply(neg[:, None], off, out=x)
    np.exp(x, out=x)
    e = x[:, :width]  # E, with a row stride of `cols`
    np.multiply(table[:, :, None], x[:, width:], out=d)  # coefficients times F_q, constants times 1
    for o in (0, 1):
        if whole:
            np.matmul(d[o, :, :whole].T, e, out=rows[o][: whole * width].reshape(whole, width, copy=False))
    if left:
        n = nt - whole * width
        y = buf[n_d + n_x : n_d + n_x + 2 * left * width].reshape(2 * left, width)
        np.matmul(d[:, :, whole:].transpose(0, 2, 1).reshape(2 * left, k), e, out=y)
        np.copyto(rows[0][whole * width :], y[:left].reshape(-1)[:n])
        np.copyto(rows[1][whole * width :], y[left:].reshape(-1)[:n])


def _direct_one(
    table: FloatArray, neg: FloatArray, tau: FloatArray, rows: tuple[FloatArray, FloatArray]
) -> None:
    """One patient, one segment, one ``exp`` per pole and time, into `rows` (`neg`: see :func:`_rows_one`)."""
    k = neg.shape[0]
    nt = tau.shape[0]
    buf = _scratch((k + 2) * nt)
    e = buf[: k * nt].reshape(k, nt)
    np.multiply(neg[: k - 1, None], tau, out=e[: k - 1])
    np.exp(e[: k - 1], out=e[: k - 1])
    e[k - 1] = 1.0
    y = buf[k * nt : (k + 2) * nt].reshape(2, nt)
    np.matmul(table, e, out=y)  # two rows: see _rows_one
    np.copyto(rows[0], y[0])
    np.copyto(rows[1], y[1])


def _eval_one(p: Plan, times: FloatArray, out: tuple[FloatArray, FloatArray]) -> None:
    """Evaluate a one-patient plan into the rows ``out`` (each (t,), contiguous).

    The same scheme as :func:`_eval_patients` (tiles on uniform segments, seeds grown and the
    condition number checked where products take over, exponentials elsewhere), with far
    fewer array operations: on one patient their fixed cost, not the arithmetic, dominates.
    """
    plasma, effect = out
    segments = _segments(p, times, p.poles.shape[0])
    if segments[0][0] > 0:
        plasma[: segments[0][0]] = 0.0
        effect[: segments[0][0]] = 0.0
    poles = p.poles[:, 0].tolist()
    neg = np.array([-pole for pole in poles] + [0.0])  # the pole 0 gives the constant's ones
    for s, (a, b, step) in enumerate(segments):
        if b <= a:
            continue
        tau = _Tau(times[a:b], float(p.starts_min[s]))
        table = p.table[s, :, :, 0]
        rows = (plasma[a:b], effect[a:b])
        if step is not None:
            seed = _seed_one(table.tolist(), poles, tau, max(_SEED, math.isqrt(b - a)))
            if seed is not None:
                _rows_one(table, neg, tau, seed, rows=rows)
                continue
        _direct_one(table, neg, tau.full(), rows)
