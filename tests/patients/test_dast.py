"""DAST-10 scoring, clinical.md §4 [S76][S77]. No database."""

from __future__ import annotations

import pytest

from ketaclinic.patients import dast

NO = [False] * 10


def answers(*yes_items: int, item3: bool = True) -> list[bool]:
    """Answers with the given 1-based items "yes"; item 3 ("always able to stop") yes unless told."""
    out = [i + 1 in yes_items for i in range(10)]
    out[2] = item3
    return out


def test_all_no_except_able_to_stop_scores_zero():
    assert dast.score(answers()) == 0


def test_item_3_is_reversed():
    # "No, I am not always able to stop" scores 1; "yes" scores 0.
    assert dast.score(answers(item3=False)) == 1
    assert dast.score(answers(item3=True)) == 0
    assert dast.score(NO) == 1


def test_every_other_item_scores_yes():
    for item in (1, 2, 4, 5, 6, 7, 8, 9, 10):
        assert dast.score(answers(item)) == 1, item


def test_maximum_is_ten():
    assert dast.score(answers(1, 2, 4, 5, 6, 7, 8, 9, 10, item3=False)) == 10


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "none"),
        (1, "low"),
        (2, "low"),
        (3, "moderate"),
        (5, "moderate"),
        (6, "substantial"),
        (8, "substantial"),
        (9, "severe"),
        (10, "severe"),
    ],
)
def test_bands_at_their_edges(total, band):
    assert dast.band(total) == band


def test_band_label_is_plain():
    assert dast.band_label(3) == "Moderate level"


@pytest.mark.parametrize("bad", [[True] * 9, [True] * 11, [1] * 10, ["yes"] * 10])
def test_bad_answers_name_the_argument(bad):
    with pytest.raises(ValueError, match="answers"):
        dast.score(bad)


@pytest.mark.parametrize("bad", [-1, 11])
def test_band_out_of_range(bad):
    with pytest.raises(ValueError, match="total"):
        dast.band(bad)


def test_ten_items():
    assert len(dast.ITEMS) == 10
    assert "always able to stop" in dast.ITEMS[2]
