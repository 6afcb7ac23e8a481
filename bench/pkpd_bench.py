"""Benchmark the ketaclinic PK/PD engine against its peers, in one run, on one machine.

Run it from the repository root::

    .venv/bin/python bench/pkpd_bench.py            # full run (about a minute)
    .venv/bin/python bench/pkpd_bench.py --quick    # fewer repeats, for a smoke test

Cases
-----
(a) one simulation: Domino 3-compartment model with an effect site, 0.5 mg/kg for a 70 kg adult
    (35 mg) infused over 40 minutes, observed for 6 hours at 1-second resolution (21,601 points);
(b) a population: 100,000 patients, same regimen, 6 hours at 1-minute resolution (361 points), plasma
    and effect site, through the engine's low-level vectorized path.

Peers (none of them is a project dependency; ``pip install -e '.[bench]'`` adds PyTCI)
-------------------------------------------------------------------------------------
* scipy ``solve_ivp`` (LSODA) on the same linear ODE (amounts in three compartments plus the
  effect-site concentration), integrated in two pieces so the infusion stop is not smeared.
* PyTCI, ``pip install pytci==1.2.0``: a ``PyTCI.models.base.Three`` subclass with the Domino
  parameters, with its exact integrator (augmented matrix exponential) and its default Euler one
  (one-second steps).
* opentiva's ``ketamine.Domino`` model with its ``Pump``. Its source package builds on Python 3.11
  only with Cython 3 present and without build isolation (which regenerates its C file)::

      pip install wheel "cython>=3"
      pip install --no-build-isolation opentiva

  opentiva only offers its own effect-site ke0 (0.652 /min); the bench sets the engine's ke0 on the
  model object so that all programs compute the same curve.
* a bare closed-form NumPy evaluation of the same sums of exponentials, written here: coefficients and
  exponents precomputed once, then one vectorized ``np.exp`` over the time grid. It is the floor for
  any exact evaluation in NumPy.

For the population case the only peer is PyTCI looped per patient (exact integrator, its own
``giveoverseconds``/``wait_time`` API, one-minute steps, effect site as PyTCI computes it). It is
measured on samples of 200 new, distinct patients and extrapolated per patient-timepoint; engine and
PyTCI are timed in turns (9 of each) so that both see the same load, and the ratio is the median of
the per-turn ratios (the bench prints their range).

BLAS runs single-threaded (``OPENBLAS_NUM_THREADS=1`` unless set): the engine has its own thread
pool over patients, and a threaded BLAS costs PyTCI milliseconds per 5 x 5 matrix exponential here.

Every figure is the median of several repeats timed with ``time.perf_counter``. Before timing, the
bench checks that every peer reproduces the engine's curve and prints the largest relative
difference, so the comparison is between programs that compute the same thing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

# One BLAS thread: the engine parallelises over patients itself, and a threaded BLAS on the
# 5 x 5 matrices of PyTCI's expm takes milliseconds per call here (the pool's wake-ups on a
# shared 2-CPU machine), which would slow PyTCI for a reason that is not PyTCI's.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402 - after the BLAS thread settings
from numpy.typing import NDArray  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FloatArray = NDArray[np.float64]

WEIGHT_KG = 70.0
DOSE_MG_PER_KG = 0.5
INFUSION_MIN = 40.0
HORIZON_MIN = 360.0
REGIMEN_TEXT = "iv 0.5 mg/kg over 40 min"
POPULATION_N = 100_000
TARGETS = {
    "opentiva": 50.0,
    "solve_ivp LSODA": 100.0,
    "PyTCI exact": 500.0,
}


@dataclass(frozen=True)
class Domino:
    """Domino parameters for one 70 kg patient, in litres and per minute."""

    v1_l: float
    k10: float
    k12: float
    k13: float
    k21: float
    k31: float
    ke0: float


def median_time(fn: Callable[[], object], repeats: int, min_total_s: float = 0.2) -> float:
    """Median wall time of ``fn`` in seconds; calls it in inner loops for very fast functions."""
    fn()  # warm caches and imports
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    inner = max(1, int(min_total_s / max(once, 1e-9) / repeats))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:9.1f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:9.2f} ms"
    return f"{seconds:9.2f} s "


def max_rel_diff(a: FloatArray, b: FloatArray) -> float:
    """Largest |a-b| relative to the peak of b (relative error where the curve matters)."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------------------------
# The bare closed form: sums of exponentials, precomputed once, one np.exp over the grid.
# --------------------------------------------------------------------------------------------


def domino_exponentials(p: Domino) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Exponents (/min) and unit-bolus coefficients (1/L) of plasma and effect site.

    Plasma after a unit bolus: sum_i a_i exp(-lam_i t). Effect site: the same convolved with
    ke0 exp(-ke0 t), which adds a fourth exponent ke0.
    """
    k = np.array(
        [
            [-(p.k10 + p.k12 + p.k13), p.k21, p.k31],
            [p.k12, -p.k21, 0.0],
            [p.k13, 0.0, -p.k31],
        ]
    )
    lam = np.sort(-np.linalg.eigvals(k).real)
    # Residues of (s + k21)(s + k31) / prod(s + lam_j) at s = -lam_i, over V1.
    a = np.empty(3)
    for i in range(3):
        others = [lam[j] for j in range(3) if j != i]
        a[i] = (p.k21 - lam[i]) * (p.k31 - lam[i]) / ((others[0] - lam[i]) * (others[1] - lam[i])) / p.v1_l
    e_lam = np.append(lam, p.ke0)
    e_coef = np.append(a * p.ke0 / (p.ke0 - lam), -np.sum(a * p.ke0 / (p.ke0 - lam)))
    return lam, a, np.vstack([e_lam, e_coef])


class ClosedForm:
    """Constant-rate infusion from 0 to T through sums of exponentials, vectorized over time.

    The work arrays are allocated once per time grid and reused: on these machines fresh memory for
    mid-sized arrays costs several times more than the exponentials themselves.
    """

    def __init__(self, p: Domino, rate_mg_per_min: float, duration_min: float) -> None:
        lam, a, eff = domino_exponentials(p)
        # The effect site's exponents include the plasma ones: one exp each, shared by both outputs.
        unique = np.append(lam, p.ke0)
        self.neg_lam = -unique[:, None]
        c_plasma = np.append(rate_mg_per_min * a / lam, 0.0)
        c_effect = rate_mg_per_min * eff[1] / eff[0]
        coef = np.vstack([c_plasma, c_effect]) * 1000.0  # (2, 4), ng/mL
        # Running: c (1 - e^{-lam t}); stopped: c (e^{lam T} - 1) e^{-lam t}.
        self.during = -coef
        self.during_const = coef.sum(axis=1)[:, None]
        self.after = coef * np.expm1(unique * duration_min)
        self.duration = duration_min
        self._grid: FloatArray | None = None

    def _workspace(self, t_min: FloatArray) -> None:
        if self._grid is not t_min:
            self._grid = t_min
            self._e = np.empty((4, t_min.size))
            self._out = np.empty((2, t_min.size))
            self._split = int(np.searchsorted(t_min, self.duration, side="right"))

    def __call__(self, t_min: FloatArray) -> FloatArray:
        """Plasma and effect-site concentrations in ng/mL, shape (2, len(t)) (a reused buffer)."""
        self._workspace(t_min)
        e, out, n = self._e, self._out, self._split
        np.multiply(self.neg_lam, t_min, out=e)
        np.exp(e, out=e)
        np.matmul(self.during, e[:, :n], out=out[:, :n])
        out[:, :n] += self.during_const
        np.matmul(self.after, e[:, n:], out=out[:, n:])
        return out


# --------------------------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------------------------


def solve_ivp_domino(p: Domino, rate: float, duration: float, t_min: FloatArray) -> FloatArray:
    """LSODA on amounts (mg) in three compartments plus the effect-site concentration (mg/L)."""
    from scipy.integrate import solve_ivp

    def rhs(_t: float, y: FloatArray, r: float) -> list[float]:
        a1, a2, a3, ce = y
        return [
            r - (p.k10 + p.k12 + p.k13) * a1 + p.k21 * a2 + p.k31 * a3,
            p.k12 * a1 - p.k21 * a2,
            p.k13 * a1 - p.k31 * a3,
            p.ke0 * (a1 / p.v1_l - ce),
        ]

    split = int(np.searchsorted(t_min, duration, side="right"))
    first = solve_ivp(
        rhs,
        (0.0, duration),
        [0.0, 0.0, 0.0, 0.0],
        method="LSODA",
        t_eval=t_min[:split],
        args=(rate,),
        rtol=1e-8,
        atol=1e-12,
    )
    y0 = first.y[:, -1] if t_min[split - 1] == duration else None
    if y0 is None:  # grid does not contain the stop time: integrate to it exactly
        y0 = solve_ivp(
            rhs, (0.0, duration), [0, 0, 0, 0], method="LSODA", args=(rate,), rtol=1e-8, atol=1e-12
        ).y[:, -1]
    second = solve_ivp(
        rhs,
        (duration, float(t_min[-1])),
        y0,
        method="LSODA",
        t_eval=t_min[split:],
        args=(0.0,),
        rtol=1e-8,
        atol=1e-12,
    )
    return np.vstack(
        [
            np.concatenate([first.y[0], second.y[0]]) / p.v1_l * 1000.0,
            np.concatenate([first.y[3], second.y[3]]) * 1000.0,
        ]
    )


_PYTCI_CLASS: Any = None


def pytci_model(p: Domino, integrator: str) -> Any:
    """A PyTCI ``Three`` model with the Domino parameters (the subclass is defined once)."""
    global _PYTCI_CLASS  # noqa: PLW0603 - PyTCI is optional: define the subclass on first use
    if _PYTCI_CLASS is None:
        from PyTCI.models.base import Three

        class DominoKetamine(Three):  # type: ignore[misc]
            def __init__(self, q: Domino, method: str) -> None:
                self.v1 = q.v1_l
                self.k10, self.k12, self.k13 = q.k10, q.k12, q.k13
                self.k21, self.k31, self.keo = q.k21, q.k31, q.ke0
                self.setup()
                self.set_integrator(method)

        _PYTCI_CLASS = DominoKetamine
    return _PYTCI_CLASS(p, integrator)


def pytci_run(
    p: Domino, rate: float, duration_s: int, end_s: int, step_s: int, *, integrator: str
) -> FloatArray:
    """Plasma and effect site (ng/mL) every ``step_s`` seconds from 0 to ``end_s`` inclusive."""
    m = pytci_model(p, integrator)
    n = end_s // step_s + 1
    out = np.zeros((2, n))
    rate_mg_per_s = rate / 60.0
    for i in range(1, n):
        if i * step_s <= duration_s:
            m.giveoverseconds(rate_mg_per_s, step_s)
        else:
            m.wait_time(step_s)
        out[0, i] = m.x1
        out[1, i] = m.xeo
    return out * 1000.0


def opentiva_run(p: Domino, rate: float, duration_s: int, end_s: int) -> FloatArray:
    """opentiva Pump with a user infusion; returns concentrations at seconds 0 .. end_s-1."""
    import opentiva.ketamine
    import opentiva.pump

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = opentiva.ketamine.Domino(sex=0, age=40, weight=WEIGHT_KG, height=170)
    model.ke0 = p.ke0  # use the engine's ke0 so the effect sites are comparable
    pump = opentiva.pump.Pump(model, drug_concentration=10, end_time=end_s)
    pump.add_infusion(start=0, dose=rate / 60.0, duration=duration_s)
    conc = pump.run()
    return np.vstack([conc[:, 1], conc[:, 2]]) * 1000.0


# --------------------------------------------------------------------------------------------
# Our engine
# --------------------------------------------------------------------------------------------


def engine_domino() -> Domino:
    """Domino parameters as the engine's registry holds them, for a 70 kg patient."""
    from ketaclinic.pkpd import get_model

    rec = get_model("domino")

    def value(key: str) -> float:
        return float(rec.params[key].value)

    return Domino(
        v1_l=value("v1_l_per_kg") * WEIGHT_KG,
        k10=value("k10_per_min"),
        k12=value("k12_per_min"),
        k13=value("k13_per_min"),
        k21=value("k21_per_min"),
        k31=value("k31_per_min"),
        ke0=float(rec.ke0_per_min.value),
    )


def ratio_line(name: str, ours: float, theirs: float | None, target: float | None) -> str:
    if theirs is None:
        return f"  vs {name:<22} skipped"
    ratio = theirs / ours
    verdict = ""
    if target is not None:
        verdict = f"   target >= {target:g}x: {'PASS' if ratio >= target else 'MISS'}"
    return f"  vs {name:<22} {ratio:10.1f}x faster{verdict}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 15

    import ketaclinic.pkpd as pk

    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"numpy {np.__version__}; load average {load_average()}"
    )
    print(
        f"ketaclinic {version('ketaclinic')}, scipy {version('scipy')}, pytci {version('pytci')}, "
        f"opentiva {version('opentiva')}"
    )
    p = engine_domino()
    dose_mg = DOSE_MG_PER_KG * WEIGHT_KG
    rate = dose_mg / INFUSION_MIN
    print(
        f"model: Domino, V1 {p.v1_l:.3f} L, k10 {p.k10} k12 {p.k12} k13 {p.k13} k21 {p.k21} "
        f"k31 {p.k31} /min, ke0 {p.ke0} /min; regimen {REGIMEN_TEXT!r} ({dose_mg:g} mg, 70 kg)"
    )

    case_single(pk, p, rate, repeats, args.quick)
    case_population(pk, p, rate, args.quick)
    print(f"\nload average at the end {load_average()}")
    return 0


def load_average() -> str:
    """The 1, 5 and 15-minute load averages (other programs share the CPUs and skew timings)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def case_single(pk: Any, p: Domino, rate: float, repeats: int, quick: bool) -> None:
    """Case (a): one simulation, 6 h at 1-second resolution."""
    t_s = np.arange(0, int(HORIZON_MIN * 60) + 1)
    t_min = t_s / 60.0
    print(f"\n(a) one simulation, 6 h at 1 s resolution ({t_min.size} points)")
    ours_full, ours_fast, reference = engine_single(pk, p, rate, t_min)
    closed = ClosedForm(p, rate, INFUSION_MIN)
    curves: dict[str, FloatArray | None] = {"bare NumPy closed form": closed(t_min)}
    timings: dict[str, float | None] = {}
    curves["solve_ivp LSODA"] = solve_ivp_domino(p, rate, INFUSION_MIN, t_min)
    pytci_ok = version("pytci") != "not installed"
    opentiva_ok = version("opentiva") != "not installed"
    if pytci_ok:
        for integ in ("exact", "euler"):
            curves[f"PyTCI {integ}"] = pytci_run(p, rate, 2400, t_s[-1], 1, integrator=integ)
    else:
        print("  PyTCI: not installed: pip install pytci==1.2.0")
        curves["PyTCI exact"] = curves["PyTCI euler"] = None
    if opentiva_ok:
        try:
            conc = opentiva_run(p, rate, 2400, int(t_s[-1]) + 1)
            curves["opentiva"] = conc
        except Exception as exc:  # noqa: BLE001 - report any failure of a peer and go on
            print(f"  opentiva: failed to run ({exc!r})")
            curves["opentiva"] = None
    else:
        print(
            "  opentiva: not installed: pip install wheel 'cython>=3' && "
            "pip install --no-build-isolation opentiva"
        )
        curves["opentiva"] = None

    print("  agreement with the engine (max |diff| / peak), plasma and effect site:")
    for name, curve in curves.items():
        if curve is None:
            continue
        n = min(curve.shape[1], reference.shape[1])
        print(
            f"    {name:<24} plasma {max_rel_diff(curve[0, :n], reference[0, :n]):.1e}   "
            f"effect site {max_rel_diff(curve[1, :n], reference[1, :n]):.1e}"
        )

    t_ours_full = median_time(ours_full, repeats)
    t_ours = median_time(ours_fast, repeats)
    timings["bare NumPy closed form"] = median_time(lambda: closed(t_min), repeats)
    timings["solve_ivp LSODA"] = median_time(
        lambda: solve_ivp_domino(p, rate, INFUSION_MIN, t_min), max(3, repeats // 3)
    )
    slow_repeats = 3 if quick else 5
    for integ in ("exact", "euler"):
        key = f"PyTCI {integ}"
        timings[key] = (
            median_time(partial(pytci_run, p, rate, 2400, int(t_s[-1]), 1, integrator=integ), slow_repeats)
            if curves[key] is not None
            else None
        )
    timings["opentiva"] = (
        median_time(lambda: opentiva_run(p, rate, 2400, int(t_s[-1]) + 1), slow_repeats, 0.0)
        if curves["opentiva"] is not None
        else None
    )

    print(f"  ours, simulate() (PK + effect site + PD + zones + summary) {fmt_time(t_ours_full)}")
    print(f"  ours, concentrations only (low-level path)               {fmt_time(t_ours)}")
    for name, t in timings.items():
        print(f"  {name:<57}{fmt_time(t) if t is not None else '     skipped'}")
    print("  ratios (peer time / our concentration time):")
    for name in ("opentiva", "solve_ivp LSODA", "PyTCI exact", "PyTCI euler"):
        print(ratio_line(name, t_ours, timings[name], TARGETS.get(name)))
    bare = timings["bare NumPy closed form"]
    assert bare is not None
    rel = t_ours / bare
    print(
        f"  vs bare NumPy closed form   ours take {rel:.2f}x its time   target <= 1.5x: "
        f"{'PASS' if rel <= 1.5 else 'MISS'}"
    )


def sampled_patients(p: Domino, k: int, rng: np.random.Generator) -> list[Domino]:
    """`k` distinct patients around `p` (log-normal, 30% CV on V1 and every rate constant but ke0)."""
    scale = np.exp(rng.normal(0.0, 0.3, size=(k, 6)))
    return [
        Domino(p.v1_l * s[0], p.k10 * s[1], p.k12 * s[2], p.k13 * s[3], p.k21 * s[4], p.k31 * s[5], p.ke0)
        for s in scale
    ]


def case_population(pk: Any, p: Domino, rate: float, quick: bool) -> None:
    """Case (b): 100,000 patients, 6 h at 1-minute resolution, and PyTCI looped per patient.

    PyTCI is timed on a sample of patients and its time per patient-timepoint extrapolated.
    Each repeat takes fresh, distinct patients: in a 100,000-patient run every patient is new,
    and PyTCI's cache of transition matrices (1,024 entries) cannot help, so each patient pays
    for its matrix exponential once, as it would.  The engine and PyTCI are timed in turns
    (engine run, PyTCI sample, engine run, ...) so that both see the same load; the ratio is
    given per turn, and its median is the figure.
    """
    t_pop = np.arange(0.0, HORIZON_MIN + 1.0)
    n_points = POPULATION_N * t_pop.size
    print(
        f"\n(b) population: {POPULATION_N:,} patients x {t_pop.size} time points (1 min), "
        "plasma and effect site"
    )
    run_pop, describe = engine_population(pk, t_pop)
    pytci_ok = version("pytci") != "not installed"
    turns = 3 if quick else 9
    k = 40 if quick else 200
    rng = np.random.default_rng(7)
    run_pop()  # warm up (thread pool, scratch buffers)
    if pytci_ok:
        for q in sampled_patients(p, 5, rng):  # warm up PyTCI's imports and code paths
            pytci_run(q, rate, 2400, int(HORIZON_MIN * 60), 60, integrator="exact")
    ours: list[float] = []
    theirs: list[float] = []
    ours_cpu: list[float] = []
    theirs_cpu: list[float] = []
    for _ in range(turns):
        c0, t0 = time.process_time(), time.perf_counter()
        run_pop()
        ours.append((time.perf_counter() - t0) / n_points)
        ours_cpu.append((time.process_time() - c0) / n_points)
        if pytci_ok:
            people = sampled_patients(p, k, rng)
            c0, t0 = time.process_time(), time.perf_counter()
            for q in people:
                pytci_run(q, rate, 2400, int(HORIZON_MIN * 60), 60, integrator="exact")
            theirs.append((time.perf_counter() - t0) / (k * t_pop.size))
            theirs_cpu.append((time.process_time() - c0) / (k * t_pop.size))
    per_point = statistics.median(ours)
    rate_ours = 1.0 / per_point
    print(
        f"  ours ({describe}), median of {turns}: {fmt_time(per_point * n_points).strip()} "
        f"= {rate_ours:.3g} patient-timepoints/s (runs {min(ours) * n_points * 1e3:.0f}-"
        f"{max(ours) * n_points * 1e3:.0f} ms)"
    )
    print(f"  target >= 1.5e8 patient-timepoints/s: {'PASS' if rate_ours >= 1.5e8 else 'MISS'}")
    patient = pk.Patient(weight_kg=WEIGHT_KG, age_yr=40.0, sex="male", height_cm=175.0)
    t0 = time.perf_counter()
    pk.simulate_population(REGIMEN_TEXT, patient, t_pop, n=POPULATION_N, seed=1, model="domino")
    t_full = time.perf_counter() - t0
    print(
        f"  for reference, simulate_population() end to end (sampling, concentrations, "
        f"percentile bands, per-patient summaries; one run): {fmt_time(t_full).strip()}"
    )
    if not pytci_ok:
        print("  PyTCI: not installed: pip install pytci==1.2.0")
        return
    their_point = statistics.median(theirs)
    print(
        f"  PyTCI exact looped per patient: {turns} samples of {k} new patients, median "
        f"{fmt_time(their_point * k * t_pop.size).strip()} per sample = {1.0 / their_point:.3g} "
        f"patient-timepoints/s (100,000 patients would take {their_point * n_points:.0f} s)"
    )
    ratios = sorted(t / o for t, o in zip(theirs, ours, strict=True))
    ratio = statistics.median(ratios)
    print(
        f"  vs PyTCI looped              {ratio:10.0f}x faster   target >= 1000x: "
        f"{'PASS' if ratio >= 1000 else 'MISS'}   (median of {turns} turns; "
        f"turns {ratios[0]:.0f}-{ratios[-1]:.0f}x)"
    )
    cpu_ours, cpu_theirs = statistics.median(ours_cpu), statistics.median(theirs_cpu)
    print(
        f"  diagnostics (CPU time, both engine threads summed): engine {cpu_ours * 1e9:.1f} ns, PyTCI "
        f"{cpu_theirs * 1e9:.0f} ns per patient-timepoint = {cpu_theirs / cpu_ours:.0f}x on one core; "
        f"the engine ran on {cpu_ours / per_point:.2f} cores' worth of CPU"
    )


def engine_single(
    pk: Any, p: Domino, rate: float, t_min: FloatArray
) -> tuple[Callable[[], object], Callable[[], object], FloatArray]:
    """Our two timed callables for case (a) and the engine's reference curve (ng/mL).

    ``full`` is the public ``simulate()`` (which computes effects, zones and summary lazily, so
    the bench touches ``.summary`` to include them); ``fast`` is the low-level path
    ``concentrations(params, inputs, times, out=...)`` that ``simulate()`` calls.
    """
    patient = pk.Patient(weight_kg=WEIGHT_KG, age_yr=40.0, sex="male", height_cm=175.0)
    regimen = pk.parse_regimen(REGIMEN_TEXT)
    model = pk.get_model("domino")
    params = pk.individual_parameters(model, patient)
    inputs = pk.dose_inputs(regimen, model, patient.weight_kg)
    out = (np.empty((1, t_min.size)), np.empty((1, t_min.size)))
    plasma, effect = pk.concentrations(params, inputs, t_min, out=out)
    reference = np.vstack([plasma[0], effect[0]]).copy()

    def full() -> object:
        return pk.simulate(regimen, patient, t_min, model="domino").summary

    def fast() -> object:
        return pk.concentrations(params, inputs, t_min, out=out)

    return full, fast, reference


def engine_population(pk: Any, t_pop: FloatArray) -> tuple[Callable[[], object], str]:
    """Case (b): the low-level vectorized path on 100,000 sampled patients, outputs preallocated.

    Sampling the parameters is timed separately (it does not depend on the time grid).
    """
    patient = pk.Patient(weight_kg=WEIGHT_KG, age_yr=40.0, sex="male", height_cm=175.0)
    regimen = pk.parse_regimen(REGIMEN_TEXT)
    model = pk.get_model("domino")
    t0 = time.perf_counter()
    params = pk.sample_parameters(model, patient, POPULATION_N, 1)
    sample_s = time.perf_counter() - t0
    inputs = pk.dose_inputs(regimen, model, patient.weight_kg)
    out = (np.empty((POPULATION_N, t_pop.size)), np.empty((POPULATION_N, t_pop.size)))

    def run() -> object:
        return pk.concentrations(params, inputs, t_pop, out=out)

    return run, (
        f"concentrations() on sampled parameters, outputs preallocated; sampling "
        f"{POPULATION_N:,} parameter sets took {fmt_time(sample_s).strip()} once"
    )


if __name__ == "__main__":
    raise SystemExit(main())
