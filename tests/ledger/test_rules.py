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


# ----- stated exactly: what a clerk reads, and the edges of each statistic ---------------------


def test_every_digit_counts_in_the_dea_check():
    # 1+1+1 + 2*(1+1+1) = 9: each of digits 1-6 moves the check digit (in AB1234563 digit 5 does not,
    # because 2 x 5 ends in 0)
    assert rules.dea_number_problem("AB1111119") is None
    assert rules.dea_number_problem("AB1111110") == "AB1111110: the check digit should be 9, not 0."


def test_malformed_numbers_say_what_the_shape_is():
    shape = "a DEA number is two capital letters and seven digits, for example AB1234563."
    assert rules.dea_number_problem("") == f"(empty): {shape}"
    assert rules.dea_number_problem("AB12") == f"AB12: {shape}"
    ndc = "write the NDC with its hyphens (4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits)."
    assert rules.ndc_problem("") == f"(empty): {ndc}"
    assert rules.ndc_problem("123") == f"123: {ndc}"


def test_the_written_notice_is_due_at_the_last_second_of_the_next_business_day():
    due = rules.next_business_day_end(datetime(2026, 12, 8, 9, 30, tzinfo=UTC))  # a Tuesday
    assert due == datetime(2026, 12, 9, 23, 59, 59, tzinfo=UTC)
    assert due.microsecond == 0


def test_a_session_balance_as_the_api_gives_it():
    balance = rules.SessionBalance(
        drawn_mg=D("50.00"), administered_mg=D("35.00"), wasted_mg=D("10.00"),
        returned_mg=D("4.00"), tolerance_mg=D("1.00"),
    )  # fmt: skip
    assert balance.to_dict() == {
        "drawn_mg": "50.00",
        "administered_mg": "35.00",
        "wasted_mg": "10.00",
        "returned_mg": "4.00",
        "unaccounted_mg": "1.00",
        "tolerance_mg": "1.00",
        "balanced": True,
    }


def test_mann_whitney_small_samples_and_ties():
    # one value each, x above y: U = 1, z = (1 - 0.5 - 0.5) / sqrt(1/12 * 3) = 0
    assert rules.mann_whitney_greater([2], [1]) == pytest.approx(0.5)
    # all tied: no evidence either way
    assert rules.mann_whitney_greater([3, 3, 3], [3, 3, 3]) == 1.0
    # the rank sum counts x's ranks only, ties sharing the mean rank: x = [1, 2], y = [2, 3]
    # ranks 1, 2.5 | 2.5, 4 -> R1 = 3.5, U = 3.5 - 3 = 0.5
    assert rules.superiority([1, 2], [2, 3]) == pytest.approx(0.5 / 4)
    assert rules.superiority([5, 1], [3]) == pytest.approx(0.5)  # the order of x does not matter


def test_binomial_tail_at_its_edges():
    assert rules.binomial_greater(1, 10, 0.05) == pytest.approx(1 - 0.95**10)
    assert rules.binomial_greater(0, 10, 0.05) == 1.0
    assert rules.binomial_greater(2, 10, 0.0) == 0.0  # peers never have one
    assert rules.binomial_greater(2, 10, 1.0) == 1.0  # peers always have one
    assert rules.binomial_greater(11, 10, 0.5) == 0.0  # more than n is impossible


def test_holm_caps_at_one():
    assert rules.holm([0.6, 0.7]) == [1.0, 1.0]
    assert rules.holm([0.2, 0.01]) == [pytest.approx(0.2), pytest.approx(0.02)]
