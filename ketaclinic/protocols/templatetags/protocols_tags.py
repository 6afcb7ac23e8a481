"""Small template helpers for the protocols pages."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import template

register = template.Library()


@register.filter
def get(mapping: Any, key: str) -> Any:
    """``{{ values|get:name }}``: a dict lookup with a variable key (None when absent)."""
    if not isinstance(mapping, dict):
        return None
    return mapping.get(key)


@register.filter
def num(value: Any) -> str:
    """A Decimal or number without trailing zeros: 0.5000 -> 0.5, 35.0 -> 35."""
    if value in (None, ""):
        return ""
    try:
        d = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    return f"{d.normalize():f}"


@register.filter
def minutes(value: Any) -> str:
    """Minutes as a rounded whole number, or 'more than the chart shows' for None."""
    if value is None:
        return "—"
    return str(int(round(float(value))))


@register.filter
def hours_minutes(value: Any) -> str:
    """120 -> '2 h', 100 -> '1 h 40 min', 40 -> '40 min'."""
    if value in (None, ""):
        return ""
    total = int(round(float(value)))
    h, m = divmod(total, 60)
    if h and m:
        return f"{h} h {m} min"
    return f"{h} h" if h else f"{m} min"


# Where a provenance string turns from the source to notes for developers and reviewers.
_CAVEATS = (
    ", as transcribed",
    "; primary not read",
    "; paper not read",
    "; quoted in",
    "; secondary",
    " (unconfirmed)",
    "; unconfirmed",
)


@register.filter
def plain_source(citation: Any) -> str:
    """A source as a patient reads it: the work itself, without the reviewers' notes on how it
    was read.

    >>> plain_source("Domino EF et al., Anesth Analg 1982;61:87-92 (PMID 7198883), as transcribed in "
    ...              "STANPUMP; primary not read")
    'Domino EF et al., Anesth Analg 1982;61:87-92 (PMID 7198883)'
    >>> plain_source("pooled NIMH data (Acevedo-Diaz 2020, clinical.md [S113][S114]); Bowdle 1998")
    'pooled NIMH data (Acevedo-Diaz 2020); Bowdle 1998'
    """
    text = str(citation or "")
    # The project's own reference files and their codes mean nothing to a patient.
    text = re.sub(r",?\s*(reference/)?(clinical|pkpd)\.md( §[\d.]+)?(\s*\[S\d+\])*", "", text)
    text = re.sub(r"\s*(\[S\d+\])+", "", text)
    cut = min((i for i in (text.find(c) for c in _CAVEATS) if i >= 0), default=len(text))
    return text[:cut].rstrip(" ,;")
