"""Charts of a simulation for patients and clinicians: concentration and effect over time.

Matplotlib is imported inside the functions, with the non-interactive Agg backend, so importing
the engine (or this module) never imports matplotlib. The output format follows the file
extension: ``.png`` or ``.svg``.

Each chart has two panels sharing the time axis (hours when the chart spans more than two hours):

1. plasma and effect-site concentration (ng/mL), with the engine's zones shaded and labelled in
   plain words, and the 5-95% band of a population when one is given;
2. the predicted effect as a percentage of the maximum rating ("drug high", perceptual change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FloatArray = NDArray[np.float64]

FORMATS = (".png", ".svg")
# Light fills for the zones, from "not noticeable" to "anaesthetic".
ZONE_COLOURS = ("#f4f4f4", "#e3f0d8", "#fbe7c6", "#f6d0d0", "#e6d6ef")
LINE_COLOURS = ("#1f5fa8", "#c2501f", "#2b8a3e", "#7b3fa0", "#8a6d1f", "#444444")
HOURS_FROM_MIN = 120.0


@dataclass(frozen=True)
class Band:
    """A shaded horizontal band on the concentration panel: zone label and bounds (ng/mL)."""

    label: str
    low: float
    high: float


def _check_path(path: str | Path) -> Path:
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"path: the file name must end in .png or .svg, got {str(path)!r}")
    return out


def zone_bands(scale: float = 1.0) -> list[Band]:
    """The engine's zones as bands of effect-site concentration (ng/mL).

    The zones are defined on the racemic-equivalent effect-site concentration
    (:mod:`ketaclinic.pkpd.pd`); ``scale`` converts them to the concentration drawn, e.g. 1/2 to
    draw them against esketamine concentrations (potency ratio 2), 1 for racemic ketamine.

    Examples
    --------
    >>> [(b.low, b.high) for b in zone_bands()][:2]
    [(0.0, 70.7), (70.7, 100.0)]
    """
    from ketaclinic.pkpd.pd import ZONES

    lows = [z.lower_ng_per_ml for z in ZONES]
    highs = [*lows[1:], float("inf")]
    return [Band(z.label, lo * scale, hi * scale) for z, lo, hi in zip(ZONES, lows, highs, strict=True)]


def _zone_scale(drug: str) -> float:
    """Factor from racemic-equivalent to the drug's own concentration."""
    from ketaclinic.pkpd.pd import racemic_equivalent

    return 1.0 / float(racemic_equivalent(np.array([1.0]), drug)[0])  # type: ignore[arg-type]


def _time_axis(times_min: FloatArray) -> tuple[float, str]:
    """Divisor of minutes and the x-axis label: hours when the chart spans more than 2 h."""
    if times_min.size and times_min[-1] - times_min[0] > HOURS_FROM_MIN:
        return 60.0, "Time since the first dose (hours)"
    return 1.0, "Time since the first dose (minutes)"


def _shade_zones(ax: Axes, bands: Sequence[Band], top: float) -> None:
    """Shade the zone bands below ``top`` and write their labels at the left edge."""
    for i, band in enumerate(bands):
        if band.low >= top:
            continue
        high = min(band.high, top)
        ax.axhspan(band.low, high, color=ZONE_COLOURS[i % len(ZONE_COLOURS)], zorder=0, lw=0)
        ax.text(
            0.995,
            (band.low + high) / 2.0,
            band.label,
            transform=ax.get_yaxis_transform(),
            fontsize=8,
            color="#444444",
            va="center",
            ha="right",
            zorder=4,
            clip_on=True,
            bbox={"facecolor": "white", "alpha": 0.6, "edgecolor": "none", "pad": 1.0},
        )


def _new_figure(title: str) -> tuple[Figure, Axes, Axes]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 7.0), layout="constrained")
    conc_ax, eff_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    fig.suptitle(title, fontsize=13)
    return fig, conc_ax, eff_ax


@dataclass(frozen=True)
class _Axes:
    fig: Figure
    conc: Axes
    eff: Axes
    x_label: str
    conc_label: str


def _finish(ax: _Axes, bands: Sequence[Band], top: float, path: Path, note: str) -> Path:
    ax.conc.set_ylim(0.0, top)
    ax.conc.set_ylabel(ax.conc_label)
    _shade_zones(ax.conc, bands, top)
    ax.conc.legend(loc="upper left", fontsize=8, framealpha=0.9)
    ax.conc.grid(alpha=0.3)
    ax.eff.set_ylim(0.0, 100.0)
    ax.eff.set_ylabel("Drug high (% of maximum rating)")
    ax.eff.set_xlabel(ax.x_label)
    ax.eff.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax.eff.grid(alpha=0.3)
    ax.eff.set_xlim(left=0.0)
    ax.fig.supxlabel(note, fontsize=7, color="#666666")
    path.parent.mkdir(parents=True, exist_ok=True)
    import matplotlib

    # No date and a fixed hash salt keep an SVG byte-stable between runs.
    svg = path.suffix.lower() == ".svg"
    with matplotlib.rc_context({"svg.hashsalt": "ketaclinic"}):
        ax.fig.savefig(path, dpi=120, metadata={"Date": None} if svg else None)
    return path


def _top(curves: Sequence[FloatArray]) -> float:
    peak = max((float(np.nanmax(c)) for c in curves if c.size), default=1.0)
    return max(peak * 1.15, 1.0)


def plot_simulation(
    result: Any,
    path: str | Path,
    *,
    population: Any | None = None,
    title: str | None = None,
) -> Path:
    """Write a chart of one simulation (and its population band) to `path` (.png or .svg).

    Parameters
    ----------
    result : SimulationResult
        Output of :func:`ketaclinic.pkpd.simulate`.
    path : str or Path
        Output file; the extension chooses the format.
    population : PopulationResult, optional
        Output of :func:`ketaclinic.pkpd.simulate_population` on the same times; its 5-95%
        bands are shaded.
    title : str, optional
        Chart title.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from ketaclinic.pkpd import Patient, simulate
    >>> res = simulate("iv 0.5 mg/kg over 40 min", Patient(weight_kg=70.0), np.arange(0.0, 241.0))
    >>> out = plot_simulation(res, pathlib.Path(tempfile.mkdtemp()) / "session.svg")
    >>> out.read_text()[:5]
    '<?xml'
    """
    out = _check_path(path)
    times = np.asarray(result.times_min, dtype=float)
    scale, x_label = _time_axis(times)
    x = times / scale
    fig, conc_ax, eff_ax = _new_figure(title or "Predicted ketamine concentration and effect")
    drug = "S-ketamine" if result.drug == "esketamine" else "Ketamine"
    ax = _Axes(fig, conc_ax, eff_ax, x_label, f"{drug} concentration (ng/mL)")
    plasma = np.asarray(result.plasma_ng_per_ml, dtype=float)
    effect_site = np.asarray(result.effect_site_ng_per_ml, dtype=float)
    curves = [plasma, effect_site]
    pct = population.percentiles if population is not None else {}
    if "plasma_ng_per_ml" in pct:
        band = pct["plasma_ng_per_ml"]
        conc_ax.fill_between(
            x,
            band[5],
            band[95],
            color=LINE_COLOURS[0],
            alpha=0.15,
            lw=0,
            label="plasma, 90% of simulated patients",
            zorder=2,
        )
        curves.append(np.asarray(band[95], dtype=float))
    conc_ax.plot(x, plasma, color=LINE_COLOURS[0], lw=2.0, label="plasma (blood)", zorder=3)
    conc_ax.plot(
        x,
        effect_site,
        color=LINE_COLOURS[1],
        lw=1.8,
        ls="--",
        label="effect site (brain); the zones apply to this line",
        zorder=3,
    )
    high = np.asarray(result.effects["high_pct_max"], dtype=float)
    eff_ax.plot(x, high, color=LINE_COLOURS[2], lw=2.0, label='drug "high" (typical patient)')
    if "high_pct_max" in pct:
        eff_ax.fill_between(
            x,
            pct["high_pct_max"][5],
            pct["high_pct_max"][95],
            color=LINE_COLOURS[2],
            alpha=0.15,
            lw=0,
            label="90% of simulated patients",
        )
    elif "high_pct_max_low" in result.effects:
        eff_ax.fill_between(
            x,
            result.effects["high_pct_max_low"],
            result.effects["high_pct_max_high"],
            color=LINE_COLOURS[2],
            alpha=0.15,
            lw=0,
            label="published uncertainty of the relation",
        )
    note = (
        f"Model {result.model}; sources: ketaclinic pk models. Prediction from published "
        "population data, not a medical device."
    )
    bands = zone_bands(_zone_scale(result.drug))
    return _finish(ax, bands, _top(curves), out, note)


def plot_comparison(
    items: Sequence[tuple[str, Any, Any | None]],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Write a chart comparing regimens, one colour each, to `path` (.png or .svg).

    The upper panel shows the effect-site (brain) concentration as racemic-equivalent ng/mL
    (esketamine doubled, see :mod:`ketaclinic.pkpd.pd`) so that regimens of both drugs share the
    zones; the lower panel the drug-high rating. Shaded: 90% of simulated patients.

    Parameters
    ----------
    items : sequence of (label, SimulationResult, PopulationResult or None)
        One entry per regimen.
    path : str or Path
        Output file; the extension chooses the format.
    title : str, optional
        Chart title.

    Returns
    -------
    Path
        The file written.
    """
    out = _check_path(path)
    if not items:
        raise ValueError("items: nothing to plot")
    span = max(float(np.asarray(r.times_min)[-1]) for _, r, _ in items)
    scale, x_label = _time_axis(np.array([0.0, span]))
    fig, conc_ax, eff_ax = _new_figure(title or "Predicted brain concentration and effect")
    ax = _Axes(
        fig, conc_ax, eff_ax, x_label, "Brain (effect-site) concentration,\nracemic-equivalent (ng/mL)"
    )
    curves = []
    for i, (label, result, population) in enumerate(items):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        x = np.asarray(result.times_min, dtype=float) / scale
        eq = 1.0 / _zone_scale(result.drug)
        ce = np.asarray(result.effect_site_ng_per_ml, dtype=float) * eq
        curves.append(ce)
        conc_ax.plot(x, ce, color=colour, lw=2.0, label=label, zorder=3)
        eff_ax.plot(x, result.effects["high_pct_max"], color=colour, lw=2.0, label=label)
        pct = population.percentiles if population is not None else {}
        if "effect_site_ng_per_ml" in pct:
            hi = np.asarray(pct["effect_site_ng_per_ml"][95], dtype=float) * eq
            conc_ax.fill_between(
                x,
                np.asarray(pct["effect_site_ng_per_ml"][5]) * eq,
                hi,
                color=colour,
                alpha=0.13,
                lw=0,
                zorder=2,
            )
            curves.append(hi)
        if "high_pct_max" in pct:
            eff_ax.fill_between(
                x, pct["high_pct_max"][5], pct["high_pct_max"][95], color=colour, alpha=0.13, lw=0
            )
    note = (
        "Lines: typical patient; shaded: 90% of simulated patients. Esketamine counted "
        "twice as potent as racemic ketamine. Decision support, not a medical device."
    )
    return _finish(ax, zone_bands(), _top(curves), out, note)
