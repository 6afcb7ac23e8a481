"""Exact solution of linear compartment models for piecewise-constant inputs.

The plasma (central) concentration after a unit amount put into an entry compartment is a sum of
exponentials, ``h(t) = sum_i A_i exp(-alpha_i t)``.  First-order absorption depots and the effect
compartment are first-order filters in series (``k / (s + k)`` in the Laplace domain), so each
adds one pole and the residues follow by partial fractions:

* at a disposition pole ``alpha_i``: ``A_i * prod_k k / (k - alpha_i)``;
* at a filter pole ``k_j``: ``k_j * G(-k_j) * prod_{k != k_j} k / (k - k_j)`` with
  ``G(-k_j) = sum_i A_i / (alpha_i - k_j)``.

The disposition poles and residues are closed form for mammillary models (linear, quadratic and,
for three compartments, the trigonometric cubic solution polished by a Newton step) and, for the
Perez-Ruixo hepatic structure, come from the symmetric eigenproblem of the volume-scaled flow
matrix (``numpy.linalg.eigh``), which is exact for any reversible linear compartment system.

Between consecutive input breakpoints ``b_s`` (starts and ends of inputs) every output is
``y(t) = c_s + sum_i d_{s,i} exp(-lambda_i (t - b_s))``: a modal state ``w`` is jumped by
boluses, relaxes towards the steady state ``u / lambda`` of the active zero-order inputs, and is
propagated exactly from breakpoint to breakpoint.  Evaluation therefore costs at most one ``exp``
per pole and time point, whatever the number of doses, and is vectorised over patients (blocks,
spread over threads) and time points.  There is no time stepping.  On a uniform stretch of the time
grid (the usual case) the exponentials factor over tiles of the grid,
``exp(-l (t_0 + (q W + r s + i) h)) = F_q * G_r * exp(-l (t_0 + i h))``: a short seed of ``s``
direct exponentials, ``G_r`` for the sub-tiles and ``F_q`` for the tiles, each computed with
``exp`` (about ``s + 2 sqrt(n / s)`` per pole instead of ``n``).  ``F_q`` goes into the tile's
coefficients, so one small matrix product per patient gives every value; each value is a product
of three correctly rounded exponentials, within a few eps of a direct ``exp``.  A sum whose terms
nearly cancel amplifies those eps, so the condition number is checked where products take over and
ill-conditioned patients are evaluated directly (see ``_eval_patients``).

Coincident poles (an absorption or ke0 within a relative 1e-8 of another pole) make the partial
fractions singular; such a filter constant is moved by a relative 2e-8 (documented in
``docs/engine.md``).  The error this causes, about ``2e-8 * k * t`` relative, balances the rounding
error of the near-cancelling residues (about ``1e-16 / (2e-8 * k * t)``); both stay below 1e-6
relative on the clinically relevant part of a curve.

References
----------
Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. (sums of exponentials, Bateman function).
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ketaclinic.pkpd.published import Structure
from ketaclinic.pkpd.units import MG_PER_L_TO_NG_PER_ML

FloatArray = NDArray[np.float64]

#: Relative distance under which two poles are treated as coincident, and the relative move.
_COINCIDENT_RTOL = 1e-8
_NUDGE = 2e-8
#: Inputs shorter than this (min) are instantaneous.
_MIN_DURATION = 1e-9
#: Patients per chunk of :func:`concentrations`: planned on the calling thread, then evaluated
#: by one pool task.
_CHUNK = 8192
#: Patients per slice of the per-patient condition checks (seed choice): their
#: temporaries stay under 64 KB, below where the allocator maps fresh pages.
_SLICE = 1024
#: Patients per slice of :func:`plan` (measured: 32 ms for the 100,000 bench patients on one
#: thread, against 48 ms in slices of 1,024 and 37 ms in one piece).
_PLAN_SLICE = 4096
#: Patients per evaluation block (fewer on long grids: see ``_SCRATCH_FLOATS``).
_BLOCK = 512
#: Size (floats) of a block's (poles + 1, patients, times) scratch at most: 8 MB.
_SCRATCH_FLOATS = 1 << 20


@dataclass(frozen=True)
class ParameterSet:
    """Per-patient individual parameters, in engine units, as arrays of shape ``(n,)``.

    Attributes
    ----------
    structure : {"mammillary", "hepatic"}
        Model structure.
    n_compartments : int
        Number of mammillary disposition compartments (1-3; 3 for ``"hepatic"``).
    values : Mapping[str, ndarray]
        Parameter name -> ``(n,)`` float array (see
        :func:`ketaclinic.pkpd.published.typical_parameters` for the names).
    """

    structure: Structure
    n_compartments: int
    values: Mapping[str, FloatArray]

    @property
    def n(self) -> int:
        """Number of patients."""
        return int(next(iter(self.values.values())).shape[0])

    def slice(self, lo: int, hi: int) -> ParameterSet:
        """Patients ``lo:hi`` (views of the arrays)."""
        return ParameterSet(
            self.structure, self.n_compartments, {k: v[lo:hi] for k, v in self.values.items()}
        )

    def key(self) -> tuple[object, ...]:
        """Hashable key of a one-patient set (used to cache its modal decomposition)."""
        return (
            self.structure,
            self.n_compartments,
            tuple((k, float(v[0])) for k, v in sorted(self.values.items())),
        )


@dataclass(frozen=True)
class Inputs:
    """Compiled inputs of a regimen (one entry per input, all times in minutes).

    Attributes
    ----------
    entry : tuple of str
        Compartment the drug finally enters: ``"central"`` or ``"liver"``.
    filters : tuple of tuple of str
        Names of the first-order rate constants (parameters, 1/min) the input passes through
        before the entry compartment, e.g. ``("ka_im_per_min",)``; empty for IV.
    fraction : tuple of (str or None)
        Name of the parameter giving the fraction of the amount that enters (bioavailability);
        None for 1.
    amount_mg : tuple of float
        Amount of the input (mg), before the fraction.
    start_min, duration_min : tuple of float
        Start and duration (0 for an instantaneous input) of each input.
    """

    entry: tuple[str, ...]
    filters: tuple[tuple[str, ...], ...]
    fraction: tuple[str | None, ...]
    amount_mg: tuple[float, ...]
    start_min: tuple[float, ...]
    duration_min: tuple[float, ...]
    breakpoints_min: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.entry)
        lengths = {
            len(self.filters),
            len(self.fraction),
            len(self.amount_mg),
            len(self.start_min),
            len(self.duration_min),
        }
        if lengths != {n} or n == 0:
            raise ValueError("inputs: every field needs one entry per input, and at least one")
        for a, s, d in zip(self.amount_mg, self.start_min, self.duration_min, strict=True):
            if not (math.isfinite(a) and a >= 0):
                raise ValueError(f"amount_mg: must be finite and >= 0, got {a!r}")
            if not (math.isfinite(s) and math.isfinite(d) and d >= 0):
                raise ValueError(f"start_min/duration_min: must be finite, duration >= 0: {s}, {d}")
        # an input shorter than 1e-9 min is a bolus (its rate would overflow)
        object.__setattr__(
            self, "duration_min", tuple(0.0 if d < _MIN_DURATION else d for d in self.duration_min)
        )
        points = {*self.start_min, *(s + d for s, d in zip(self.start_min, self.duration_min, strict=True))}
        object.__setattr__(self, "breakpoints_min", tuple(sorted(points)))

    @property
    def filter_keys(self) -> tuple[str, ...]:
        """Distinct filter parameters in order of first use."""
        return tuple(dict.fromkeys(k for f in self.filters for k in f))


# --- disposition: poles and residues ----------------------------------------------------------


def _mammillary_modes(
    values: Mapping[str, FloatArray], n_cmt: int
) -> tuple[FloatArray, dict[str, FloatArray]]:
    """Poles (md, n) and central-input residues (md, n; ng/mL per mg) of a mammillary model."""
    v1 = values["v1_l"]
    k10 = values["cl_l_per_min"] / v1
    scale = MG_PER_L_TO_NG_PER_ML / v1
    if n_cmt == 1:
        return k10[None, :].copy(), {"central": scale[None, :].copy()}
    k12 = values["q2_l_per_min"] / v1
    k21 = values["q2_l_per_min"] / values["v2_l"]
    if n_cmt == 2:
        s = k10 + k12 + k21
        root = np.sqrt(np.maximum(s * s - 4.0 * k10 * k21, 0.0))
        a1 = 0.5 * (s + root)
        a2 = k10 * k21 / a1  # product of roots; avoids cancellation for the slow pole
        r1 = (k21 - a1) / (a2 - a1)
        r2 = (k21 - a2) / (a1 - a2)
        return np.stack((a1, a2)), {"central": np.stack((r1, r2)) * scale}
    k13 = values["q3_l_per_min"] / v1
    k31 = values["q3_l_per_min"] / values["v3_l"]
    c2 = k10 + k12 + k13 + k21 + k31
    c1 = k10 * k21 + k10 * k31 + k12 * k31 + k13 * k21 + k21 * k31
    c0 = k10 * k21 * k31
    p = c1 - c2 * c2 / 3.0
    q = -2.0 * c2**3 / 27.0 + c1 * c2 / 3.0 - c0
    m = 2.0 * np.sqrt(np.maximum(-p / 3.0, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        arg = np.clip(3.0 * q / (p * m), -1.0, 1.0)
    theta = np.arccos(arg) / 3.0
    k = np.arange(3.0)[:, None] * (2.0 * np.pi / 3.0)
    alpha = m * np.cos(theta - k) + c2 / 3.0
    # one Newton step on f(a) = a^3 - c2 a^2 + c1 a - c0 polishes the small roots
    f = ((alpha - c2) * alpha + c1) * alpha - c0
    df = (3.0 * alpha - 2.0 * c2) * alpha + c1
    alpha = alpha - f / df
    a0, a1_, a2_ = alpha
    r0 = (k21 - a0) * (k31 - a0) / ((a1_ - a0) * (a2_ - a0))
    r1 = (k21 - a1_) * (k31 - a1_) / ((a0 - a1_) * (a2_ - a1_))
    r2 = (k21 - a2_) * (k31 - a2_) / ((a0 - a2_) * (a1_ - a2_))
    return alpha, {"central": np.stack((r0, r1, r2)) * scale}


def _hepatic_modes(values: Mapping[str, FloatArray]) -> tuple[FloatArray, dict[str, FloatArray]]:
    """Poles (4, n) and residues of the Perez-Ruixo structure from the symmetric eigenproblem.

    Compartments: central, peripheral 1, peripheral 2, liver.  With Q the symmetric flow matrix
    (L/min) and V the volumes, d(amount)/dt = Q V^-1 amount; S = V^-1/2 Q V^-1/2 = U L U^T, so a
    unit amount into compartment j gives central concentration
    sum_i U[0,i] U[j,i] exp(l_i t) / sqrt(V_0 V_j).
    """
    vc, vp1, vp2, vh = values["vc_l"], values["vp1_l"], values["vp2_l"], values["vh_l"]
    q1, q2, qh = values["q1_l_per_min"], values["q2_l_per_min"], values["qh_l_per_min"]
    cl_liver = (values["kel_per_min"] + values["kmet_per_min"]) * vh
    n = vc.shape[0]
    flows = np.zeros((n, 4, 4))
    flows[:, 0, 0] = -(q1 + q2 + qh)
    flows[:, 0, 1] = flows[:, 1, 0] = q1
    flows[:, 0, 2] = flows[:, 2, 0] = q2
    flows[:, 0, 3] = flows[:, 3, 0] = qh
    flows[:, 1, 1] = -q1
    flows[:, 2, 2] = -q2
    flows[:, 3, 3] = -(qh + cl_liver)
    inv_sqrt_v = 1.0 / np.sqrt(np.stack((vc, vp1, vp2, vh), axis=1))
    sym = flows * inv_sqrt_v[:, :, None] * inv_sqrt_v[:, None, :]
    lam, vecs = np.linalg.eigh(sym)
    alpha = -lam
    scale = MG_PER_L_TO_NG_PER_ML * inv_sqrt_v[:, 0:1]
    central = vecs[:, 0, :] * vecs[:, 0, :] * scale * inv_sqrt_v[:, 0:1]
    liver = vecs[:, 0, :] * vecs[:, 3, :] * scale * inv_sqrt_v[:, 3:4]
    return alpha.T.copy(), {"central": central.T.copy(), "liver": liver.T.copy()}


def _nudge(k: FloatArray, others: Sequence[FloatArray]) -> FloatArray:
    """Move `k` (n,) by a relative 2e-8 where it coincides with any pole in `others` (each (n,))."""
    out = k
    for other in others:
        close = np.abs(out - other) <= _COINCIDENT_RTOL * out
        if close.any():
            out = np.where(close, out * (1.0 + _NUDGE), out)
    return out


@dataclass(frozen=True)
class Modes:
    """Modal decomposition of one model for a set of patients and inputs (pole-major arrays).

    Attributes
    ----------
    poles : ndarray, shape (m, n)
        Decay rates (1/min) of all modes: disposition, then filters, then ke0.
    residues : dict of (str, tuple of str) -> ndarray, shape (2, m, n)
        Per input path (entry, filters): coefficients of ``exp(-pole t)`` for plasma (row 0) and
        effect site (row 1), ng/mL per mg entering.
    """

    poles: FloatArray
    residues: dict[tuple[str, tuple[str, ...]], FloatArray]

    @property
    def poles_per_min(self) -> FloatArray:
        """The poles as (n, m)."""
        return self.poles.T


def modes(params: ParameterSet, inputs: Inputs) -> Modes:
    """Compute the modal decomposition for `params` (n patients) and the paths of `inputs`.

    Examples
    --------
    >>> v = {k: np.array([x]) for k, x in dict(v1_l=10.0, cl_l_per_min=1.0,
    ...      ke0_per_min=0.5).items()}
    >>> ps = ParameterSet("mammillary", 1, v)
    >>> inp = Inputs(("central",), ((),), (None,), (10.0,), (0.0,), (0.0,))
    >>> md = modes(ps, inp)
    >>> np.round(md.poles_per_min, 3).tolist()
    [[0.1, 0.5]]
    """
    values = params.values
    if params.structure == "mammillary":
        alpha, entries = _mammillary_modes(values, params.n_compartments)
    else:
        alpha, entries = _hepatic_modes(values)
    md, n = alpha.shape
    keys = inputs.filter_keys
    poles = list(alpha)
    for key in keys:
        poles.append(_nudge(values[key], poles))
    poles.append(_nudge(values["ke0_per_min"], poles))
    all_poles = np.stack(poles)
    ke0_index = len(poles) - 1
    residues: dict[tuple[str, tuple[str, ...]], FloatArray] = {}
    for path in dict.fromkeys(zip(inputs.entry, inputs.filters, strict=True)):
        entry, filt = path
        a = entries[entry]
        res = np.zeros((2, len(poles), n))
        filter_chain = [md + keys.index(k) for k in filt]
        for out_row, chain in ((0, filter_chain), (1, [*filter_chain, ke0_index])):
            ks = [all_poles[j] for j in chain]
            for i in range(md):
                coef = a[i].copy()
                for kk in ks:
                    coef *= kk / (kk - alpha[i])
                res[out_row, i] = coef
            for jpos, j in enumerate(chain):
                kj = all_poles[j]
                g = np.sum(a / (alpha - kj), axis=0)
                coef = kj * g
                for other_pos, kk in enumerate(ks):
                    if other_pos != jpos:
                        coef *= kk / (kk - kj)
                res[out_row, j] = coef
        residues[path] = res
    return Modes(all_poles, residues)


# --- segment coefficients -----------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Per-segment coefficients: ``y = const + sum_j coef_j exp(-pole_j (t - start))`` per segment.

    Attributes
    ----------
    poles : ndarray (m, n)
        The poles (1/min), pole-major.
    starts_min : ndarray (S,)
        Segment starts (the input breakpoints); before the first one the output is 0.
    table : ndarray (S, 2, m + 1, n)
        Per segment and output (plasma, effect site): the coefficient of each exponential, then
        the constant (ng/mL), patients last so that the arithmetic runs along them.
    """

    poles: FloatArray
    starts_min: FloatArray
    table: FloatArray

    @property
    def poles_per_min(self) -> FloatArray:
        """The poles as (n, m)."""
        return self.poles.T

    @property
    def const(self) -> FloatArray:
        """Constant term per segment (S, n, 2), ng/mL."""
        return self.table[:, :, -1, :].transpose(0, 2, 1)

    @property
    def coef(self) -> FloatArray:
        """Coefficients of the exponentials per segment (S, n, 2, m)."""
        return self.table[:, :, :-1, :].transpose(0, 3, 1, 2)


def plan(params: ParameterSet, inputs: Inputs) -> Plan:
    """Propagate the modal state across the input breakpoints (exactly) for all patients.

    Works on slices of at most 4,096 patients: larger slices make fewer NumPy calls, smaller
    ones keep the temporaries out of fresh memory (page faults); 4,096 was the fastest measured.

    Examples
    --------
    >>> v = {k: np.array([x]) for k, x in dict(v1_l=10.0, cl_l_per_min=1.0,
    ...      ke0_per_min=0.5).items()}
    >>> inp = Inputs(("central",), ((),), (None,), (10.0,), (0.0,), (10.0,))
    >>> p = plan(ParameterSet("mammillary", 1, v), inp)
    >>> p.starts_min.tolist(), round(float(p.const[0, 0, 0]), 6)
    ([0.0, 10.0], 1000.0)
    """
    n = params.n
    if n > _PLAN_SLICE:
        parts = [_plan_slice(params.slice(lo, lo + _PLAN_SLICE), inputs) for lo in range(0, n, _PLAN_SLICE)]
        poles = np.concatenate([poles for poles, _ in parts], axis=1)
        table = np.concatenate([table for _, table in parts], axis=3)
    else:
        poles, table = _plan_slice(params, inputs)
    return Plan(poles, np.asarray(inputs.breakpoints_min, dtype=float), table)


def _plan_slice(params: ParameterSet, inputs: Inputs) -> tuple[FloatArray, FloatArray]:
    """Poles (m, n) and table (S, 2, m + 1, n) of :func:`plan` for one slice of patients."""
    md = modes(params, inputs)
    poles = md.poles
    m, n = poles.shape
    values = params.values
    bps = inputs.breakpoints_min
    n_seg = len(bps)
    table = np.empty((n_seg, 2, m + 1, n))
    w = np.zeros((2, m, n))
    inv_poles = 1.0 / poles
    # per-input fraction times residues, (2, m, n)
    weighted = []
    for entry, filt, frac in zip(inputs.entry, inputs.filters, inputs.fraction, strict=True):
        res = md.residues[(entry, filt)]
        weighted.append(res if frac is None else res * values[frac])
    for s, b in enumerate(bps):
        u: FloatArray | None = None
        for i, (amount, start, dur) in enumerate(
            zip(inputs.amount_mg, inputs.start_min, inputs.duration_min, strict=True)
        ):
            if dur == 0.0:
                if start == b:
                    w += amount * weighted[i]
            elif start <= b < start + dur:
                u = (amount / dur) * weighted[i] if u is None else u + (amount / dur) * weighted[i]
        if u is None:
            table[s, :, :m] = w
            table[s, :, m] = 0.0
        else:
            wss = u * inv_poles
            np.subtract(w, wss, out=table[s, :, :m])
            np.sum(wss, axis=1, out=table[s, :, m])
        if s + 1 < n_seg:
            # w e^{-l D} + u (1 - e^{-l D}) / l, with expm1: no cancellation for short segments
            x = poles * -(bps[s + 1] - b)
            w = w * np.exp(x)
            if u is not None:
                w -= u * (np.expm1(x) * inv_poles)
    return poles, table


_PLAN_CACHE: dict[tuple[object, ...], Plan] = {}
_PLAN_CACHE_SIZE = 256


def _cached_plan(params: ParameterSet, inputs: Inputs) -> Plan:
    """Plan of a one-patient set, cached on its parameter values and inputs."""
    key = (params.key(), inputs)
    p = _PLAN_CACHE.get(key)
    if p is None:
        p = plan(params, inputs)
        if len(_PLAN_CACHE) >= _PLAN_CACHE_SIZE:
            _PLAN_CACHE.clear()
        _PLAN_CACHE[key] = p
    return p


# --- evaluation ------------------------------------------------------------------------------

#: Leading columns of a uniform segment computed with ``exp``, at least (see ``_eval_patients``).
_SEED = 8
#: Largest condition number (sum of |terms| over |sum|) accepted where products take over.
_MAX_CONDITION = 64.0
#: Segments with fewer exponentials per block than this are evaluated directly (overheads).
#: Where ``exp`` is scalar (NumPy vectorises float64 ``exp`` only with AVX-512; about 5 ns a
#: value on the AVX2 machine this was measured on), tiling pays from about 6,000 of them: one
#: patient's 2,400-point infusion (4 poles) costs 54 us tiled against 72 us direct.
_MIN_TILING = 8192
#: Allowed deviation of a grid from ``t0 + k * step``, in units of eps times the largest time.
_UNIFORM_ULPS = 8.0
_EPS = float(np.finfo(np.float64).eps)

_local = threading.local()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _scratch(size: int) -> FloatArray:
    """A per-thread scratch buffer of at least `size` floats (reused: no fresh pages)."""
    buf: FloatArray | None = getattr(_local, "buf", None)
    if buf is None or buf.size < size:
        buf = np.empty(max(size, 1 << 16))
        _local.buf = buf
    return buf


def _executor() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one lazily created pool per process
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 8)))
        return _pool


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


def _outputs(
    n: int, t_total: int, out: tuple[FloatArray, FloatArray] | None
) -> tuple[FloatArray, FloatArray]:
    """The (plasma, effect) arrays to fill: the caller's ``out``, checked, or two new ones."""
    if out is None:
        return np.empty((n, t_total)), np.empty((n, t_total))
    plasma, effect = out
    if plasma.shape != (n, t_total) or effect.shape != (n, t_total):
        raise ValueError(f"out: expected two arrays of shape {(n, t_total)}")
    return plasma, effect


def evaluate(
    p: Plan,
    times_min: FloatArray,
    out: tuple[FloatArray, FloatArray] | None = None,
    *,
    threads: bool = True,
) -> tuple[FloatArray, FloatArray]:
    """Evaluate a :class:`Plan` at sorted time points; returns (plasma, effect), each (n, t).

    Patients are evaluated in blocks (up to 512, fewer on long grids so that a block's scratch
    stays near 8 MB), spread over the thread pool when `threads` and there are enough of them.
    Cost per patient, segment and pole: on a uniform stretch of the grid (see
    :func:`uniform_step`) of ``nt`` points, about ``s + 2 sqrt(nt / s)`` exponentials (``s``
    the seed, 8 or more; one patient: ``2 sqrt(nt)``, :func:`_eval_one`) and a few products per
    point; otherwise (or when a
    block's segment is too small for the tiling to pay) one exponential per point.  The two
    agree to a few eps.

    Examples
    --------
    >>> v = {k: np.array([x]) for k, x in dict(v1_l=10.0, cl_l_per_min=1.0,
    ...      ke0_per_min=0.5).items()}
    >>> inp = Inputs(("central",), ((),), (None,), (10.0,), (0.0,), (0.0,))
    >>> cp, ce = evaluate(plan(ParameterSet("mammillary", 1, v), inp), np.array([0.0, 10.0]))
    >>> np.round(cp, 3).tolist()  # 10 mg into 10 L, k10 0.1/min: 1000 exp(-0.1 t) ng/mL
    [[1000.0, 367.879]]
    """
    n = p.poles.shape[1]
    t_total = times_min.shape[0]
    plasma, effect = _outputs(n, t_total, out)
    if n == 1 and t_total and plasma.strides[1] == effect.strides[1] == plasma.itemsize:
        _eval_one(p, times_min, (plasma[0], effect[0]))
        return plasma, effect
    m = p.poles.shape[0]
    block = max(1, min(_BLOCK, n, _SCRATCH_FLOATS // ((m + 3) * max(t_total, 1))))
    segments = _segments(p, times_min, block * m)
    workers = _executor()._max_workers if threads and n >= 4 * block else 1
    if workers <= 1:
        _eval_patients(p, times_min, segments, rows=(0, n), out=(plasma, effect), block=block)
        return plasma, effect
    per = -(-n // workers)
    run = partial(_eval_patients, p, times_min, segments, out=(plasma, effect), block=block)
    futures = [_executor().submit(run, rows=(lo, min(lo + per, n))) for lo in range(0, n, per)]
    for f in futures:
        f.result()
    return plasma, effect


def concentrations(
    params: ParameterSet,
    inputs: Inputs,
    times_min: FloatArray,
    out: tuple[FloatArray, FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Plasma and effect-site concentrations (ng/mL) of n patients at sorted times.

    The low-level, vectorised front door used by :func:`~ketaclinic.pkpd.simulate`, the
    population simulation and the benchmark.  No validation of the time grid beyond what is
    needed: `times_min` must be a 1-D, non-decreasing float64 array.

    Parameters
    ----------
    params : ParameterSet
        Per-patient parameters, arrays of shape ``(n,)`` (from
        :func:`~ketaclinic.pkpd.population.individual_parameters` or
        :func:`~ketaclinic.pkpd.population.sample_parameters`).
    inputs : Inputs
        Compiled inputs (from :func:`~ketaclinic.pkpd.simulate.dose_inputs`).
    times_min : ndarray, shape (t,)
        Sorted observation times (min).
    out : tuple of two ndarrays of shape (n, t), optional
        Preallocated outputs (plasma, effect site), reused to avoid fresh memory.

    Returns
    -------
    plasma_ng_per_ml, effect_site_ng_per_ml : ndarray, shape (n, t)

    Examples
    --------
    >>> v = {k: np.array([x]) for k, x in dict(v1_l=10.0, cl_l_per_min=1.0,
    ...      ke0_per_min=0.5).items()}
    >>> inp = Inputs(("central",), ((),), (None,), (10.0,), (0.0,), (0.0,))
    >>> cp, ce = concentrations(ParameterSet("mammillary", 1, v), inp, np.array([0.0, 1.0]))
    >>> np.round(ce, 2).tolist()  # 1000 * 0.5/(0.5-0.1) (exp(-0.1 t) - exp(-0.5 t))
    [[0.0, 372.88]]
    """
    n = params.n
    if n == 1:
        return evaluate(_cached_plan(params, inputs), times_min, out)
    t_total = times_min.shape[0]
    plasma, effect = _outputs(n, t_total, out)

    # The plan (many small NumPy operations, which hold the GIL) runs on this thread, chunk by
    # chunk; the pool evaluates each planned chunk (large operations that release the GIL), so
    # the planning of one chunk overlaps the evaluation of the previous ones.
    if n <= _CHUNK:
        evaluate(plan(params, inputs), times_min, (plasma, effect), threads=False)
        return plasma, effect
    futures = []
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        p = plan(params.slice(lo, hi), inputs)
        futures.append(
            _executor().submit(evaluate, p, times_min, (plasma[lo:hi], effect[lo:hi]), threads=False)
        )
    for f in futures:
        f.result()
    return plasma, effect
