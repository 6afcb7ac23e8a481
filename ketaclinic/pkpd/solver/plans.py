"""Segment coefficients: the modal state at each input breakpoint, per patient."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketaclinic.pkpd.solver.modes import modes
from ketaclinic.pkpd.solver.parameters import _PLAN_SLICE, FloatArray, Inputs, ParameterSet


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
