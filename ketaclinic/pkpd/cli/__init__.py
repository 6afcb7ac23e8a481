"""Command line of the PK/PD engine: ``ketaclinic pk models|simulate|compare``.

The top-level ``ketaclinic`` script hands ``ketaclinic pk ARGS...`` to :func:`main`; the module also
runs on its own as ``python -m ketaclinic.pkpd.cli``. Results go to stdout (table, JSON or CSV);
warnings, progress and notes go to stderr, so stdout can be piped. A bad regimen, duration, model
name or patient value gets a message on stderr naming what was wrong and exit status 2, with
nothing on stdout.

Examples
--------
>>> main(["simulate", "--weight-kg", "70", "--regimen", "iv 0.5 mg/kg over 40 mni"])
2

Modules: ``args`` (the parser and its value types), ``output`` (tables, JSON, progress),
``common`` (what every command shares), one module per command, ``entry`` (``main``). The answer
in words (``verdict``) is the engine's own, in ``ketaclinic.pkpd.verdict``.
"""

from __future__ import annotations

from ketaclinic.pkpd.cli.args import (
    EXIT_OK,
    EXIT_USAGE,
    MAX_TIME_POINTS,
    PROG,
    PROGRESS_MIN_N,
    UsageError,
    build_parser,
    parse_duration_min,
)
from ketaclinic.pkpd.cli.common import Streams, describe_regimen_error, patient_dict
from ketaclinic.pkpd.cli.compare_cmd import cmd_compare, comparison_table
from ketaclinic.pkpd.cli.entry import main
from ketaclinic.pkpd.cli.models_cmd import cmd_models, describe_model, model_rows, model_to_dict
from ketaclinic.pkpd.cli.output import FloatArray, ProgressBar, display_indices, jsonable, render_table
from ketaclinic.pkpd.cli.simulate_cmd import (
    cmd_simulate,
    simulation_json,
    simulation_table,
    summary_rows,
    write_csv,
)
from ketaclinic.pkpd.text import fmt_num, fmt_time_min
from ketaclinic.pkpd.verdict import PERCENTILES, comparison_item, verdict

__all__ = [
    "EXIT_OK",
    "EXIT_USAGE",
    "FloatArray",
    "MAX_TIME_POINTS",
    "PERCENTILES",
    "PROG",
    "PROGRESS_MIN_N",
    "ProgressBar",
    "Streams",
    "UsageError",
    "build_parser",
    "cmd_compare",
    "cmd_models",
    "cmd_simulate",
    "comparison_item",
    "comparison_table",
    "describe_model",
    "describe_regimen_error",
    "display_indices",
    "fmt_num",
    "fmt_time_min",
    "jsonable",
    "main",
    "model_rows",
    "model_to_dict",
    "parse_duration_min",
    "patient_dict",
    "render_table",
    "simulation_json",
    "simulation_table",
    "summary_rows",
    "verdict",
    "write_csv",
]
