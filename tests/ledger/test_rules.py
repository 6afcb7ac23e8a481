"""The ledger's pure rules against hand-worked and published values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ketaclinic.ledger import rules

D = Decimal


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("AB1234563", True),  # 1+3+5=9, 2*(2+4+6)=24, 33 -> 3
        ("AB1234567", False),
        ("BN1234563", True),
        ("A91234563", True),  # 9: a business without a surname initial
        ("ab1234563", False),
        ("AB123456", False),
        ("1B1234563", False),
        ("", False),
    ],
)
def test_dea_numbers(number, ok):
    assert (rules.dea_number_problem(number) is None) is ok


@pytest.mark.parametrize(
    ("ndc", "ok"),
    [("0409-2051-05", True), ("42023-113-10", True), ("50458-0280-2", True), ("50458-0280-02", True),
     ("4202311310", False), ("42023-113-1", False), ("", False)],
)  # fmt: skip
def test_ndc_shapes(ndc, ok):
    assert (rules.ndc_problem(ndc) is None) is ok


@pytest.mark.parametrize(
    ("discovered", "due"),
    [
        (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), date(2026, 12, 8)),  # Monday -> Tuesday
        (datetime(2026, 12, 4, 16, 0, tzinfo=UTC), date(2026, 12, 7)),  # Friday -> Monday
        (datetime(2026, 12, 5, 10, 0, tzinfo=UTC), date(2026, 12, 7)),  # Saturday -> Monday
        (datetime(2026, 12, 6, 10, 0, tzinfo=UTC), date(2026, 12, 7)),  # Sunday -> Monday
    ],
)
def test_the_written_notice_is_due_by_the_end_of_the_next_business_day(discovered, due):
    deadline = rules.next_business_day_end(discovered)
    assert deadline.date() == due and (deadline.hour, deadline.minute) == (23, 59)
    assert deadline.tzinfo is discovered.tzinfo


def test_form_106_is_due_45_days_after_discovery():
    assert rules.form_106_due(date(2026, 12, 7)) == date(2027, 1, 21)


def test_the_session_balance_and_its_tolerance():
    tol = rules.tolerance_mg(D("10"))
    assert tol == D("1.00")  # 0.1 mL at 10 mg/mL
    assert rules.tolerance_mg(D("50"), D("0.2")) == D("10.00")
    assert rules.tolerance_mg(None) == 0  # whole devices are counted exactly
    b = rules.SessionBalance(D("50"), D("35"), D("14"), D("0"), tol)
    assert b.unaccounted_mg == D("1") and b.balanced
    b = rules.SessionBalance(D("50"), D("35"), D("13.9"), D("0"), tol)
    assert b.unaccounted_mg == D("1.1") and not b.balanced
    b = rules.SessionBalance(D("50"), D("35"), D("16.1"), D("0"), tol)
    assert b.unaccounted_mg == D("-1.1") and not b.balanced


# SciPy 1.17 (mannwhitneyu(..., alternative="greater", method="asymptotic", use_continuity=True) and
# binomtest(..., alternative="greater")) gives these values; SciPy is not a runtime dependency.
@pytest.mark.parametrize(
    ("x", "y", "p"),
    [
        ([5, 6, 7, 8, 9], [1, 2, 3, 4, 5], 0.007985348176890061),
        ([0.1, 0.2, 0.2, 0.5, 0.3, 0.9], [0.1, 0.1, 0.05, 0.2, 0.2, 0.0, 0.3], 0.03999551623710024),
    ],
)
def test_mann_whitney_matches_scipy(x, y, p):
    assert rules.mann_whitney_greater(x, y) == pytest.approx(p, rel=1e-9)


def test_mann_whitney_is_one_sided():
    assert rules.mann_whitney_greater([1, 2, 3, 4, 5], [5, 6, 7, 8, 9]) > 0.99


def test_binomial_tail_matches_scipy():
    assert rules.binomial_greater(3, 10, 0.05) == pytest.approx(0.011503557379296871, rel=1e-9)
    assert rules.binomial_greater(0, 10, 0.05) == 1.0
    # A year of one nurse's sessions: comb(7300, i) does not fit a float; the tail is summed in logs.
    assert rules.binomial_greater(100, 7300, 0.01) == pytest.approx(0.0014774410396006523, rel=1e-9)
    assert rules.binomial_greater(60, 7300, 0.0125 / 1.5) == pytest.approx(0.5600403978442592, rel=1e-9)


def test_holm_never_lowers_a_p_value_and_keeps_the_order():
    raw = [0.01, 0.04, 0.03, 0.2]
    adjusted = rules.holm(raw)
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert all(a >= r for a, r in zip(adjusted, raw, strict=True))
