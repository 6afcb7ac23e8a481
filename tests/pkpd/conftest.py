"""Engine tests run without Django: `pytest tests/pkpd ketaclinic/pkpd -p no:django`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fast_hasher() -> Iterator[None]:
    """Override the project-wide autouse fixture, which needs Django's settings fixture."""
    yield
