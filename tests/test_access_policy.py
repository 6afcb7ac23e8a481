"""The permission table in the code equals the reviewed policy (``tests/access_policy.txt``).

The access-matrix test derives what each role should get from ``PERMISSIONS``; on its own it would
pass if the table itself were wrong (nurses given ``orders.sign``). This test pins the table to a
list written by hand, so such a change fails until the list is changed as well, on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ketaclinic.accounts.access import PERMISSIONS
from ketaclinic.accounts.models import Role

POLICY = Path(__file__).with_name("access_policy.txt")
COLUMNS = {"P": Role.PRESCRIBER, "N": Role.NURSE, "F": Role.FRONTDESK, "A": Role.ADMIN, "U": Role.AUDITOR}


def read_policy(text: str) -> dict[str, frozenset[Role]]:
    policy: dict[str, frozenset[Role]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        permission, *marks = line.split()
        if len(marks) != len(COLUMNS) or any(m not in ("-", c) for m, c in zip(marks, COLUMNS, strict=True)):
            raise ValueError(
                f"access_policy.txt line {number}: expected {' '.join(COLUMNS)} or '-' in each column"
            )
        if permission in policy:
            raise ValueError(f"access_policy.txt line {number}: {permission} listed twice")
        policy[permission] = frozenset(COLUMNS[m] for m in marks if m != "-")
    return policy


def test_the_permission_table_is_the_reviewed_policy():
    policy = read_policy(POLICY.read_text())
    assert sorted(PERMISSIONS) == sorted(policy), (
        "a permission was added or removed: update access_policy.txt"
    )
    differ = {p: (sorted(PERMISSIONS[p]), sorted(policy[p])) for p in policy if PERMISSIONS[p] != policy[p]}
    assert differ == {}, "code (left) and reviewed policy (right) differ: change both, on purpose"


def test_the_policy_reader_refuses_a_malformed_line():
    with pytest.raises(ValueError, match="line 1"):
        read_policy("orders.sign P N F A\n")
    with pytest.raises(ValueError, match="line 1"):
        read_policy("orders.sign N P - - -\n")
    with pytest.raises(ValueError, match="listed twice"):
        read_policy("orders.sign P - - - -\norders.sign P - - - -\n")
