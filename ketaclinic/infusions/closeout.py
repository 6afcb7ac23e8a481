"""Checks a session must pass before it is discharged, registered by the rooms above infusions.

The controlled-substance ledger (``ledger/``) knows whether the drug drawn for a session is
accounted for; infusions does not import it (the layers run one way), so the ledger registers its
check here when its app is ready, and the discharge asks every registered check. Each check takes
the locked session and returns the reasons it may not be discharged yet, in plain words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ketaclinic.infusions.models import Session

Check = Callable[["Session"], list[str]]
_checks: list[Check] = []


def register(check: Check) -> None:
    if check not in _checks:
        _checks.append(check)


def problems(session: Session) -> list[str]:
    return [reason for check in _checks for reason in check(session)]
