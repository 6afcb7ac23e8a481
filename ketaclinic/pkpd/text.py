"""How the engine's numbers read in prose and tables: significant digits, minutes as h and min."""

from __future__ import annotations

import math


def fmt_num(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant figures, no scientific notation for common sizes.

    >>> fmt_num(240.33), fmt_num(0.01234), fmt_num(1234.4), fmt_num(float("nan"))
    ('240', '0.0123', '1234', '-')
    """
    if value is None or not math.isfinite(value):
        return "-"
    if abs(value) < 1e-9:  # round-off around zero, e.g. -6e-13 before any drug arrives
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:.{decimals}f}"


def fmt_time_min(minutes: float | None) -> str:
    """``95`` -> ``1 h 35 min``; ``40`` -> ``40 min``; ``0.5`` -> ``30 s``.

    >>> fmt_time_min(95), fmt_time_min(40), fmt_time_min(0.5), fmt_time_min(120)
    ('1 h 35 min', '40 min', '30 s', '2 h')
    """
    if minutes is None or not math.isfinite(minutes):
        return "-"
    if minutes < 1:
        return f"{round(minutes * 60)} s"
    total = round(minutes)
    if total < 60:
        return f"{total} min"
    hours, rest = divmod(total, 60)
    return f"{hours} h" if rest == 0 else f"{hours} h {rest} min"
