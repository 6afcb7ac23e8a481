"""The examples in the infusion modules' docstrings are tests too (pytest collects only tests/ and pkpd/)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["states", "alert_rules", "scales", "rems", "observations"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"ketaclinic.infusions.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
