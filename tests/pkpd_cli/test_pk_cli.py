"""`ketaclinic pk`: models, simulate, compare, errors, plots, and the validation document."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET  # noqa: S405 - parses our own SVG output
from pathlib import Path

import numpy as np
import pytest

from ketaclinic.pkpd import MODELS, Patient, simulate
from ketaclinic.pkpd.cli import ProgressBar, main, parse_duration_min
from ketaclinic.pkpd.cli.output import _progress_for

ROOT = Path(__file__).resolve().parents[2]
REGIMEN = "iv 0.5 mg/kg over 40 min"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_json_has_the_contract_keys_and_matches_the_engine(capsys):
    code, out, err = run_cli(
        capsys,
        "simulate",
        "--weight-kg",
        "70",
        "--regimen",
        REGIMEN,
        "--until",
        "2h",
        "--format",
        "json",
    )
    assert code == 0, err
    data = json.loads(out)
    for key in (
        "times_min",
        "plasma_ng_per_ml",
        "effect_site_ng_per_ml",
        "effects",
        "summary",
        "warnings",
        "citations",
    ):
        assert key in data
    for key in ("cmax_ng_per_ml", "tmax_min", "auc_ng_h_per_ml"):
        assert key in data["summary"]
    assert data["times_min"][0] == 0.0 and data["times_min"][-1] == 120.0
    assert len(data["times_min"]) == 121
    engine = simulate(
        REGIMEN, Patient(weight_kg=70.0, age_yr=40.0, sex="female", height_cm=170.0), np.arange(0.0, 121.0)
    )
    np.testing.assert_allclose(data["plasma_ng_per_ml"], engine.plasma_ng_per_ml, rtol=1e-12)
    assert data["summary"]["cmax_ng_per_ml"] == pytest.approx(engine.summary.cmax_ng_per_ml)
    assert data["summary"]["tmax_min"] == 40.0
    assert data["warnings"] and data["citations"]
    assert err == ""  # JSON mode: warnings are in the document, not on stderr


def test_simulate_csv_has_a_header_and_one_row_per_time(capsys):
    code, out, _ = run_cli(
        capsys,
        "simulate",
        "--weight-kg",
        "70",
        "--regimen",
        "im 0.5 mg/kg",
        "--until",
        "90min",
        "--step",
        "30s",
        "--format",
        "csv",
    )
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("time_min,plasma_ng_per_ml,effect_site_ng_per_ml,high_pct_max")
    assert lines[0].endswith(",zone")
    assert len(lines) == 1 + 181
    assert lines[2].startswith("0.5,")


def test_simulate_table_shows_series_summary_and_warnings_on_stderr(capsys):
    code, out, err = run_cli(capsys, "simulate", "--weight-kg", "70", "--regimen", REGIMEN)
    assert code == 0
    assert "Regimen: iv 0.5 mg/kg over 40 min" in out
    assert "peak plasma (Cmax)" in out and "not noticeable from" in out
    assert "40 min" in out and "6 h" in out
    assert len(out.splitlines()) < 80  # subsampled, not 361 rows
    # the answer on stdout; on stderr one line, the caveats only with --verbose
    assert err.startswith("note: ") and len(err.splitlines()) == 1 and "--verbose" in err
    code, out2, err2 = run_cli(capsys, "simulate", "--weight-kg", "70", "--regimen", REGIMEN, "--verbose")
    assert code == 0 and out2 == out
    assert err2.startswith("warning: ") and len(err2.splitlines()) > 3


def test_population_percentiles_are_ordered(capsys):
    code, out, _ = run_cli(
        capsys,
        "simulate",
        "--weight-kg",
        "70",
        "--regimen",
        REGIMEN,
        "--until",
        "3h",
        "--population",
        "200",
        "--seed",
        "3",
        "--format",
        "json",
    )
    assert code == 0
    pop = json.loads(out)["population"]
    assert pop["n"] == 200 and pop["seed"] == 3
    for series in ("plasma_ng_per_ml", "effect_site_ng_per_ml", "high_pct_max"):
        bands = {k: np.array(v) for k, v in pop["percentiles"][series].items()}
        assert np.all(bands["p5"] <= bands["p50"] + 1e-9)
        assert np.all(bands["p50"] <= bands["p95"] + 1e-9)
        assert bands["p95"].max() > bands["p5"].max()


def test_compare_names_each_regimen_with_a_verdict(capsys):
    regimens = ["iv 0.5 mg/kg over 40 min", "nasal esketamine 84 mg", "insufflated 100 mg"]
    code, out, _ = run_cli(
        capsys, "compare", "--weight-kg", "70", *regimens, "--population", "60", "--until", "6h"
    )
    assert code == 0
    assert "Does it get you high?" in out
    for text in regimens:
        assert f"-  {text}: most people" in " ".join(out.split("\n"))
    assert "Sources" in out and "Bowdle" in out


def test_compare_json_gives_ranges_and_verdicts(capsys):
    code, out, _ = run_cli(
        capsys,
        "compare",
        "--weight-kg",
        "70",
        REGIMEN,
        "im 0.5 mg/kg",
        "--population",
        "60",
        "--format",
        "json",
    )
    assert code == 0
    items = json.loads(out)["regimens"]
    assert [it["regimen"] for it in items] == [REGIMEN, "im 0.5 mg/kg"]
    for it in items:
        peak = it["peak_plasma_ng_per_ml"]
        assert peak["p5"] <= peak["p50"] <= peak["p95"]
        assert it["verdict"].startswith(it["regimen"] + ": ")
        assert it["citations"]


def test_plots_are_valid_png_and_svg(capsys, tmp_path):
    png, svg = tmp_path / "sim.png", tmp_path / "cmp.svg"
    code, _, err = run_cli(
        capsys,
        "simulate",
        "--weight-kg",
        "70",
        "--regimen",
        REGIMEN,
        "--population",
        "50",
        "--plot",
        str(png),
    )
    assert code == 0 and f"wrote {png}" in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, _ = run_cli(
        capsys,
        "compare",
        "--weight-kg",
        "70",
        REGIMEN,
        "nasal esketamine 56 mg",
        "--population",
        "50",
        "--plot",
        str(svg),
    )
    assert code == 0
    root = ET.parse(svg).getroot()  # noqa: S314 - our own file
    assert root.tag.endswith("svg")
    assert "not noticeable" in svg.read_text()


def test_plot_with_an_unknown_extension_is_refused_before_simulating(capsys, tmp_path):
    code, out, err = run_cli(
        capsys, "simulate", "--weight-kg", "70", "--regimen", REGIMEN, "--plot", str(tmp_path / "x.pdf")
    )
    assert code == 2 and out == ""
    assert ".png or .svg" in err


def test_a_bad_regimen_names_the_word_and_exits_2(capsys):
    code, out, err = run_cli(
        capsys, "simulate", "--weight-kg", "70", "--regimen", "iv 0.5 mg/kgg over 40 min"
    )
    assert code == 2
    assert out == ""
    assert "'mg/kgg'" in err and "expected a dose unit" in err
    assert "^^^^^^" in err


def test_a_bad_regimen_in_compare_exits_2(capsys):
    code, out, err = run_cli(capsys, "compare", "--weight-kg", "70", REGIMEN, "iv twenty mg")
    assert code == 2 and out == ""
    assert "twenty" in err


@pytest.mark.parametrize("duration", ["6 parsecs", "six hours", "h"])
def test_a_bad_duration_exits_2(capsys, duration):
    code, out, err = run_cli(
        capsys, "simulate", "--weight-kg", "70", "--regimen", REGIMEN, "--until", duration
    )
    assert code == 2 and out == ""
    assert f"could not read {duration!r}" in err


def test_durations():
    assert parse_duration_min("6h") == 360.0
    assert parse_duration_min("1.5 hours") == 90.0
    assert parse_duration_min("10s") == pytest.approx(1 / 6)


def test_an_unknown_model_lists_the_valid_names(capsys):
    code, out, err = run_cli(
        capsys, "simulate", "--model", "stanpump", "--weight-kg", "70", "--regimen", REGIMEN
    )
    assert code == 2 and out == ""
    assert "unknown model 'stanpump'" in err
    for name in MODELS:
        assert name in err


def test_a_bad_patient_value_exits_2(capsys):
    code, out, err = run_cli(capsys, "simulate", "--weight-kg", "0", "--regimen", REGIMEN)
    assert code == 2 and out == "" and "weight_kg" in err


def test_models_lists_every_model_with_its_citation(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    for name, model in MODELS.items():
        assert f"{name}: {model.title}" in out
        assert model.reference_id in out
    code, out, _ = run_cli(capsys, "models", "--format", "json")
    rows = json.loads(out)["models"]
    assert {r["name"] for r in rows} == set(MODELS)
    assert all(r["age_range_yr"] and r["weight_range_kg"] and r["citation"] for r in rows)


def test_progress_bar_draws_on_one_line_and_ends_it():
    stream = io.StringIO()
    bar = ProgressBar(stream, "population", width=10)
    for done in (0, 500, 1000):
        bar(done, 1000)
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("1000/1000\n")
    assert "[#####.....]  50%" in text
    assert _progress_for(10_000, io.StringIO(), "x") is None  # not a terminal


def test_the_module_runs_as_a_script():
    proc = subprocess.run(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "ketaclinic.pkpd.cli",
            "simulate",
            "--weight-kg",
            "70",
            "--regimen",
            "bolus 20 mg",
            "--until",
            "30min",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"]["tmax_min"] == 1.0  # a bolus is pushed over 1 min
    bad = subprocess.run(  # noqa: S603 - our own CLI
        [
            sys.executable,
            "-m",
            "ketaclinic.pkpd.cli",
            "simulate",
            "--weight-kg",
            "70",
            "--regimen",
            "iv 20 mgg",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert bad.returncode == 2 and bad.stdout == "" and "mgg" in bad.stderr


def test_importing_the_engine_cli_and_plots_loads_neither_matplotlib_nor_django():
    code = (
        "import sys, ketaclinic.pkpd, ketaclinic.pkpd.cli, ketaclinic.pkpd.plots; "
        "print(sorted(m for m in ('matplotlib', 'django') if m in sys.modules))"
    )
    proc = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert proc.stdout.strip() == "[]"


def test_the_validation_document_is_up_to_date():
    out = io.StringIO()
    from ketaclinic.pkpd.cli.common import Streams
    from ketaclinic.pkpd.cli.validate_cmd import cmd_validate

    args = argparse.Namespace(model=None, format="markdown")
    assert cmd_validate(args, Streams(out, io.StringIO())) == 0
    committed = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    assert out.getvalue() == committed, "run: ketaclinic pk validate --format markdown > docs/validation.md"
