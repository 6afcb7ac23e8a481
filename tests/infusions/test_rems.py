"""The Spravato REMS monitoring form built from session facts, and its exports."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from ketaclinic.infusions import rems
from ketaclinic.infusions.rems import BP, RemsFacts

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def facts(**changes):
    base = RemsFacts(
        patient_name="Maria Lopez",
        date_of_birth=date(1984, 3, 2),
        sex="female",
        medications=(("zolpidem", frozenset({"cns_depressant"})), ("phenelzine", frozenset({"maoi"}))),
        monitoring_provider="Nate RN",
        setting="outpatient clinic",
        dose_mg=84,
        lot_numbers=("L1", "L2", "L3"),
        first_device_at=T0,
        monitoring_ended_at=T0 + timedelta(minutes=130),
        ready_to_leave_at=T0 + timedelta(minutes=90),
        blood_pressures=(
            BP(T0 - timedelta(minutes=20), 150, 95),
            BP(T0 - timedelta(minutes=3), 126, 80),
            BP(T0 + timedelta(minutes=33), 150, 92),
            BP(T0 + timedelta(minutes=42), 148, 90),
            BP(T0 + timedelta(minutes=90), 134, 84),
            BP(T0 + timedelta(minutes=125), 128, 82),
        ),
        vitals_acceptable_before=True,
        vitals_acceptable_at_end=True,
        sedation=False,
        dissociation=True,
        respiratory_depression=False,
        other_events="nausea, ondansetron 4 mg ODT",
    )
    return replace(base, **changes)


def test_fields_from_session_facts():
    form = rems.build_form(facts())
    f = form.fields
    assert form.complete and form.warnings == ()
    assert f["bp_before_dose"] == "126/80"  # the last reading before the first device
    assert f["bp_40_min"] == "148/90"  # nearest to 40 min (42 beats 33)
    assert f["bp_before_completion"] == "128/82"
    assert f["total_monitoring_minutes"] == 130
    assert f["ready_to_leave_minutes"] == 90
    assert f["dose_mg"] == "84" and f["dose_other_mg"] == ""
    assert f["concomitant_benzodiazepines"] == "N"
    assert f["concomitant_non_benzodiazepine_sedative_hypnotics"] == "Y"
    assert f["concomitant_maois"] == "Y"
    assert f["concomitant_psychostimulants"] == "N"
    assert f["dissociation"] == "Y" and f["sedation"] == "N"
    assert f["date"] == "2025-01-06" and f["lot_numbers"] == "L1 L2 L3"


def test_non_standard_dose_goes_to_other():
    f = rems.build_form(facts(dose_mg=28)).fields
    assert (f["dose_mg"], f["dose_other_mg"]) == ("other", "28")


def test_missing_values_are_listed_and_short_monitoring_is_warned():
    form = rems.build_form(
        facts(
            blood_pressures=(BP(T0 - timedelta(minutes=3), 126, 80),),
            monitoring_ended_at=T0 + timedelta(minutes=100),
            lot_numbers=(),
            vitals_acceptable_at_end=None,
        )
    )
    assert not form.complete
    assert form.missing == (
        "lot number",
        "blood pressure at about 40 min",
        "blood pressure before completion",
        "vital signs acceptable before completion",
    )
    assert form.warnings == ("total monitoring time 100 min is under the required 120 min",)


def test_bp_at_40_respects_the_tolerance():
    late = facts(
        blood_pressures=(BP(T0 - timedelta(minutes=3), 126, 80), BP(T0 + timedelta(minutes=51), 140, 90))
    )
    assert rems.build_form(late).fields["bp_40_min"] == ""


def test_no_first_device_means_no_times():
    form = rems.build_form(facts(first_device_at=None))
    assert form.fields["total_monitoring_minutes"] is None
    assert "time of the first device" in form.missing


def test_csv_and_json_exports():
    forms = [
        rems.build_form(facts()),
        rems.build_form(facts(patient_name='Ann, "Annie" Lee', lot_numbers=())),
    ]
    rows = list(csv.DictReader(io.StringIO(rems.to_csv(forms))))
    assert len(rows) == 2
    assert rows[0]["bp_40_min"] == "148/90" and rows[0]["missing"] == ""
    assert rows[1]["patient_name"] == 'Ann, "Annie" Lee' and rows[1]["missing"] == "lot number"
    data = json.loads(rems.to_json(forms))
    assert data["form_version"].startswith("SPRAVATO REMS Patient Monitoring Form")
    assert data["forms"][0]["total_monitoring_minutes"] == 130
    assert data["forms"][1]["missing"] == ["lot number"]
    assert rems.to_csv([]) == ""
