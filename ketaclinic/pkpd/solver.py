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
grid (the usual case) most exponentials come from a few exact ones by doubling,
``exp(-l (t0 + (k + f) h)) = exp(-l (t0 + k h)) * exp(-l f h)`` with ``f`` = 32, 64, 128, ...:
each value is a product of at most ``log2`` (number of points) correctly rounded exponentials, so
it agrees with a direct ``exp`` to a few eps (no error growing with ``k``, unlike repeated
multiplication by ``exp(-l h)``).

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

import math
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ketaclinic.pkpd.models import Structure
from ketaclinic.pkpd.units import MG_PER_L_TO_NG_PER_ML

FloatArray = NDArray[np.float64]

#: Relative distance under which two poles are treated as coincident, and the relative move.
_COINCIDENT_RTOL = 1e-8
_NUDGE = 2e-8
#: Inputs shorter than this (min) are instantaneous.
_MIN_DURATION = 1e-9
#: Patients per planning chunk (one thread task).
_CHUNK = 4096
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
        :func:`ketaclinic.pkpd.models.typical_parameters` for the names).
    """

    structure: Structure
    n_compartments: int
    values: Mapping[str, FloatArray]

    @property
    def n(self) -> int:
        """Number of patients."""
        return int(next(iter(self.values.values())).shape[0])

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
    """Poles (n, m) and central-input residues (ng/mL per mg) of a mammillary model."""
    v1 = values["v1_l"]
    k10 = values["cl_l_per_min"] / v1
    scale = MG_PER_L_TO_NG_PER_ML / v1
    if n_cmt == 1:
        return k10[:, None].copy(), {"central": scale[:, None].copy()}
    k12 = values["q2_l_per_min"] / v1
    k21 = values["q2_l_per_min"] / values["v2_l"]
    if n_cmt == 2:
        s = k10 + k12 + k21
        root = np.sqrt(np.maximum(s * s - 4.0 * k10 * k21, 0.0))
        a1 = 0.5 * (s + root)
        a2 = k10 * k21 / a1  # product of roots; avoids cancellation for the slow pole
        alpha = np.stack((a1, a2), axis=1)
        r1 = (k21 - a1) / (a2 - a1)
        r2 = (k21 - a2) / (a1 - a2)
        return alpha, {"central": np.stack((r1, r2), axis=1) * scale[:, None]}
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
    k = np.arange(3.0) * (2.0 * np.pi / 3.0)
    alpha = m[:, None] * np.cos(theta[:, None] - k) + (c2 / 3.0)[:, None]
    # one Newton step on f(a) = a^3 - c2 a^2 + c1 a - c0 polishes the small roots
    f = ((alpha - c2[:, None]) * alpha + c1[:, None]) * alpha - c0[:, None]
    df = (3.0 * alpha - 2.0 * c2[:, None]) * alpha + c1[:, None]
    alpha = alpha - f / df
    a0, a1_, a2_ = alpha[:, 0], alpha[:, 1], alpha[:, 2]
    r0 = (k21 - a0) * (k31 - a0) / ((a1_ - a0) * (a2_ - a0))
    r1 = (k21 - a1_) * (k31 - a1_) / ((a0 - a1_) * (a2_ - a1_))
    r2 = (k21 - a2_) * (k31 - a2_) / ((a0 - a2_) * (a1_ - a2_))
    return alpha, {"central": np.stack((r0, r1, r2), axis=1) * scale[:, None]}


def _hepatic_modes(values: Mapping[str, FloatArray]) -> tuple[FloatArray, dict[str, FloatArray]]:
    """Poles and residues of the Perez-Ruixo structure from the symmetric eigenproblem.

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
    return alpha, {"central": central, "liver": liver}


def _nudge(k: FloatArray, others: Sequence[FloatArray]) -> FloatArray:
    """Move `k` by a relative 2e-8 where it coincides with any pole in `others`."""
    out = k
    for other in others:
        close = np.abs(out[:, None] - other.reshape(out.shape[0], -1)) <= _COINCIDENT_RTOL * out[:, None]
        if close.any():
            out = np.where(close.any(axis=1), out * (1.0 + _NUDGE), out)
    return out


@dataclass(frozen=True)
class Modes:
    """Modal decomposition of one model for a set of patients and inputs.

    Attributes
    ----------
    poles_per_min : ndarray, shape (n, m)
        Decay rates (1/min) of all modes: disposition, then filters, then ke0.
    residues : dict of (str, tuple of str) -> ndarray, shape (n, 2, m)
        Per input path (entry, filters): coefficients of ``exp(-pole t)`` for plasma (row 0) and
        effect site (row 1), ng/mL per mg entering.
    """

    poles_per_min: FloatArray
    residues: dict[tuple[str, tuple[str, ...]], FloatArray]


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
    n, md = alpha.shape
    keys = inputs.filter_keys
    poles = [alpha[:, i] for i in range(md)]
    for key in keys:
        poles.append(_nudge(values[key], poles))
    poles.append(_nudge(values["ke0_per_min"], poles))
    all_poles = np.stack(poles, axis=1)
    ke0_index = len(poles) - 1
    residues: dict[tuple[str, tuple[str, ...]], FloatArray] = {}
    for path in dict.fromkeys(zip(inputs.entry, inputs.filters, strict=True)):
        entry, filt = path
        a = entries[entry]
        res = np.zeros((n, 2, len(poles)))
        filter_chain = [md + keys.index(k) for k in filt]
        for out_row, chain in ((0, filter_chain), (1, [*filter_chain, ke0_index])):
            ks = [all_poles[:, j] for j in chain]
            for i in range(md):
                coef = a[:, i].copy()
                for kk in ks:
                    coef *= kk / (kk - alpha[:, i])
                res[:, out_row, i] = coef
            for jpos, j in enumerate(chain):
                kj = all_poles[:, j]
                g = np.sum(a / (alpha - kj[:, None]), axis=1)
                coef = kj * g
                for other_pos, kk in enumerate(ks):
                    if other_pos != jpos:
                        coef *= kk / (kk - kj)
                res[:, out_row, j] = coef
        residues[path] = res
    return Modes(all_poles, residues)


# --- segment coefficients -----------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Per-segment coefficients: ``y = const + coef @ exp(-poles (t - start))`` per segment.

    Attributes
    ----------
    poles_per_min : ndarray (n, m)
    starts_min : ndarray (S,)
        Segment starts (the input breakpoints); before the first one the output is 0.
    const : ndarray (S, n, 2)
        Constant term per segment (plasma, effect site), ng/mL.
    coef : ndarray (S, n, 2, m)
        Coefficients of the exponentials per segment.
    augmented : ndarray (S, n, 2, m + 1)
        ``coef`` with ``const`` appended as a last column (derived).
    """

    poles_per_min: FloatArray
    starts_min: FloatArray
    const: FloatArray
    coef: FloatArray
    augmented: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # [coef, const] (S, n, 2, m + 1): the evaluation multiplies it by [exp; 1]
        object.__setattr__(self, "augmented", np.concatenate((self.coef, self.const[..., None]), axis=3))


def plan(params: ParameterSet, inputs: Inputs) -> Plan:
    """Propagate the modal state across the input breakpoints (exactly) for all patients.

    Examples
    --------
    >>> v = {k: np.array([x]) for k, x in dict(v1_l=10.0, cl_l_per_min=1.0,
    ...      ke0_per_min=0.5).items()}
    >>> inp = Inputs(("central",), ((),), (None,), (10.0,), (0.0,), (10.0,))
    >>> p = plan(ParameterSet("mammillary", 1, v), inp)
    >>> p.starts_min.tolist(), round(float(p.const[0, 0, 0]), 6)
    ([0.0, 10.0], 1000.0)
    """
    md = modes(params, inputs)
    poles = md.poles_per_min
    n, m = poles.shape
    values = params.values
    bps = inputs.breakpoints_min
    n_seg = len(bps)
    const = np.empty((n_seg, n, 2))
    coef = np.empty((n_seg, n, 2, m))
    w = np.zeros((n, 2, m))
    inv_poles = 1.0 / poles[:, None, :]
    # per-input fraction times residues, (n, 2, m)
    weighted = []
    for entry, filt, frac in zip(inputs.entry, inputs.filters, inputs.fraction, strict=True):
        res = md.residues[(entry, filt)]
        weighted.append(res if frac is None else res * values[frac][:, None, None])
    for s, b in enumerate(bps):
        u = np.zeros((n, 2, m))
        for i, (amount, start, dur) in enumerate(
            zip(inputs.amount_mg, inputs.start_min, inputs.duration_min, strict=True)
        ):
            if dur == 0.0:
                if start == b:
                    w += amount * weighted[i]
            elif start <= b < start + dur:
                u += (amount / dur) * weighted[i]
        wss = u * inv_poles
        coef[s] = w - wss
        const[s] = wss.sum(axis=2)
        if s + 1 < n_seg:
            # w e^{-l D} + u (1 - e^{-l D}) / l, with expm1: no cancellation for short segments
            x = -poles * (bps[s + 1] - b)
            w = w * np.exp(x)[:, None, :] - u * (np.expm1(x) * inv_poles[:, 0, :])[:, None, :]
    return Plan(poles, np.asarray(bps, dtype=float), const, coef)


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

#: Leading time points of a uniform segment computed with ``exp``; the rest follow by doubling.
_SEED = 32
#: At most this many doubling rounds: longer segments get a longer exponential seed.
_ROUNDS = 4
#: Segments with fewer exponentials per block than this use ``exp`` throughout (overheads).
_MIN_DOUBLING = 32768
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


def _deviation(times: FloatArray, step: float) -> FloatArray:
    """``times - k * step`` in a per-thread scratch buffer (valid until its next use)."""
    n = times.shape[0]
    d = _scratch(n)[:n]
    np.multiply(_arange(n), -step, out=d)
    np.add(d, times, out=d)
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


def _fill_exp(e: FloatArray, neg_poles: FloatArray, dt: FloatArray, step: float | None) -> None:
    """``e[r, k] = exp(neg_poles[r] * dt[k])`` for rows ``r`` (``neg_poles`` (rows, 1)).

    On a uniform grid (``step`` not None) only the first ``seed`` columns are exponentials
    (``dt`` holds those); the others follow by doubling, ``e[:, f + k] = e[:, k] *
    exp(neg_poles * f * step)``, so every element is a product of at most ``log2(nt)``
    correctly rounded exponentials: a relative error of a few eps, not the ``k eps`` of repeated
    multiplication by ``exp(-pole * step)``.  Otherwise ``dt`` holds every column.
    """
    nt = e.shape[1]
    seed = dt.shape[0]
    np.multiply(neg_poles, dt, out=e[:, :seed])
    np.exp(e[:, :seed], out=e[:, :seed])
    if seed == nt or step is None:
        return
    offsets = []
    f = seed
    while f < nt:
        offsets.append(f)
        f *= 2
    factors = np.exp(neg_poles * (step * np.array(offsets, dtype=float)))
    for i, f in enumerate(offsets):
        take = min(f, nt - f)
        np.multiply(e[:, :take], factors[:, i : i + 1], out=e[:, f : f + take])


def _seed(nt: int, step: float | None) -> int:
    """Number of leading columns of a segment computed with ``exp``."""
    if step is None:
        return nt
    return min(nt, max(_SEED, -(-nt >> _ROUNDS)))


def _eval_block(
    p: Plan,
    times: FloatArray,
    segments: list[tuple[int, int, float | None]],
    rows: tuple[int, int],
    out: tuple[FloatArray, FloatArray],
) -> None:
    """Evaluate patients lo:hi at every time point into the output rows.

    Per segment, an (m + 1, nb, nt) block holds the exponentials (pole-major, so that they
    form one 2-D array of nb * m rows) and a row of ones; one batched matrix product per
    output, ``[coef, const] @ [exp; 1]``, writes straight into the output rows (no
    intermediate array, no separate pass for the constant).
    """
    lo, hi = rows
    plasma, effect = out
    m = p.poles_per_min.shape[1]
    nb = hi - lo
    first = segments[0][0]
    plasma[lo:hi, :first] = 0.0
    effect[lo:hi, :first] = 0.0
    neg_poles = (-p.poles_per_min[lo:hi].T).reshape(m * nb, 1)
    coef = p.augmented[:, lo:hi]
    longest = max(b - a for a, b, _ in segments)
    size = (m + 1) * nb * longest
    buf = _scratch(size + longest)
    for s, (a, b, step) in enumerate(segments):
        nt = b - a
        if nt == 0:
            continue
        e = buf[: (m + 1) * nb * nt].reshape(m + 1, nb, nt)
        dt = buf[size : size + _seed(nt, step)]
        np.subtract(times[a : a + dt.shape[0]], p.starts_min[s], out=dt)
        _fill_exp(e[:m].reshape(m * nb, nt), neg_poles, dt, step)
        e[m] = 1.0
        per_patient = e.transpose(1, 0, 2)  # (nb, m + 1, nt), a view
        np.matmul(coef[s, :, 0:1], per_patient, out=plasma[lo:hi, None, a:b])
        np.matmul(coef[s, :, 1:2], per_patient, out=effect[lo:hi, None, a:b])


def _segments(p: Plan, times: FloatArray, rows: int) -> list[tuple[int, int, float | None]]:
    """Index ranges of `times` in each segment of `p`, with the step of uniform ones.

    Only segments worth doubling (at least ``_MIN_DOUBLING`` exponentials for `rows` rows) are
    tested.  One pass over the grid tests them against the grid's overall step; a segment that
    fails (a grid uniform piecewise only) is tested on its own.
    """
    t_total = times.shape[0]
    bounds = [int(i) for i in np.searchsorted(times, p.starts_min, side="left")]
    bounds.append(t_total)
    ranges = list(zip(bounds[:-1], bounds[1:], strict=True))
    steps: list[float | None] = [None] * len(ranges)
    wanted = [b - a > _SEED and (b - a) * rows >= _MIN_DOUBLING for a, b in ranges]
    step = _grid_step(times) if any(wanted) else None
    if step is not None:
        lo = min(a for (a, _), w in zip(ranges, wanted, strict=True) if w)
        d = _deviation(times[lo:], step)
        for i, (a, b) in enumerate(ranges):
            if wanted[i] and _flat(d[a - lo : b - lo], float(times[a]), float(times[b - 1])):
                steps[i] = step
        for i, (a, b) in enumerate(ranges):
            if wanted[i] and steps[i] is None:
                steps[i] = uniform_step(times[a:b])
    return [(a, b, st) for (a, b), st in zip(ranges, steps, strict=True)]


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
    :func:`uniform_step`) of ``nt`` points, ``max(32, nt / 16)`` exponentials and one
    multiplication per further point; otherwise (or when a block's segment is too small for
    the doubling to pay) one exponential per point.  The two agree to a few eps.

    Examples
    --------
    >>> v = {k: np.array([x]) for k, x in dict(v1_l=10.0, cl_l_per_min=1.0,
    ...      ke0_per_min=0.5).items()}
    >>> inp = Inputs(("central",), ((),), (None,), (10.0,), (0.0,), (0.0,))
    >>> cp, ce = evaluate(plan(ParameterSet("mammillary", 1, v), inp), np.array([0.0, 10.0]))
    >>> np.round(cp, 3).tolist()  # 10 mg into 10 L, k10 0.1/min: 1000 exp(-0.1 t) ng/mL
    [[1000.0, 367.879]]
    """
    n = p.poles_per_min.shape[0]
    t_total = times_min.shape[0]
    if out is None:
        plasma = np.empty((n, t_total))
        effect = np.empty((n, t_total))
    else:
        plasma, effect = out
        if plasma.shape != (n, t_total) or effect.shape != (n, t_total):
            raise ValueError(f"out: expected two arrays of shape {(n, t_total)}")
    m = p.poles_per_min.shape[1]
    block = max(1, min(_BLOCK, n, _SCRATCH_FLOATS // ((m + 1) * max(t_total, 1))))
    segments = _segments(p, times_min, block * m)
    blocks = [(lo, min(lo + block, n)) for lo in range(0, n, block)]
    workers = _executor()._max_workers if threads and n >= 4 * block else 1
    if workers <= 1:
        for lo, hi in blocks:
            _eval_block(p, times_min, segments, (lo, hi), (plasma, effect))
        return plasma, effect

    def run(chunk: list[tuple[int, int]]) -> None:
        for lo, hi in chunk:
            _eval_block(p, times_min, segments, (lo, hi), (plasma, effect))

    per = -(-len(blocks) // workers)
    futures = [_executor().submit(run, blocks[i : i + per]) for i in range(0, len(blocks), per)]
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
    if out is None:
        plasma = np.empty((n, t_total))
        effect = np.empty((n, t_total))
    else:
        plasma, effect = out
        if plasma.shape != (n, t_total) or effect.shape != (n, t_total):
            raise ValueError(f"out: expected two arrays of shape {(n, t_total)}")

    # plan and evaluate chunk by chunk, so the per-patient coefficients stay in cache
    def run(lo: int, hi: int) -> None:
        sub = ParameterSet(
            params.structure, params.n_compartments, {k: v[lo:hi] for k, v in params.values.items()}
        )
        evaluate(plan(sub, inputs), times_min, (plasma[lo:hi], effect[lo:hi]), threads=False)

    chunks = [(lo, min(lo + _CHUNK, n)) for lo in range(0, n, _CHUNK)]
    if len(chunks) == 1:
        run(*chunks[0])
    else:
        for f in [_executor().submit(run, lo, hi) for lo, hi in chunks]:
            f.result()
    return plasma, effect
