"""An independent ODE reference solution for the engine tests."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from ketaclinic.pkpd.solver import Inputs, ParameterSet


def ode_reference(  # noqa: PLR0915 - one self-contained reference builder
    params: ParameterSet, inputs: Inputs, times: np.ndarray, index: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Plasma and effect-site concentrations (ng/mL) by solve_ivp (Radau, rtol 1e-10).

    Builds the ODE from the physical description (amounts in compartments, depots, zero-order
    inputs), independently of the modal solver, and integrates piecewise between breakpoints
    so that boluses and the starts and ends of infusions are handled exactly.
    """
    v = {k: float(a[index]) for k, a in params.values.items()}
    paths = list(dict.fromkeys(zip(inputs.entry, inputs.filters, strict=True)))
    if params.structure == "mammillary":
        n_cmt = params.n_compartments
        vols = [v["v1_l"], v.get("v2_l", 0.0), v.get("v3_l", 0.0)][:n_cmt]
        flows = [v.get("q2_l_per_min", 0.0), v.get("q3_l_per_min", 0.0)][: n_cmt - 1]
        n_disp = n_cmt
    else:
        vols = [v["vc_l"], v["vp1_l"], v["vp2_l"], v["vh_l"]]
        flows = [v["q1_l_per_min"], v["q2_l_per_min"], v["qh_l_per_min"]]
        n_disp = 4
    entry_index = {"central": 0, "liver": 3}
    n_depots = len(paths)
    n_state = n_disp + n_depots + 1  # + effect site (ng/mL)
    ke0 = v["ke0_per_min"]

    def rhs(_t: float, x: np.ndarray, rates: np.ndarray) -> np.ndarray:
        dx = np.zeros(n_state)
        c = x[:n_disp] / np.array(vols)
        if params.structure == "mammillary":
            dx[0] -= v["cl_l_per_min"] * c[0]
            for j, q in enumerate(flows, start=1):
                dx[0] -= q * (c[0] - c[j])
                dx[j] += q * (c[0] - c[j])
        else:
            for j, q in enumerate(flows, start=1):
                dx[0] -= q * (c[0] - c[j])
                dx[j] += q * (c[0] - c[j])
            dx[3] -= (v["kel_per_min"] + v["kmet_per_min"]) * x[3]
        for d, (entry, filt) in enumerate(paths):
            target = entry_index[entry]
            if filt:
                k = v[filt[0]]
                dx[n_disp + d] += rates[d] - k * x[n_disp + d]
                dx[target] += k * x[n_disp + d]
            else:
                dx[target] += rates[d]
        dx[-1] = ke0 * (1000.0 * c[0] - x[-1])
        return dx

    def bolus_target(path_index: int) -> int:
        entry, filt = paths[path_index]
        return n_disp + path_index if filt else entry_index[entry]

    fracs = [1.0 if f is None else v[f] for f in inputs.fraction]
    path_of = [paths.index(p) for p in zip(inputs.entry, inputs.filters, strict=True)]
    bps = sorted(set(inputs.breakpoints_min))
    final_end = max(float(times[-1]), bps[-1])
    x = np.zeros(n_state)
    plasma = np.zeros(times.size)
    effect = np.zeros(times.size)
    for s, b in enumerate(bps):
        for i, (a, st, du) in enumerate(
            zip(inputs.amount_mg, inputs.start_min, inputs.duration_min, strict=True)
        ):
            if du == 0.0 and st == b:
                x[bolus_target(path_of[i])] += a * fracs[i]
        rates = np.zeros(n_depots)
        for i, (a, st, du) in enumerate(
            zip(inputs.amount_mg, inputs.start_min, inputs.duration_min, strict=True)
        ):
            if du > 0 and st <= b < st + du:
                rates[path_of[i]] += a * fracs[i] / du
        last = s + 1 == len(bps)
        seg_end = final_end if last else bps[s + 1]
        mask = (times >= b) & (True if last else times < seg_end)
        if seg_end > b:
            sol = solve_ivp(
                rhs,
                (b, seg_end),
                x,
                method="Radau",
                rtol=1e-10,
                atol=1e-14,
                args=(rates,),
                dense_output=True,
            )
            y = sol.sol(times[mask]) if mask.any() else None
            x = sol.y[:, -1].copy()
        else:
            y = np.repeat(x[:, None], int(mask.sum()), axis=1)
        if y is not None and mask.any():
            plasma[mask] = 1000.0 * y[0] / vols[0]
            effect[mask] = y[-1]
    return plasma, effect
