"""What the solver takes (one parameter set per patient, as arrays; the dose inputs), and the sizes
and per-thread scratch space every path shares."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ketaclinic.pkpd.published import Structure

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


#: Leading columns of a uniform segment computed with ``exp``, at least (see ``_eval_patients``).
_SEED = 8


_local = threading.local()


def _scratch(size: int) -> FloatArray:
    """A per-thread scratch buffer of at least `size` floats (reused: no fresh pages)."""
    buf: FloatArray | None = getattr(_local, "buf", None)
    if buf is None or buf.size < size:
        buf = np.empty(max(size, 1 << 16))
        _local.buf = buf
    return buf
