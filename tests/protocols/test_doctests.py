"""Run the examples in the pure dosing modules' docstrings (testpaths do not collect ketaclinic/protocols)."""

from __future__ import annotations

import doctest

import pytest

from ketaclinic.protocols import dose_calc, gates, limits, units


@pytest.mark.parametrize("module", [dose_calc, gates, limits, units], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
