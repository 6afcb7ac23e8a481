"""The front door: results, zones, summary, warnings and validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ketaclinic.pkpd import ZONES, Patient, RegimenError, simulate
from ketaclinic.pkpd.pd import zones

T = np.arange(0.0, 361.0)


def test_result_fields_and_json() -> None:
    res = simulate("iv 0.5 mg/kg over 40 min", Patient(weight_kg=70.0, age_yr=40.0), T)
    d = json.loads(json.dumps(res.to_dict()))
    for key in (
        "times_min",
        "plasma_ng_per_ml",
        "effect_site_ng_per_ml",
        "effects",
        "zones",
        "summary",
        "warnings",
        "citations",
        "model",
    ):
        assert key in d
    for key in ("cmax_ng_per_ml", "tmax_min", "auc_ng_h_per_ml", "time_effect_unnoticeable_min"):
        assert key in d["summary"]
    assert {"high_pct_max", "perceptual_pct_max"} <= set(res.effects)
    assert set(res.zones) <= {z.key for z in ZONES}
    assert res.summary.time_effect_unnoticeable_min is not None
    assert res.summary.time_effect_unnoticeable_min > 40.0


def test_zones_are_ordered_and_sourced() -> None:
    bounds = [z.lower_ng_per_ml for z in ZONES]
    assert bounds == sorted(bounds) and [z.key for z in ZONES] == [
        "none",
        "mild",
        "dissociative",
        "anaesthetic",
    ]
    assert all(z.source for z in ZONES)
    # esketamine counts double (racemic-equivalent)
    assert zones(np.array([40.0]), "esketamine")[0] == "mild"
    assert zones(np.array([40.0]), "racemic")[0] == "none"


def test_out_of_range_covariates_warn() -> None:
    res = simulate("iv 1 mg/kg", Patient(weight_kg=70.0, age_yr=40.0), T, model="herd")
    assert any("outside the valid range" in w for w in res.warnings)


def test_assumed_values_reach_the_warnings() -> None:
    res = simulate("insufflated 100 mg", Patient(weight_kg=70.0), T)
    text = " ".join(res.warnings)
    assert "insufflated" in text and "ASSUMED" in text


def test_still_noticeable_at_the_end_gives_none() -> None:
    res = simulate("iv 2 mg/kg/h for 360 min", Patient(weight_kg=70.0), T)
    assert res.summary.time_effect_unnoticeable_min is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "nope"}, "valid names"),
        ({"times_min": [3.0, 1.0]}, "times_min"),
        ({"times_min": []}, "times_min"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"regimen": "iv 20 mg", "patient": Patient(weight_kg=70.0), "times_min": T}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        simulate(**args)  # type: ignore[arg-type]


def test_route_the_model_lacks() -> None:
    with pytest.raises(ValueError, match="no im route"):
        simulate("im esketamine 28 mg", Patient(weight_kg=70.0), T)


def test_regimen_error_propagates() -> None:
    with pytest.raises(RegimenError):
        simulate("iv twenty mg", Patient(weight_kg=70.0), T)


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan")])
def test_nonsense_weight_raises(weight: float) -> None:
    with pytest.raises(ValueError, match="weight_kg"):
        Patient(weight_kg=weight)
