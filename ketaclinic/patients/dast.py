"""DAST-10, the Drug Abuse Screening Test (Skinner 1982), ten yes/no questions about the past 12 months.

Scoring, per clinical.md §4 [S76][S77]: each "yes" scores 1, except item 3 ("Are you always able
to stop...?"), where "no" scores 1. Total 0-10; bands 0 none, 1-2 low, 3-5 moderate,
6-8 substantial, 9-10 severe. Pure functions; no Django.

>>> score([False, False, True, False, False, False, False, False, False, False])
0
>>> band(score([True, True, False, False, False, False, False, False, False, False]))
'moderate'
"""

from __future__ import annotations

from collections.abc import Sequence

SOURCE = "clinical.md §4 DAST-10 [S76][S77]"
LEAD_IN = (
    "These questions refer to the past 12 months. 'Drug use' means prescribed or over-the-counter drugs "
    "used in excess of directions, and any non-medical use of drugs. It does not include alcohol or tobacco."
)

ITEMS: tuple[str, ...] = (
    "Have you used drugs other than those required for medical reasons?",
    "Do you abuse more than one drug at a time?",
    "Are you always able to stop using drugs when you want to?",
    'Have you had "blackouts" or "flashbacks" as a result of drug use?',
    "Do you ever feel bad or guilty about your drug use?",
    "Does your spouse (or parents) ever complain about your involvement with drugs?",
    "Have you neglected your family because of your use of drugs?",
    "Have you engaged in illegal activities in order to obtain drugs?",
    "Have you ever experienced withdrawal symptoms (felt sick) when you stopped taking drugs?",
    "Have you had medical problems as a result of your drug use "
    "(e.g. memory loss, hepatitis, convulsions, bleeding)?",
)

# Zero-based index of the item scored in reverse ("no" = 1): item 3.
REVERSED = frozenset({2})

# (lowest score, band code, label), ascending.
BANDS: tuple[tuple[int, str, str], ...] = (
    (0, "none", "No problems reported"),
    (1, "low", "Low level"),
    (3, "moderate", "Moderate level"),
    (6, "substantial", "Substantial level"),
    (9, "severe", "Severe level"),
)


def score(answers: Sequence[bool]) -> int:
    """Total score of ten answers (True = "yes") in questionnaire order."""
    if len(answers) != len(ITEMS):
        raise ValueError(f"answers: DAST-10 needs {len(ITEMS)} answers, got {len(answers)}")
    if not all(isinstance(a, bool) for a in answers):
        raise ValueError("answers: each DAST-10 answer must be yes (True) or no (False)")
    return sum((not a) if i in REVERSED else a for i, a in enumerate(answers))


def band(total: int) -> str:
    """Band code of a total score: none, low, moderate, substantial or severe."""
    return _band(total)[1]


def band_label(total: int) -> str:
    return _band(total)[2]


def _band(total: int) -> tuple[int, str, str]:
    if not 0 <= total <= len(ITEMS):
        raise ValueError(f"total: a DAST-10 score is 0-{len(ITEMS)}, got {total}")
    return [b for b in BANDS if total >= b[0]][-1]
