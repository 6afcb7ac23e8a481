"""The front door of the solver: ``concentrations`` for a population (planned in slices on the
calling thread, evaluated in blocks on the pool) and ``evaluate`` for a plan already made."""

from __future__ import annotations

from functools import partial

import numpy as np

from ketaclinic.pkpd.solver.grid import _segments
from ketaclinic.pkpd.solver.one_patient import _eval_one
from ketaclinic.pkpd.solver.parameters import (
    _BLOCK,
    _CHUNK,
    _SCRATCH_FLOATS,
    FloatArray,
    Inputs,
    ParameterSet,
)
from ketaclinic.pkpd.solver.plans import Plan, _cached_plan, plan
from ketaclinic.pkpd.solver.tiles import _eval_patients, _executor


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
