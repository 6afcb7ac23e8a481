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

Modules: ``parameters`` (what goes in), ``modes`` (poles and residues), ``plans`` (segment
coefficients), ``evaluation`` (the front door: ``evaluate`` and ``concentrations``), ``grid``
(uniform stretches of the time grid, segments worth tiling), ``tiles`` (a population, tiled),
``one_patient`` (one patient, few NumPy calls).
"""

from __future__ import annotations

from ketaclinic.pkpd.solver.evaluation import concentrations, evaluate
from ketaclinic.pkpd.solver.grid import uniform_step
from ketaclinic.pkpd.solver.modes import Modes, modes
from ketaclinic.pkpd.solver.parameters import FloatArray, Inputs, ParameterSet
from ketaclinic.pkpd.solver.plans import Plan, plan

__all__ = [
    "FloatArray",
    "Inputs",
    "Modes",
    "ParameterSet",
    "Plan",
    "concentrations",
    "evaluate",
    "modes",
    "plan",
    "uniform_step",
]
