"""The ledger's pure rules: identifiers, deadlines, the session balance and the diversion statistics.

Values in, values out; no database. The sources are in ../shared/reference/clinical.md §5 (DEA
record keeping) unless a comment says the value is a local choice (an assumption, configurable).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

ZERO = Decimal("0")
CENT = Decimal("0.01")

# How far drawn may differ from given + wasted + returned before a discrepancy opens by itself.
# ASSUMPTION (a local choice; no regulation states one): one smallest graduation of the syringes a
# ketamine infusion is drawn with (0.1 mL), converted to mg at the container's concentration.
# Whole nasal devices are counted exactly. Settable as KETACLINIC_LEDGER_TOLERANCE_ML.
DEFAULT_TOLERANCE_ML = Decimal("0.1")

# Theft or significant loss: written notice to the DEA Field Division within 1 business day of
# discovery, DEA Form 106 within 45 days (21 CFR 1301.76(b); 88 FR 40707) — clinical.md §5 [S95][S96].
FORM_106_DAYS = 45
# Records kept for inspection at least 2 years (21 CFR 1304.04(a)) — clinical.md §5 [S84].
RETENTION_YEARS = 2
# Inventory at least every 2 years after the initial one (21 CFR 1304.11) — clinical.md §5 [S90][S91].
BIENNIAL_DAYS = 2 * 365

_DEA = re.compile(r"^[A-Z][A-Z9][0-9]{7}$")
_NDC = (
    re.compile(r"^\d{4}-\d{4}-\d{2}$"),
    re.compile(r"^\d{5}-\d{3}-\d{2}$"),
    re.compile(r"^\d{5}-\d{4}-\d{1}$"),
    re.compile(r"^\d{5}-\d{4}-\d{2}$"),  # the 11-digit billing form
)


def q(value: Decimal) -> Decimal:
    """Amounts are kept to 0.01 mg and 0.01 mL."""
    return value.quantize(CENT)


def dea_number_problem(number: str) -> str | None:
    """Why ``number`` is not a well-formed DEA registration number, or None.

    Two letters (the registrant type, then the first letter of the registrant's surname, or 9) and
    seven digits, the last a check digit: the sum of digits 1, 3 and 5 plus twice the sum of digits
    2, 4 and 6 ends in digit 7 (the published check-digit rule).

    >>> dea_number_problem("AB1234563") is None
    True
    >>> dea_number_problem("AB1234567")
    'AB1234567: the check digit should be 3, not 7.'
    """
    if not _DEA.match(number):
        return (
            f"{number or '(empty)'}: a DEA number is two capital letters and seven digits, "
            "for example AB1234563."
        )
    d = [int(c) for c in number[2:]]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    if check != d[6]:
        return f"{number}: the check digit should be {check}, not {d[6]}."
    return None


def ndc_problem(ndc: str) -> str | None:
    """Why ``ndc`` is not a National Drug Code in one of its printed shapes, or None.

    >>> ndc_problem("42023-113-10") is None
    True
    >>> ndc_problem("4202311310")
    '4202311310: write the NDC with its hyphens (4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits).'
    """
    if any(shape.match(ndc) for shape in _NDC):
        return None
    return f"{ndc or '(empty)'}: write the NDC with its hyphens (4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits)."


def next_business_day_end(discovered: datetime) -> datetime:
    """The end of the first business day after ``discovered``: the written notice's deadline.

    Saturdays and Sundays are skipped; public holidays are not known here (a clinic that closes on
    one files earlier), which the loss report says.

    >>> next_business_day_end(datetime(2026, 12, 4, 15, 0)).isoformat()  # a Friday
    '2026-12-07T23:59:59'
    """
    day = discovered.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, datetime.max.time().replace(microsecond=0), tzinfo=discovered.tzinfo)


def form_106_due(discovered: date) -> date:
    return discovered + timedelta(days=FORM_106_DAYS)


@dataclass(frozen=True)
class SessionBalance:
    """What was drawn for a session against where it went."""

    drawn_mg: Decimal
    administered_mg: Decimal
    wasted_mg: Decimal
    returned_mg: Decimal
    tolerance_mg: Decimal

    @property
    def unaccounted_mg(self) -> Decimal:
        """Drawn minus everything accounted for: positive when drug is missing, negative when more
        was given or wasted than drawn (the record is wrong somewhere)."""
        return self.drawn_mg - self.administered_mg - self.wasted_mg - self.returned_mg

    @property
    def balanced(self) -> bool:
        return abs(self.unaccounted_mg) <= self.tolerance_mg

    def to_dict(self) -> dict[str, str | bool]:
        return {
            "drawn_mg": str(self.drawn_mg),
            "administered_mg": str(self.administered_mg),
            "wasted_mg": str(self.wasted_mg),
            "returned_mg": str(self.returned_mg),
            "unaccounted_mg": str(self.unaccounted_mg),
            "tolerance_mg": str(self.tolerance_mg),
            "balanced": self.balanced,
        }


def tolerance_mg(
    concentration_mg_per_ml: Decimal | None, tolerance_ml: Decimal = DEFAULT_TOLERANCE_ML
) -> Decimal:
    """The reconciliation tolerance in mg: ``tolerance_ml`` at the container's concentration; zero
    for whole units (nasal devices), which are counted, not measured."""
    if concentration_mg_per_ml is None:
        return ZERO
    return q(tolerance_ml * concentration_mg_per_ml)


# ----- diversion statistics -----------------------------------------------------------------------

ALPHA = 0.05
MIN_SESSIONS = 5  # fewer sessions than this, for a person or for their peers: too few to test


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _u_statistic(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Mann-Whitney's U for ``x`` (ties count half) and the tie correction term sum(t^3 - t)."""
    n1 = len(x)
    pooled = sorted([(v, True) for v in x] + [(v, False) for v in y])
    r1 = 0.0  # the sum of x's ranks, a tie sharing the mean of the ranks it spans
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        t = j - i + 1
        r1 += ((i + j) / 2 + 1) * sum(in_x for _, in_x in pooled[i : j + 1])
        ties += t**3 - t
        i = j + 1
    return r1 - n1 * (n1 + 1) / 2, ties


def mann_whitney_greater(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided p-value that values in ``x`` tend to exceed those in ``y`` (Mann-Whitney U, normal
    approximation with tie and continuity corrections; Mann & Whitney 1947).

    >>> round(mann_whitney_greater([5, 6, 7, 8, 9], [1, 2, 3, 4, 5]), 4)
    0.008
    >>> mann_whitney_greater([1, 1, 1, 1, 1], [1, 1, 1, 1, 1])
    1.0
    """
    n1, n2 = len(x), len(y)
    u1, ties = _u_statistic(x, y)
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (u1 - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return _normal_sf(z)


# With a year of sessions any difference is "significant"; a person stands out only when the
# difference is also large enough to matter: the probability that one of their sessions wastes more
# than a peer's (Vargha and Delaney's A, 2000) at least 0.64, their "medium" effect. A local choice.
MIN_SUPERIORITY = 0.64


def superiority(x: Sequence[float], y: Sequence[float]) -> float:
    """P(a value of ``x`` > a value of ``y``) + half P(equal): Vargha and Delaney's A = U / (n1 n2).

    >>> superiority([2, 3], [1, 2])
    0.875
    """
    return _u_statistic(x, y)[0] / (len(x) * len(y))


def binomial_greater(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how surprising k discrepancies in n sessions are at the
    peers' rate p.

    >>> round(binomial_greater(3, 10, 0.05), 4)
    0.0115
    """
    if k <= 0:
        return 1.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    # In logs: a year of sessions (n in the thousands) overflows comb(n, i) as a float.
    log_p, log_q, log_n = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    total = 0.0
    for i in range(k, n + 1):
        term = math.exp(log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q)
        total += term
        if i > n * p and term < total * 1e-17:
            break  # past the mode the terms only shrink
    return min(1.0, total)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (Holm 1979): each person is tested against their peers, so
    the many tests of one report do not flag someone by chance.

    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted: dict[int, float] = {}
    running = 0.0
    m = len(p_values)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return [adjusted[i] for i in range(m)]
