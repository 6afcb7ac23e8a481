"""Disposition: the poles and residues of each patient's model, closed form or from ``eigh``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ketaclinic.pkpd.solver.parameters import _COINCIDENT_RTOL, _NUDGE, FloatArray, Inputs, ParameterSet
from ketaclinic.pkpd.units import MG_PER_L_TO_NG_PER_ML


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
