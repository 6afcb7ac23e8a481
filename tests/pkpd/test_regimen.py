"""The regimen text form: every documented form, and errors that point at the failing word."""

from __future__ import annotations

import pytest

from ketaclinic.pkpd import DoseEvent, RegimenError, parse_regimen


def events(text: str) -> list[tuple[str, str, float, float, bool, float]]:
    return [
        (e.route, e.drug, e.start_min, round(e.dose, 9), e.per_kg, e.duration_min)
        for e in parse_regimen(text).events
    ]


def test_infusion_over() -> None:
    assert events("iv 0.5 mg/kg over 40 min") == [("iv", "racemic", 0.0, 0.5, True, 40.0)]


def test_titration_then() -> None:
    assert events("iv 0.5 mg/kg/h for 20 min, then 0.75 mg/kg/h for 20 min") == [
        ("iv", "racemic", 0.0, round(0.5 / 3, 9), True, 20.0),
        ("iv", "racemic", 20.0, 0.25, True, 20.0),
    ]


def test_bolus_and_delayed_infusion() -> None:
    assert events("bolus 20 mg at 5 min; iv 0.3 mg/kg/h for 60 min at 5 min") == [
        ("iv", "racemic", 5.0, 20.0, False, 0.0),
        ("iv", "racemic", 5.0, 0.3, True, 60.0),
    ]


@pytest.mark.parametrize(
    ("text", "route", "dose", "per_kg"),
    [
        ("im 0.5 mg/kg", "im", 0.5, True),
        ("nasal 50 mg", "nasal", 50.0, False),
        ("oral 100 mg", "oral", 100.0, False),
        ("sublingual 25 mg", "sublingual", 25.0, False),
        ("insufflated 100 mg", "insufflated", 100.0, False),
        ("IM 20MG", "im", 20.0, False),
        ("oral 100mg", "oral", 100.0, False),
    ],
)
def test_extravascular(text: str, route: str, dose: float, per_kg: bool) -> None:
    assert events(text) == [(route, "racemic", 0.0, dose, per_kg, 0.0)]


def test_repeated_insufflation() -> None:
    starts = [e.start_min for e in parse_regimen("insufflated 100 mg; insufflated 50 mg at 30 min").events]
    assert starts == [0.0, 30.0]


def test_esketamine_devices_5_min_apart() -> None:
    ev = parse_regimen("nasal esketamine 84 mg").events
    assert [(e.start_min, e.dose, e.device_index) for e in ev] == [
        (0.0, 28.0, 0),
        (5.0, 28.0, 1),
        (10.0, 28.0, 2),
    ]
    assert all(e.drug == "esketamine" for e in ev)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("iv 1 mg/min for 90 s", 1.5), ("iv 1 mg/min for 30 sec", 0.5), ("iv 1 mg/h for 2 h", 120.0)],
)
def test_time_units(text: str, minutes: float) -> None:
    assert parse_regimen(text).events[0].duration_min == pytest.approx(minutes)


@pytest.mark.parametrize(
    ("text", "unit_rate_mg_per_min"),
    [
        ("iv 6 mg/h for 10 min", 0.1),
        ("iv 2 mg/min for 10 min", 2.0),
        ("iv 0.01 mg/kg/min for 10 min", 0.01),
        ("iv 0.6 mg/kg/h for 10 min", 0.01),
    ],
)
def test_rate_units(text: str, unit_rate_mg_per_min: float) -> None:
    e = parse_regimen(text).events[0]
    assert e.dose / e.duration_min == pytest.approx(unit_rate_mg_per_min)


def test_weight_based_dose_needs_weight() -> None:
    e = DoseEvent("im", "racemic", 0.0, 0.5, per_kg=True)
    with pytest.raises(ValueError, match="weight_kg"):
        e.amount_mg(None)


@pytest.mark.parametrize(
    ("text", "word", "position", "expected"),
    [
        ("iv 0.5 mg/kg during 40 min", "during", 13, "';' or the end"),
        ("iv 0.5 mg/kilo over 40 min", "mg/kilo", 7, "a dose unit"),
        ("iv half mg/kg", "half", 3, "a number"),
        ("intravenously 20 mg", "intravenously", 0, "a route"),
        ("iv 0.5 mg/kg over 40 parsecs", "parsecs", 21, "a time unit"),
        ("nasal esketamine 50 mg", "50", 17, "multiple of the 28 mg device"),
        ("iv 1 mg/h for 20 min, 2 mg/h for 20 min", "2", 22, "'then'"),
        ("iv 1 mg/h", "", 9, "'for'"),
        ("bolus 20 mg/h for 2 min", "mg/h", 9, "a dose unit"),
        ("iv 20 mg;; im 2 mg", ";", 9, "a route"),
        ("iv 20 mg # note", "#", 9, "unexpected character"),
        ("", "", 0, "a regimen"),
    ],
)
def test_errors_point_at_the_word(text: str, word: str, position: int, expected: str) -> None:
    with pytest.raises(RegimenError) as info:
        parse_regimen(text)
    err = info.value
    assert (err.word, err.position) == (word, position)
    assert expected in err.message
    assert text[err.position :].startswith(err.word)


def test_one_drug_per_regimen() -> None:
    with pytest.raises(RegimenError, match="one drug") as info:
        parse_regimen("iv 20 mg; nasal esketamine 28 mg")
    assert (info.value.word, info.value.position) == ("nasal", 10)
