"""A population evaluated in tiles (seed x sub-tile x tile exponentials, one small matrix
product per patient and segment), with condition checks and direct re-evaluation."""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ketaclinic.pkpd.solver.grid import _arange
from ketaclinic.pkpd.solver.parameters import _SEED, _SLICE, FloatArray, _scratch
from ketaclinic.pkpd.solver.plans import Plan

#: Largest condition number (sum of |terms| over |sum|) accepted where products take over.
_MAX_CONDITION = 64.0


_pool: ThreadPoolExecutor | None = None


_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one lazily created pool per process
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 8)))
        return _pool


def _condition_bad(table: FloatArray, e: FloatArray) -> NDArray[np.bool_]:
    """Per time and patient (c, n): whether ``sum |terms| > 64 |sum|`` for either output.

    ``table`` (2, m + 1, n) is a segment of :attr:`Plan.table`, ``e`` (m, c, n) the
    exponentials at ``c`` times.  A NaN sum counts as ill conditioned; an all-zero sum does not.
    """
    m = e.shape[0]
    total = np.einsum("ojn,jcn->ocn", table[:, :m], e)
    total += table[:, m, None]
    size = np.einsum("ojn,jcn->ocn", np.abs(table[:, :m]), e)
    size += np.abs(table[:, m, None])
    np.abs(total, out=total)
    total *= _MAX_CONDITION
    ok: NDArray[np.bool_] = (size <= total).all(axis=0)
    return ~ok


def _ill_conditioned(table: FloatArray, e: FloatArray) -> NDArray[np.bool_]:
    """Per patient: whether ``sum |terms| > 64 |sum|`` for either output at any of a few times.

    See :func:`_condition_bad`, of which this is the ``any`` over the times.
    """
    bad: NDArray[np.bool_] = np.asarray(_condition_bad(table, e).any(axis=0))
    return bad


class _Tau:
    """Times since a segment's start, ``times - start``, computed only where they are read.

    ``tau[i]`` is the same number as ``(times - start)[i]`` (one rounded subtraction): a tiled
    segment reads a few dozen of its offsets, and a full array of them would be fresh memory.
    """

    __slots__ = ("shape", "start", "times")

    def __init__(self, times: FloatArray, start: float) -> None:
        self.times = times
        self.start = start
        self.shape = times.shape

    def __getitem__(self, idx: int | slice | NDArray[np.intp]) -> Any:
        """The offsets at `idx` (a float for an integer, else an array)."""
        return self.times[idx] - self.start

    def full(self) -> FloatArray:
        """All the offsets (a new array)."""
        out: FloatArray = self.times - self.start
        return out


def _choose_seed(
    table: FloatArray, poles: FloatArray, tau: FloatArray | _Tau, seed: int
) -> tuple[int, NDArray[np.intp]]:
    """Seed width for a uniform segment and the patients it does not suit (see :func:`_eval_patients`).

    Starting from `seed`, the seed doubles while more than 1/16 of the patients are ill
    conditioned at the first column computed by products or at the last one.
    """
    n = table.shape[2]
    nt = tau.shape[0]
    seed = min(seed, nt)
    while seed < nt:
        at = np.array([[-tau[seed]], [-tau[nt - 1]]])
        parts = [
            _ill_conditioned(table[:, :, lo : lo + _SLICE], np.exp(poles[:, None, lo : lo + _SLICE] * at))
            for lo in range(0, n, _SLICE)
        ]
        bad = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if 16 * int(np.count_nonzero(bad)) <= n or 2 * seed >= nt:
            return seed, np.flatnonzero(bad)
        seed *= 2
    return nt, np.empty(0, dtype=np.intp)


def _outer(a: FloatArray, b: FloatArray, out: FloatArray) -> None:
    """``out[i, j] = a[i] * b[j]`` (one rounded product each, whichever way it is computed).

    ``einsum`` is the fastest form for large outputs, ``multiply`` for small ones (``einsum``
    costs a few microseconds to set up).
    """
    if out.size < 8192:
        np.multiply(a[:, None], b, out=out)
    else:
        np.einsum("a,c->ac", a, b, out=out)


def _tiling(length: int, seed: int) -> tuple[int, int]:
    """``(reps, tiles)`` of a segment: tiles of ``seed * reps`` columns covering `length`.

    ``reps`` near ``sqrt(length / seed)`` keeps the exponentials per pole,
    ``seed + reps + tiles``, near their minimum.
    """
    if seed >= length:
        return 1, 1
    reps = max(1, round(math.sqrt(length / seed)))
    return reps, -(-length // (seed * reps))


def _eval_direct(
    tables: Sequence[FloatArray],
    poles: FloatArray,
    taus: Sequence[FloatArray],
    *,
    out: tuple[FloatArray, FloatArray],
    cols: Sequence[slice],
) -> None:
    """Segments evaluated directly, for a block of patients, into columns `cols` of `out`.

    ``tables[s]`` (2, m + 1, nb) and ``taus[s]`` (times since the segment's start) describe
    segment ``s``, which fills columns ``cols[s]`` of the two (nb, t) output blocks `out`.
    ``E`` (m + 1, all columns) holds ``exp(-pole tau)`` for every column of every segment (one
    outer product and one ``exp`` for all of them) and a row of ones; per patient and segment
    one matrix product ``[coef, const] @ E`` gives both outputs.  Pole-major storage as in
    :func:`_eval_rows`.
    """
    _, k, nb = tables[0].shape
    m = k - 1
    total = sum(tau.shape[0] for tau in taus)
    n_e, n_y, n_d = k * nb * total, nb * 2 * total, len(tables) * nb * 2 * k
    buf = _scratch(n_e + n_y + n_d + m * nb)
    e = buf[:n_e].reshape(k, nb, total)
    y = buf[n_e : n_e + n_y].reshape(nb, 2, total)
    d = buf[n_e + n_y : n_e + n_y + n_d].reshape(len(tables), nb, 2, k)
    neg = buf[n_e + n_y + n_d : n_e + n_y + n_d + m * nb]
    np.negative(poles, out=neg.reshape(m, nb))
    # the arguments -pole * tau: one outer product
    _outer(neg, taus[0] if len(taus) == 1 else np.concatenate(taus), e[:m].reshape(m * nb, total))
    np.exp(e[:m], out=e[:m])
    e[m] = 1.0
    c = 0
    for s, (table, tau) in enumerate(zip(tables, taus, strict=True)):
        n = tau.shape[0]
        d[s] = table.transpose(2, 0, 1)
        np.matmul(d[s], e[:, :, c : c + n].transpose(1, 0, 2), out=y[:, :, c : c + n])
        c += n
    if all(a.stop == b.start for a, b in itertools.pairwise(cols)):
        # the segments follow each other in the output rows: one copy per output
        span = slice(cols[0].start, cols[-1].stop)
        np.copyto(out[0][:, span], y[:, 0])
        np.copyto(out[1][:, span], y[:, 1])
        return
    c = 0
    for col in cols:
        n = col.stop - col.start
        np.copyto(out[0][:, col], y[:, 0, c : c + n])
        np.copyto(out[1][:, col], y[:, 1, c : c + n])
        c += n


@dataclass
class _Group:
    """Uniform segments evaluated together by :func:`_eval_rows` (same step, seed and first offsets).

    ``offsets`` are the seed's times since the segment start, then the offsets of ``G_r``
    (``r s step``, ``r >= 1``) and of each member's ``F_q`` (``tau_{qW} - tau_0``, ``q >= 1``):
    the arguments of every exponential the group needs, per pole, for any block of patients.
    """

    seed: int
    step: float
    members: list[int]
    head: FloatArray  # the first `seed` times since the start, equal for every member
    reps: int = 0
    width: int = 0
    lengths: list[int] = field(default_factory=list)
    tiles: list[int] = field(default_factory=list)
    offsets: FloatArray = field(default_factory=lambda: np.empty(0))

    def finish(self, taus: Mapping[int, _Tau]) -> None:
        """Fix the tiling (on the longest member) and the offsets."""
        self.lengths = [taus[s].shape[0] for s in self.members]
        self.reps = _tiling(max(self.lengths), self.seed)[0]
        self.width = width = self.seed * self.reps
        self.tiles = [-(-n // width) for n in self.lengths]
        parts = [self.head, (self.seed * self.step) * _arange(self.reps)[1:]]
        parts += [taus[s][width::width] - taus[s][0] for s in self.members]
        self.offsets = np.concatenate(parts)


def _eval_rows(
    tables: Sequence[FloatArray],
    poles: FloatArray,
    grp: _Group,
    *,
    dests: Sequence[tuple[FloatArray, FloatArray]],
) -> None:
    """The uniform segments of a :class:`_Group`, for a block of patients.

    ``tables[s]`` (2, m + 1, nb) describes member ``s`` of the group; ``dests[s]`` are its two
    (nb, len) output blocks.  Column ``c = q W + r s + i`` of a segment (tile ``q`` of width
    ``W = s * reps``, ``0 <= i < s``, `s` the seed) uses
    ``exp(-pole tau_c) = F_q * G_r * exp(-pole tau_i)`` with
    ``F_q = exp(-pole (tau_{qW} - tau_0))`` and ``G_r = exp(-pole r s step)``: three correctly
    rounded exponentials, ``F_0 = G_0 = 1`` (exact to a few eps, plus the grid's own deviation
    from uniform times the pole, as for any use of the step).  Per patient, ``E`` (m + 1, W)
    holds ``G_r * exp(-pole tau_i)`` and a row of ones, the same for every segment of the group
    (their ``tau_i`` are equal); ``D`` (2 x all tiles, m + 1) holds the coefficients times
    ``F_q`` and the constant, per output and tile.  One matrix product ``D @ E`` per patient
    gives every value, and the tiles are copied into the output rows.  ``E`` and ``D`` are
    stored pole-major, (m + 1, nb, ...), so that the elementwise work runs along long
    contiguous rows; BLAS reads each patient's matrices with a stride.
    """
    _, k, nb = tables[0].shape
    m = k - 1
    seed, reps, width, tiles = grp.seed, grp.reps, grp.width, grp.tiles
    n_tiles = sum(tiles)
    cols = grp.offsets.shape[0]
    n_e, n_d, n_y = k * nb * width, k * nb * 2 * n_tiles, nb * 2 * n_tiles * width
    buf = _scratch(n_e + n_d + n_y + m * nb * (1 + cols))
    e = buf[:n_e].reshape(k, nb, width)
    d = buf[n_e : n_e + n_d].reshape(k, nb, 2, n_tiles)
    neg = buf[n_e + n_d + n_y : n_e + n_d + n_y + m * nb]
    np.negative(poles, out=neg.reshape(m, nb))
    # the arguments -pole * offset, one outer product (G_0 = F_0 = 1: the seed is E's first
    # block, the coefficients D's first tile of each segment)
    x = buf[n_e + n_d + n_y + m * nb : n_e + n_d + n_y + m * nb * (1 + cols)].reshape(m * nb, cols)
    _outer(neg, grp.offsets, x)
    np.exp(x, out=x)
    x3 = x.reshape(m, nb, cols)
    first, g = x3[:, :, :seed], x3[:, :, seed : seed + reps - 1]
    e4 = e[:m].reshape(m, nb, reps, seed)
    e4[:, :, 0] = first
    if reps > 1:
        np.einsum("jpr,jpi->jpri", g, first, out=e4[:, :, 1:])
    e[m] = 1.0
    c = seed + reps - 1
    q = 0
    for table, n_q in zip(tables, tiles, strict=True):
        coef = table.transpose(1, 2, 0)  # (m + 1, nb, 2), a view
        d[:, :, :, q] = coef
        if n_q > 1:
            np.einsum("jpo,jpq->jpoq", coef[:m], x3[:, :, c : c + n_q - 1], out=d[:m, :, :, q + 1 : q + n_q])
            d[m, :, :, q + 1 : q + n_q] = coef[m, :, :, None]
        c += n_q - 1
        q += n_q
    e_t = e.transpose(1, 0, 2)  # per patient (m + 1, W), a row stride of nb * W
    # per patient: D (2 x tiles, m + 1) column-major, E (m + 1, W)
    y = buf[n_e + n_d : n_e + n_d + n_y].reshape(nb, 2 * n_tiles, width)
    np.matmul(d.reshape(k, nb, 2 * n_tiles).transpose(1, 2, 0), e_t, out=y)
    out_rows = y.reshape(nb, 2, n_tiles * width)
    q = 0
    for dest, n, n_q in zip(dests, grp.lengths, tiles, strict=True):
        np.copyto(dest[0], out_rows[:, 0, q * width : q * width + n])
        np.copyto(dest[1], out_rows[:, 1, q * width : q * width + n])
        q += n_q


@dataclass
class _Layout:
    """How the segments of a range of patients are evaluated (see :func:`_eval_patients`)."""

    taus: dict[int, _Tau] = field(default_factory=dict)  # times since each segment's start
    direct: list[int] = field(default_factory=list)  # segments evaluated directly
    groups: list[_Group] = field(default_factory=list)  # tiled segments
    hard: dict[int, NDArray[np.intp]] = field(default_factory=dict)  # re-evaluated directly


def _layout(
    p: Plan, times: FloatArray, segments: list[tuple[int, int, float | None]], rows: slice
) -> _Layout:
    """Seeds, groups and ill-conditioned patients of every segment for the patients `rows`."""
    lay = _Layout()
    for s, (a, b, step) in enumerate(segments):
        if b <= a:
            continue
        tau = lay.taus[s] = _Tau(times[a:b], float(p.starts_min[s]))
        seed = b - a
        if step is not None:
            seed, lay.hard[s] = _choose_seed(p.table[s, :, :, rows], p.poles[:, rows], tau, _SEED)
        if step is None or seed >= b - a:
            lay.direct.append(s)
            continue
        head = tau[:seed]
        for grp in lay.groups:
            if (grp.seed, grp.step) == (seed, step) and np.array_equal(grp.head, head):
                grp.members.append(s)
                break
        else:
            lay.groups.append(_Group(seed, step, [s], head))
    for grp in lay.groups:
        grp.finish(lay.taus)
    return lay


def _eval_patients(
    p: Plan,
    times: FloatArray,
    segments: list[tuple[int, int, float | None]],
    *,
    rows: tuple[int, int],
    out: tuple[FloatArray, FloatArray],
    block: int,
) -> None:
    """Evaluate patients lo:hi at every time point into the output rows.

    Per segment: its times since the segment's start, and for uniform ones the seed and the
    patients it does not suit (:func:`_choose_seed`).  Products differ from exponentials by a
    few eps, which a sum amplifies by its condition number ``sum |terms| / |sum|``: large
    where a curve rises from zero (the effect site one second into an infusion is about 1e-4 of
    terms the size of the peak) or where two poles nearly coincide (huge residues of opposite
    sign).  So seeds grow, and the patients still above 64 at the first or the last column
    computed by products are evaluated again, directly: where checked, products only ever meet
    a condition number of at most 64.  Uniform segments with the same step, seed and first
    offsets (breakpoints on the grid) share ``E`` and one matrix product per patient
    (:func:`_eval_rows`); the other segments are evaluated directly, all together
    (:func:`_eval_direct`).  Patients go in blocks of `block`.
    """
    lo, hi = rows
    plasma, effect = out
    if segments[0][0] > 0:
        plasma[lo:hi, : segments[0][0]] = 0.0
        effect[lo:hi, : segments[0][0]] = 0.0
    lay = _layout(p, times, segments, slice(lo, hi))
    cols = [slice(a, b) for a, b, _ in segments]
    direct_taus = [lay.taus[s].full() for s in lay.direct]
    for lo_b in range(lo, hi, block):
        blk = slice(lo_b, min(lo_b + block, hi))
        if lay.direct:
            tables = [p.table[s, :, :, blk] for s in lay.direct]
            out_b = (plasma[blk], effect[blk])
            _eval_direct(tables, p.poles[:, blk], direct_taus, out=out_b, cols=[cols[s] for s in lay.direct])
        for grp in lay.groups:
            tables = [p.table[s, :, :, blk] for s in grp.members]
            dests = [(plasma[blk, cols[s]], effect[blk, cols[s]]) for s in grp.members]
            _eval_rows(tables, p.poles[:, blk], grp, dests=dests)
    for s, idx in lay.hard.items():
        if not idx.size:
            continue
        a, b = segments[s][0], segments[s][1]
        tau = lay.taus[s].full()
        for i in range(0, idx.size, block):
            sel = lo + idx[i : i + block]
            sub = (np.empty((sel.size, b - a)), np.empty((sel.size, b - a)))
            table = p.table[s][:, :, sel]
            _eval_direct([table], p.poles[:, sel], [tau], out=sub, cols=[slice(0, b - a)])
            plasma[sel, a:b] = sub[0]
            effect[sel, a:b] = sub[1]
