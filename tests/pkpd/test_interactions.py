"""Recorded medications change the prediction by route, as measured (#10)."""

from __future__ import annotations

import numpy as np
import pytest

from ketaclinic.pkpd import Patient, simulate
from ketaclinic.pkpd.interactions import INTERACTIONS, factors

GRID = np.arange(0.0, 24 * 60.0 + 1, 1.0)


def auc(text: str, *meds: str) -> float:
    return simulate(
        text, Patient(weight_kg=70.0, age_yr=40.0, medications=meds), GRID
    ).summary.auc_ng_h_per_ml


def test_rifampicin_lowers_oral_exposure_far_more_than_iv():
    # Peltoniemi 2012: IV AUC -14%, oral AUC -86%
    assert auc("iv 20 mg over 20 min", "rifampicin") / auc("iv 20 mg over 20 min") == pytest.approx(
        0.86, rel=0.03
    )
    assert auc("oral 50 mg", "rifampicin") / auc("oral 50 mg") == pytest.approx(0.14, rel=0.05)


def test_clarithromycin_raises_oral_exposure_and_leaves_iv_unchanged_as_stated():
    assert auc("oral 50 mg", "Clarithromycin") / auc("oral 50 mg") == pytest.approx(2.6, rel=0.05)
    assert auc("iv 20 mg over 20 min", "clarithromycin") == pytest.approx(auc("iv 20 mg over 20 min"))
    res = simulate("oral 50 mg", Patient(weight_kg=70.0, medications=("clarithromycin",)), GRID)
    assert any("IV exposure change not measured (ASSUMED none)" in w for w in res.warnings)


def test_an_unmeasured_medicine_changes_nothing_and_a_liver_grade_only_warns():
    assert factors(["sertraline", "ketoconazole"]) == (1.0, 1.0)
    res = simulate("iv 0.5 mg/kg over 40 min", Patient(weight_kg=70.0, hepatic_impairment="moderate"), GRID)
    assert any(w.startswith("hepatic impairment (moderate)") and "NOT applied" in w for w in res.warnings)
    with pytest.raises(ValueError, match="hepatic_impairment"):
        Patient(weight_kg=70.0, hepatic_impairment="bad")


def test_esketamine_spray_exposure_rises_with_an_inhibitor_and_falls_with_an_inducer():
    base = auc("nasal esketamine 56 mg")
    assert (
        auc("nasal esketamine 56 mg", "clarithromycin") > base > auc("nasal esketamine 56 mg", "rifampicin")
    )


def test_every_interaction_cites_a_source():
    assert all(i.source and i.oral_auc_factor > 0 for i in INTERACTIONS.values())
