"""docs/security.md carries the role x permission table; this keeps it equal to PERMISSIONS.

After changing PERMISSIONS, regenerate the table with
``KETACLINIC_WRITE_DOCS=1 .venv/bin/pytest tests/accounts/test_security_doc.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ketaclinic.accounts.access import PERMISSIONS
from ketaclinic.accounts.models import Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
START, END = "<!-- permissions:start -->", "<!-- permissions:end -->"


def permissions_table() -> str:
    roles = list(Role)
    lines = [
        "| permission | " + " | ".join(r.label for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for permission, holders in PERMISSIONS.items():
        marks = ["yes" if r in holders else "" for r in roles]
        lines.append(f"| `{permission}` | " + " | ".join(marks) + " |")
    return "\n".join(lines)


def test_security_doc_lists_every_permission():
    text = DOC.read_text()
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    expected = f"{before}{START}\n{permissions_table()}\n{END}{after}"
    if os.environ.get("KETACLINIC_WRITE_DOCS") and text != expected:
        DOC.write_text(expected)
        text = expected
    assert text == expected, (
        "docs/security.md is out of date with PERMISSIONS; regenerate with "
        "KETACLINIC_WRITE_DOCS=1 .venv/bin/pytest tests/accounts/test_security_doc.py"
    )
