"""Noresketamine, the metabolite of esketamine (Perez-Ruixo 2021), for one patient.

The parent's modal solver (``pkpd.solver``) gives plasma and effect-site esketamine for many
patients at once. The metabolite is formed in the liver compartment (``kmet`` times the liver's
esketamine amount) and distributes over two compartments of its own (Vcn/F 70 L, CLn/F 38 L/h,
Vpn/F 115 L, Q3/F 26.1 L/h, apparent values as published). Here the whole linear system (four
parent compartments, one depot per absorption rate, two metabolite compartments) is solved
exactly for one patient: between the inputs' breakpoints the state is
``x(t) = V exp(L tau) V^-1 (x0 + A^-1 r) - A^-1 r`` with ``A = V L V^-1`` (real eigenvalues: a
compartmental system with a one-way link to the metabolite) and ``r`` the constant input rates.
A test checks that its esketamine equals the modal solver's.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from ketaclinic.pkpd.solver import Inputs
from ketaclinic.pkpd.units import MG_PER_L_TO_NG_PER_ML

FloatArray = NDArray[np.float64]

_PARENT = ("central", "p1", "p2", "liver")


def _system(values: Mapping[str, float], depots: Mapping[str, str]) -> tuple[FloatArray, dict[str, int]]:
    """The rate matrix (1/min) on amounts and the index of each compartment; `depots` maps each
    absorption rate's depot to the compartment it empties into."""
    names = [*_PARENT, *depots, "met_central", "met_peripheral"]
    at = {n: i for i, n in enumerate(names)}
    a = np.zeros((len(names), len(names)))
    vc, vp1, vp2, vh = values["vc_l"], values["vp1_l"], values["vp2_l"], values["vh_l"]
    q1, q2, qh = values["q1_l_per_min"], values["q2_l_per_min"], values["qh_l_per_min"]
    c, p1, p2, lv = (at[n] for n in _PARENT)
    for src, dst, k in (
        (c, p1, q1 / vc),
        (p1, c, q1 / vp1),
        (c, p2, q2 / vc),
        (p2, c, q2 / vp2),
        (c, lv, qh / vc),
        (lv, c, qh / vh),
    ):
        a[dst, src] += k
        a[src, src] -= k
    a[lv, lv] -= values["kel_per_min"] + values["kmet_per_min"]
    mc, mp = at["met_central"], at["met_peripheral"]
    a[mc, lv] += values["kmet_per_min"]  # formation from the liver
    vcn, vpn = values["vcn_l"], values["vpn_l"]
    cln, q3 = values["cln_l_per_min"], values["q3_l_per_min"]
    a[mc, mc] -= (cln + q3) / vcn
    a[mp, mc] += q3 / vcn
    a[mc, mp] += q3 / vpn
    a[mp, mp] -= q3 / vpn
    for key, entry in depots.items():
        d = at[key]
        a[d, d] -= values[key]
        a[at[entry], d] += values[key]
    return a, at


def noresketamine(values: Mapping[str, float], inputs: Inputs, times_min: FloatArray) -> FloatArray:
    """Plasma noresketamine (ng/mL) and, for checking, esketamine, at `times_min`.

    Parameters
    ----------
    values : mapping
        One patient's Perez-Ruixo parameters (``typical_parameters`` names, floats), including
        ``vcn_l, cln_l_per_min, vpn_l, q3_l_per_min`` and the input fractions.
    inputs : Inputs
        The compiled regimen (``dose_inputs``); each input has at most one filter (a depot).
    times_min : ndarray (t,)
        Sorted times (min).

    Returns
    -------
    ndarray, shape (2, t)
        Row 0: noresketamine, row 1: esketamine, both ng/mL in plasma.
    """
    depots: dict[str, str] = {}
    for entry, filt in zip(inputs.entry, inputs.filters, strict=True):
        if len(filt) > 1:
            raise ValueError("inputs: the metabolite solver takes at most one depot per input")
        if filt:
            depots[filt[0]] = entry
    a, at = _system(values, depots)
    n = a.shape[0]
    lam, vec = np.linalg.eig(a)
    lam, vec = lam.real, vec.real
    inv_vec = np.linalg.inv(vec)
    inv_a = np.linalg.inv(a)
    boluses: list[tuple[float, int, float]] = []
    rates: list[tuple[float, float, int, float]] = []
    for entry, filt, frac, mg, start, dur in zip(
        inputs.entry,
        inputs.filters,
        inputs.fraction,
        inputs.amount_mg,
        inputs.start_min,
        inputs.duration_min,
        strict=True,
    ):
        amount = mg * (1.0 if frac is None else values[frac])
        target = at[filt[0]] if filt else at[entry]
        if dur > 0:
            rates.append((start, start + dur, target, amount / dur))
        else:
            boluses.append((start, target, amount))
    points = sorted({0.0, *inputs.breakpoints_min, float(times_min[-1])})
    out = np.zeros((2, times_min.size))
    x = np.zeros(n)
    for lo, hi in zip(points[:-1], points[1:], strict=True):
        for t, target, amount in boluses:
            if t == lo:
                x[target] += amount
        r = np.zeros(n)
        for t0, t1, target, rate in rates:
            if t0 <= lo < t1:
                r[target] += rate
        steady = -inv_a @ r  # the state this input rate would settle at
        coef = inv_vec @ (x - steady)
        last = hi == points[-1]
        mask = (times_min >= lo) & ((times_min <= hi) if last else (times_min < hi))
        tau = times_min[mask] - lo
        states = vec @ (coef[:, None] * np.exp(np.outer(lam, tau))) + steady[:, None]
        out[0, mask] = states[at["met_central"]] / values["vcn_l"] * MG_PER_L_TO_NG_PER_ML
        out[1, mask] = states[at["central"]] / values["vc_l"] * MG_PER_L_TO_NG_PER_ML
        x = vec @ (coef * np.exp(lam * (hi - lo))) + steady
    # the eigenvector sums leave rounding of about 1e-12 ng/mL around zero: no negative amounts
    return np.maximum(out, 0.0)
