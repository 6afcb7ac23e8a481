from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_checkpoint(settings, tmp_path):
    """Each test's trail has its own checkpoint file: the suite's other tests commit trails of
    their own, whose checkpoint would name a different trail."""
    settings.AUDIT_CHECKPOINT = tmp_path / "audit-checkpoint.json"
