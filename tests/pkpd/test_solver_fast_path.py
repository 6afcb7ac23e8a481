"""The evaluation's fast path: exponentials on uniform grids from products over tiles.

The fast path must give the same numbers as one ``exp`` per element (to a few eps) and agree
with the ODE reference for every model and route, like the ``exp`` path does.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pytest

from ketaclinic.pkpd import (
    MODELS,
    Patient,
    dose_inputs,
    get_model,
    individual_parameters,
    parse_regimen,
    sample_parameters,
    solver,
)
from ketaclinic.pkpd.solver import concentrations, evaluate, grid, one_patient, parameters, plan, uniform_step
from ketaclinic.pkpd.solver import tiles as tiling
from tests.pkpd.ode import ode_reference
from tests.pkpd.test_ode_agreement import CASES, ESKETAMINE_REGIMENS, ROUTE_REGIMENS

ADULT = Patient(weight_kg=70.0, age_yr=40.0, sex="male", height_cm=175.0)


Pair = tuple[np.ndarray, np.ndarray]


def _both_paths(monkeypatch: pytest.MonkeyPatch, run: Callable[[], Pair]) -> tuple[Pair, Pair]:
    """Results of `run()` with the tiling forced on, then with ``exp`` everywhere."""
    with monkeypatch.context() as mp:
        mp.setattr(grid, "_MIN_TILING", 0)
        fast = run()
    with monkeypatch.context() as mp:
        mp.setattr(grid, "_grid_step", lambda _times: None)
        slow = run()
    return fast, slow


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    """Largest elementwise relative difference where b is above 1e-12 of its row peak."""
    peak = np.abs(b).max(axis=1, keepdims=True)
    mask = np.abs(b) > 1e-12 * peak
    return float(np.max(np.abs(a - b)[mask] / np.abs(b)[mask]))


def test_bench_case_tiling_matches_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    """0.5 mg/kg over 40 min, 6 h at 1 s (21,601 points): the default path is the fast one."""
    model = get_model("domino")
    params = individual_parameters(model, ADULT)
    inputs = dose_inputs(parse_regimen("iv 0.5 mg/kg over 40 min"), model, ADULT.weight_kg)
    times = np.arange(21601) / 60.0
    p = plan(params, inputs)
    segments = grid._segments(p, times, p.poles_per_min.shape[1])
    assert [s[2] for s in segments] == [1.0 / 60.0, 1.0 / 60.0]  # the infusion and the tail are tiled
    fast, slow = _both_paths(monkeypatch, lambda: evaluate(p, times))
    default = evaluate(p, times)
    for f, s, d in zip(fast, slow, default, strict=True):
        assert _max_rel(f, s) < 1e-12
        np.testing.assert_array_equal(d[:, 2400:], f[:, 2400:])  # the tail: same path
        assert _max_rel(d, s) < 1e-12


def test_population_tiling_matches_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several blocks of sampled patients on a 1-minute grid, several doses."""
    model = get_model("domino")
    params = sample_parameters(model, ADULT, 1500, 3)
    text = "bolus 10 mg; iv 0.5 mg/kg/h for 20 min, then 0.25 mg/kg/h for 30 min at 15 min"
    inputs = dose_inputs(parse_regimen(text), model, ADULT.weight_kg)
    times = np.arange(0.0, 721.0)
    fast, slow = _both_paths(monkeypatch, lambda: concentrations(params, inputs, times))
    for f, s in zip(fast, slow, strict=True):
        assert _max_rel(f, s) < 1e-12


@pytest.mark.parametrize(("model_name", "route"), CASES)
def test_tiling_matches_radau(monkeypatch: pytest.MonkeyPatch, model_name: str, route: str) -> None:
    """The ODE agreement of every model and route, with the tiling forced on."""
    model = MODELS[model_name]
    text = (ESKETAMINE_REGIMENS if model.drug == "esketamine" else ROUTE_REGIMENS)[route]
    patient = Patient(weight_kg=20.0, age_yr=6.0) if model_name == "herd" else ADULT
    params = individual_parameters(model, patient)
    inputs = dose_inputs(parse_regimen(text), model, patient.weight_kg)
    # uniform on the whole, and uniform piecewise only (tested segment by segment)
    for times in (
        np.arange(0.0, 600.25, 0.25),
        np.concatenate([np.linspace(0.0, 30.0, 121), np.linspace(30.5, 600.0, 300)]),
    ):
        monkeypatch.setattr(grid, "_MIN_TILING", 0)
        cp, ce = concentrations(params, inputs, times)
        ref_p, ref_e = ode_reference(params, inputs, times)
        np.testing.assert_allclose(cp[0], ref_p, rtol=1e-6, atol=1e-9 * ref_p.max())
        np.testing.assert_allclose(ce[0], ref_e, rtol=1e-6, atol=1e-9 * ref_e.max())


def test_uniform_step_detection() -> None:
    assert uniform_step(np.arange(0.0, 361.0)) == 1.0
    assert uniform_step(np.linspace(40.0, 360.0, 19201)) == pytest.approx(1.0 / 60.0, rel=1e-15)
    # slow drift: every difference is nearly the step, the points are not on a line
    drift = np.cumsum(np.full(20000, 0.1)) * (1.0 + 1e-9 * np.arange(20000))
    assert uniform_step(drift) is None
    assert uniform_step(np.array([1.0])) is None
    assert uniform_step(np.array([2.0, 2.0, 2.0])) is None


def test_piecewise_uniform_grid_per_segment() -> None:
    """A grid that is uniform per segment but not overall gets each segment's own step."""
    model = get_model("domino")
    params = individual_parameters(model, ADULT)
    inputs = dose_inputs(parse_regimen("iv 0.5 mg/kg over 40 min"), model, ADULT.weight_kg)
    times = np.concatenate([np.arange(0.0, 40.0, 0.01), np.arange(40.0, 360.5, 0.5)])
    segments = grid._segments(plan(params, inputs), times, 10**6)
    assert [s[2] is not None for s in segments] == [True, True]
    assert segments[0][2] == pytest.approx(0.01) and segments[1][2] == pytest.approx(0.5)


def test_long_grid_blocks_stay_small() -> None:
    """Many patients on a long grid: blocks shrink so the scratch stays bounded; same result."""
    model = get_model("domino")
    params = sample_parameters(model, ADULT, 40, 5)
    inputs = dose_inputs(parse_regimen("iv 0.5 mg/kg over 40 min"), model, ADULT.weight_kg)
    times = np.arange(21601) / 60.0
    cp, ce = concentrations(params, inputs, times)
    for i in (0, 17, 39):
        one = solver.ParameterSet(
            params.structure, params.n_compartments, {k: v[i : i + 1] for k, v in params.values.items()}
        )
        p1, e1 = concentrations(one, inputs, times)
        np.testing.assert_allclose(cp[i], p1[0], rtol=1e-13, atol=1e-13 * p1.max())
        np.testing.assert_allclose(ce[i], e1[0], rtol=1e-13, atol=1e-13 * e1.max())


def _direct(monkeypatch: pytest.MonkeyPatch, run: Callable[[], Pair]) -> Pair:
    with monkeypatch.context() as mp:
        mp.setattr(grid, "_grid_step", lambda _times: None)
        return run()


@pytest.mark.slow
def test_bench_population_tiling_matches_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's population (100,000 patients, 6 h at 1 min): 1e-12 of the direct path.

    Sampled patients include ones whose ke0 nearly coincides with a disposition pole (residues
    of 1e7 ng/mL cancelling to a curve of 100): there the condition check sends them to the
    direct evaluation.
    """
    model = get_model("domino")
    params = sample_parameters(model, ADULT, 100_000, 1)
    inputs = dose_inputs(parse_regimen("iv 0.5 mg/kg over 40 min"), model, ADULT.weight_kg)
    times = np.arange(0.0, 361.0)
    n = 20 * parameters._CHUNK  # in slices (the same chunks as in one call), reusing the outputs
    fast = (np.empty((n, times.size)), np.empty((n, times.size)))
    slow = (np.empty((n, times.size)), np.empty((n, times.size)))
    worst = 0.0
    for lo in range(0, params.n, n):
        sub = solver.ParameterSet(
            params.structure, params.n_compartments, {k: v[lo : lo + n] for k, v in params.values.items()}
        )
        rows = min(n, params.n - lo)
        f = concentrations(sub, inputs, times, out=(fast[0][:rows], fast[1][:rows]))
        out = (slow[0][:rows], slow[1][:rows])
        s = _direct(monkeypatch, partial(concentrations, sub, inputs, times, out=out))
        worst = max(worst, *(_max_rel(a, b) for a, b in zip(f, s, strict=True)))
    assert worst < 1e-12


@pytest.mark.parametrize(("model_name", "route"), CASES)
def test_population_tiling_matches_exp_every_model(
    monkeypatch: pytest.MonkeyPatch, model_name: str, route: str
) -> None:
    """2,000 sampled patients of every model and route on a 1-minute grid: 1e-12 of direct."""
    model = MODELS[model_name]
    text = (ESKETAMINE_REGIMENS if model.drug == "esketamine" else ROUTE_REGIMENS)[route]
    patient = Patient(weight_kg=20.0, age_yr=6.0) if model_name == "herd" else ADULT
    params = sample_parameters(model, patient, 2000, 5)
    inputs = dose_inputs(parse_regimen(text), model, patient.weight_kg)
    times = np.arange(0.0, 481.0)
    fast, slow = _both_paths(monkeypatch, lambda: concentrations(params, inputs, times))
    for f, s in zip(fast, slow, strict=True):
        assert _max_rel(f, s) < 1e-12


def test_ill_conditioned_patient_is_evaluated_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    """ke0 within 1e-6 of a disposition pole: huge opposite residues, exp for every value."""
    model = get_model("domino")
    params = sample_parameters(model, ADULT, 600, 2)
    values = {k: v.copy() for k, v in params.values.items()}
    first = plan(solver.ParameterSet(params.structure, params.n_compartments, values), _IV)
    values["ke0_per_min"][17] = first.poles[1, 17] * (1.0 + 1e-6)
    ps = solver.ParameterSet(params.structure, params.n_compartments, values)
    p = plan(ps, _IV)
    assert np.abs(p.table[1, 1, :, 17]).max() > 1e5 * np.abs(p.table[1, 0, :, 17]).max()
    times = np.arange(0.0, 361.0)
    seed, hard = tiling._choose_seed(p.table[1], p.poles, times[40:] - 40.0, parameters._SEED)
    assert 17 in hard.tolist() and seed == parameters._SEED
    fast = _both_paths(monkeypatch, lambda: concentrations(ps, _IV, times))[0]
    slow = _direct(monkeypatch, lambda: concentrations(ps, _IV, times))
    for f, s in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(f[17], s[17])
        assert _max_rel(f, s) < 1e-12


def test_fine_grid_seed_grows_where_the_curve_starts_from_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 1-second resolution the effect site's first seconds cancel to 1e-4: longer seed."""
    model = get_model("domino")
    params = sample_parameters(model, ADULT, 300, 4)
    p = plan(params, _IV)
    times = np.arange(3601) / 60.0
    seed, _ = tiling._choose_seed(p.table[0], p.poles, times[:2400], parameters._SEED)
    assert seed > 4 * parameters._SEED
    after, _ = tiling._choose_seed(p.table[1], p.poles, times[2400:] - 40.0, parameters._SEED)
    assert after == parameters._SEED  # the infusion's end is not a cancellation
    fast, slow = _both_paths(monkeypatch, lambda: concentrations(params, _IV, times))
    for f, s in zip(fast, slow, strict=True):
        assert _max_rel(f, s) < 1e-12


def test_tiles_cover_every_segment() -> None:
    for length in range(1, 400):
        for seed in (1, 2, 8, 16, 64, 500):
            reps, tiles = tiling._tiling(length, seed)
            width = seed * reps
            if seed >= length:
                assert (reps, tiles) == (1, 1)
            else:
                assert (tiles - 1) * width < length <= tiles * width


def test_condition_check() -> None:
    # (2 outputs, m + 1, n) with m = 2: [a, b, const]; exponentials e (m, 1 time, n)
    table = np.zeros((2, 3, 4))
    table[:, :, 1] = [1.0, 1.0, 0.0]  # well conditioned
    table[:, :, 2] = [1.0, -0.99, 0.0]  # 1.99 / 0.01: ill conditioned
    table[:, :, 3] = [np.nan, 1.0, 0.0]
    e = np.ones((2, 1, 4))
    assert tiling._ill_conditioned(table, e).tolist() == [False, False, True, True]


_IV = dose_inputs(parse_regimen("iv 0.5 mg/kg over 40 min"), get_model("domino"), ADULT.weight_kg)


@pytest.mark.parametrize(("model_name", "route"), CASES)
def test_one_patient_tiling_matches_exp_every_model(
    monkeypatch: pytest.MonkeyPatch, model_name: str, route: str
) -> None:
    """One patient (its own, two-level path) of every model and route: 1e-12 of direct ``exp``.

    A 15-second grid over 10 h and a 1-second one over the first 40 min: long and short
    segments, seeds grown where a curve starts from zero.
    """
    model = MODELS[model_name]
    text = (ESKETAMINE_REGIMENS if model.drug == "esketamine" else ROUTE_REGIMENS)[route]
    patient = Patient(weight_kg=20.0, age_yr=6.0) if model_name == "herd" else ADULT
    params = individual_parameters(model, patient)
    inputs = dose_inputs(parse_regimen(text), model, patient.weight_kg)
    for times in (np.arange(2401) / 4.0, np.arange(2401) / 60.0):
        fast, slow = _both_paths(monkeypatch, lambda t=times: concentrations(params, inputs, t))
        for f, s in zip(fast, slow, strict=True):
            assert _max_rel(f, s) < 1e-12


def test_one_patient_matches_the_block_path() -> None:
    """The one-patient path and the block path (the same patient twice) agree to 1e-13."""
    model = get_model("domino")
    params = individual_parameters(model, ADULT)
    twice = solver.ParameterSet(
        params.structure, params.n_compartments, {k: np.repeat(v, 2) for k, v in params.values.items()}
    )
    times = np.arange(21601) / 60.0
    one = concentrations(params, _IV, times)
    two = concentrations(twice, _IV, times)
    for a, b in zip(one, two, strict=True):
        assert _max_rel(a, b[1:]) < 1e-13


def test_one_ill_conditioned_patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """ke0 within 1e-6 of a disposition pole, one patient, 1-second grid.

    The effect site's residues (7e7 ng/mL) cancel: during the infusion the condition number
    stays above 64 at the segment's end, so it is evaluated directly (bitwise equal); after
    it the seed grows until products only meet a condition number of at most 64.
    """
    model = get_model("domino")
    params = individual_parameters(model, ADULT)
    values = {k: v.copy() for k, v in params.values.items()}
    first = plan(solver.ParameterSet(params.structure, params.n_compartments, values), _IV)
    values["ke0_per_min"][0] = first.poles[1, 0] * (1.0 + 1e-6)
    ps = solver.ParameterSet(params.structure, params.n_compartments, values)
    p = plan(ps, _IV)
    times = np.arange(21601) / 60.0
    poles = p.poles[:, 0].tolist()
    infusion = tiling._Tau(times[:2400], 0.0)
    assert one_patient._seed_one(p.table[0, :, :, 0].tolist(), poles, infusion, 48) is None
    after = tiling._Tau(times[2400:], 40.0)
    seed = one_patient._seed_one(p.table[1, :, :, 0].tolist(), poles, after, 138)
    assert seed is not None and seed > 16 * 138
    fast, slow = _both_paths(monkeypatch, lambda: concentrations(ps, _IV, times))
    for f, s in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(f[:, :2400], s[:, :2400])
        assert _max_rel(f, s) < 1e-12


def test_one_patient_outputs_not_contiguous() -> None:
    """Output rows that are not contiguous go through the block path: same values."""
    model = get_model("domino")
    params = individual_parameters(model, ADULT)
    times = np.arange(0.0, 361.0)
    wide = (np.zeros((1, 2 * times.size)), np.zeros((1, 2 * times.size)))
    out = (wide[0][:, ::2], wide[1][:, ::2])
    cp, ce = concentrations(params, _IV, times, out=out)
    ref = concentrations(params, _IV, times)
    assert _max_rel(cp, ref[0]) < 1e-13 and _max_rel(ce, ref[1]) < 1e-13
    assert not wide[0][:, 1::2].any()
