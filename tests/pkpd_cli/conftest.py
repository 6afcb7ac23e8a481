"""Engine command-line tests run without Django and without a database.

The repository's top-level conftest adds an autouse fixture that needs pytest-django's ``settings``;
these tests run with ``-p no:django`` too, so that fixture is replaced here by a no-op.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_hasher() -> None:
    """Nothing to speed up: the engine has no passwords (overrides the top-level fixture)."""
