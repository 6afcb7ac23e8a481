"""Eligibility rules at their boundaries. Pure: no database, no Django settings."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from ketaclinic.patients import eligibility as el
from ketaclinic.patients import formulary as fx
from ketaclinic.patients import history
from ketaclinic.patients.eligibility import Facts, Medication, Thresholds

# A healthy adult with a normal baseline: no findings at all.
BASE = Facts(
    age_years=40, sex="male", pregnancy_status="not_applicable", systolic_mmhg=120, diastolic_mmhg=80
)


def codes(facts: Facts, thresholds: Thresholds | None = None) -> dict[str, str]:
    return {f.code: f.severity for f in el.evaluate(facts, thresholds)}


def with_(**changes) -> Facts:
    return replace(BASE, **changes)


def med(name: str, daily_mg: float | None = None) -> Medication:
    m = fx.match(name)
    eq = fx.diazepam_equivalent_mg(m, None if daily_mg is None else Decimal(str(daily_mg)))
    return Medication(
        name=name,
        recognised=m.recognised,
        generic=m.generic,
        classes=m.classes,
        daily_dose_mg=daily_mg,
        diazepam_eq_mg=float(eq) if eq is not None else None,
    )


def test_pure_modules_do_not_import_django():
    for name in ("eligibility", "formulary", "dast", "history"):
        source = (Path(el.__file__).parent / f"{name}.py").read_text()
        assert "import django" not in source and "from django" not in source, name


def test_healthy_baseline_has_no_findings():
    assert el.evaluate(BASE) == []


# --- Blood pressure: >140/90 review [S30]; >180/100 absolute [S19] -----------------------------


@pytest.mark.parametrize(
    ("sys_", "dia", "expected"),
    [
        (140, 90, None),
        (141, 90, "bp_elevated"),
        (140, 91, "bp_elevated"),
        (180, 100, "bp_elevated"),
        (181, 100, "bp_uncontrolled"),
        (180, 101, "bp_uncontrolled"),
    ],
)
def test_blood_pressure_boundaries(sys_, dia, expected):
    found = codes(with_(systolic_mmhg=sys_, diastolic_mmhg=dia))
    bp = {c: s for c, s in found.items() if c.startswith("bp_")}
    if expected is None:
        assert bp == {}
    else:
        assert bp == {expected: el.REVIEW if expected == "bp_elevated" else el.ABSOLUTE}


def test_missing_blood_pressure_is_a_note():
    assert codes(with_(systolic_mmhg=None, diastolic_mmhg=None)) == {"bp_not_recorded": el.NOTE}


def test_thresholds_are_configurable():
    strict = Thresholds(bp_review_systolic_mmhg=130)
    assert "bp_elevated" in codes(with_(systolic_mmhg=135), strict)
    assert "bp_elevated" not in codes(with_(systolic_mmhg=135))


def test_thresholds_from_settings_like_object():
    class Config:
        ELIGIBILITY_BENZODIAZEPINE_DIAZEPAM_EQ_MG = "5"
        ELIGIBILITY_DAST10_REVIEW_SCORE = 6

    t = el.thresholds_from(Config())
    assert t.benzodiazepine_diazepam_eq_mg == 5.0
    assert t.dast10_review_score == 6
    assert t.bp_review_systolic_mmhg == 140


@pytest.mark.parametrize(("hr", "flagged"), [(110, False), (111, True)])
def test_heart_rate_boundary_is_flagged_unconfirmed(hr, flagged):
    found = [f for f in el.evaluate(with_(heart_rate_bpm=hr)) if f.code == "heart_rate_high"]
    assert bool(found) is flagged
    if found:
        assert found[0].unconfirmed and found[0].severity == el.REVIEW


# --- Benzodiazepines: >8 mg diazepam-eq/day [S79] ----------------------------------------------


@pytest.mark.parametrize(("diazepam_mg", "high"), [(8, False), (8.5, True)])
def test_benzodiazepine_dose_boundary(diazepam_mg, high):
    found = codes(with_(medications=(med("diazepam", diazepam_mg),)))
    assert found["benzodiazepine"] == el.INTERACTION
    assert ("benzodiazepine_high_dose" in found) is high


def test_benzodiazepine_doses_add_up_across_drugs():
    # lorazepam 0.5 mg = 5 mg diazepam-eq; diazepam 4 mg: 9 mg total > 8.
    found = codes(with_(medications=(med("lorazepam", 0.5), med("diazepam", 4))))
    assert "benzodiazepine_high_dose" in found


def test_brand_benzodiazepine_without_dose_asks_for_it():
    found = codes(with_(medications=(med("Xanax"),)))
    assert found["benzodiazepine_dose_unknown"] == el.INTERACTION
    assert "benzodiazepine_high_dose" not in found


# --- Other interaction classes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Lamictal", "lamotrigine"),
        ("Nardil", "maoi"),
        ("Adderall", "stimulant"),
        ("Provigil", "stimulant"),
        ("OxyContin", "opioid"),
        ("Ambien", "cns_depressant"),
        ("gabapentin", "cns_depressant"),
        ("Theo-24", "theophylline"),
        ("Synthroid", "thyroid_hormone"),
        ("clarithromycin", "cyp_inhibitor"),
        ("rifampin", "cyp_inducer"),
    ],
)
def test_interaction_classes(name, code):
    found = codes(with_(medications=(med(name),)))
    assert found[code] == el.INTERACTION


def test_benzodiazepine_is_not_repeated_as_a_generic_cns_depressant():
    assert "cns_depressant" not in codes(with_(medications=(med("diazepam", 5),)))


def test_unknown_medication_is_a_note_naming_it():
    findings = el.evaluate(with_(medications=(med("Zyxoprilan"),)))
    assert [(f.code, f.severity) for f in findings] == [("medication_unrecognised", el.NOTE)]
    assert "Zyxoprilan" in findings[0].title


# --- History ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "aneurysmal_vascular_disease",
        "arteriovenous_malformation",
        "intracerebral_haemorrhage",
        "hypersensitivity",
        "uncontrolled_hypertension",
        "prior_stroke",
        "thyrotoxicosis",
        "eclampsia",
        "severe_cardiac_disease",
    ],
)
def test_label_contraindications_are_absolute(code):
    assert codes(with_(history=frozenset({code}))) == {code: el.ABSOLUTE}


@pytest.mark.parametrize(
    "code",
    [
        "psychosis",
        "mania_bipolar",
        "substance_use_disorder",
        "cognitive_impairment",
        "lower_urinary_tract",
        "raised_icp",
        "raised_iop",
        "cerebral_trauma",
        "seizure_disorder",
        "cardiac_disease",
    ],
)
def test_precautions_need_review(code):
    assert codes(with_(history=frozenset({code}))) == {code: el.REVIEW}


def test_every_asked_history_item_has_a_rule():
    ruled = {code for code, *_ in el.HISTORY_RULES} | {"hepatic_impairment"}
    assert {i.code for i in history.ASKED_ITEMS} <= ruled


@pytest.mark.parametrize(
    ("grade", "code", "severity"),
    [
        ("C", "hepatic_child_pugh_c", el.ABSOLUTE),
        ("B", "hepatic_child_pugh_b", el.REVIEW),
        ("A", "hepatic_child_pugh_a", el.NOTE),
        ("", "hepatic_grade_unknown", el.REVIEW),
    ],
)
def test_hepatic_impairment_by_child_pugh_class(grade, code, severity):
    found = codes(with_(history=frozenset({"hepatic_impairment"}), hepatic_grade=grade))
    assert found == {code: severity}


# --- DAST-10: >=3 review, 1-2 note ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "expected"), [(0, {}), (2, {"dast10_low": el.NOTE}), (3, {"dast10_positive": el.REVIEW})]
)
def test_dast_boundary(score, expected):
    assert codes(with_(dast10_score=score)) == expected


# --- Patient record -----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [("pregnant", "pregnancy"), ("breastfeeding", "breastfeeding")])
def test_pregnancy_and_breastfeeding_need_review(status, code):
    assert codes(with_(sex="female", pregnancy_status=status)) == {code: el.REVIEW}


def test_unknown_pregnancy_status_of_a_woman_of_childbearing_age_is_a_note():
    assert codes(with_(sex="female", pregnancy_status="unknown")) == {"pregnancy_status_unknown": el.NOTE}
    assert codes(with_(sex="female", pregnancy_status="unknown", age_years=70)) == {
        "age_older_adult": el.NOTE
    }


@pytest.mark.parametrize(
    ("age", "expected"),
    [(17, {"age_under_adult": el.REVIEW}), (18, {}), (64, {}), (65, {"age_older_adult": el.NOTE})],
)
def test_age_boundaries(age, expected):
    assert codes(with_(age_years=age)) == expected


# --- Findings -----------------------------------------------------------------------------------


def test_findings_are_sorted_most_severe_first_and_cite_a_source():
    facts = with_(
        history=frozenset({"psychosis", "aneurysmal_vascular_disease"}),
        medications=(med("Zyxoprilan"), med("Nardil")),
    )
    findings = el.evaluate(facts)
    order = [f.severity for f in findings]
    assert order == sorted(order, key=el.SEVERITIES.index)
    assert all(f.source for f in findings)
    assert len({f.code for f in findings}) == len(findings)


def test_finding_round_trips_through_a_dict():
    f = el.evaluate(with_(systolic_mmhg=150))[0]
    assert el.Finding.from_dict(f.to_dict()) == f


def test_a_bad_severity_is_refused():
    with pytest.raises(ValueError, match="severity"):
        el.Finding("x", "maybe", "t", "e", "s")


def test_grouped_lists_only_present_severities():
    groups = el.grouped(el.evaluate(with_(systolic_mmhg=150, medications=(med("Nardil"),))))
    assert [g[0] for g in groups] == [el.REVIEW, el.INTERACTION]


def test_a_cyp_finding_gives_the_measured_exposure_change():
    findings = el.evaluate(with_(medications=(med("rifampin"),)), el.Thresholds())
    inducer = next(f for f in findings if f.code == "cyp_inducer")
    assert "oral AUC x0.14" in inducer.explanation and "IV AUC x0.86" in inducer.explanation
    findings = el.evaluate(with_(medications=(med("ketoconazole"),)), el.Thresholds())
    inhibitor = next(f for f in findings if f.code == "cyp_inhibitor")
    assert "No measured ketamine data" in inhibitor.explanation
