"""scripts/mutation.py, run for real: mutmut mutates a module, the report counts what the tests
killed, the floor fails a module whose tests miss its mutants, and --changed skips a module whose
recorded digest still matches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "mutation.py"
MODULE = "ketaclinic/protocols/gates.py"  # small, pure, and stated exactly by its tests


def run(tmp_path, tests, *extra):
    config = tmp_path / "mutation.toml"
    config.write_text(
        f'floor = 0.9\n[[group]]\nname = "probe"\nmodules = ["{MODULE}"]\ntests = {json.dumps(tests)}\n'
    )
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--config", str(config), "--scores", str(tmp_path / "scores.json"),
         "--work", str(tmp_path / "work"), "--json", str(tmp_path / "result.json"), "--jobs", "2", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="mutation runs on SQLite only; the SQLite pass ran this"
)
def test_strong_tests_pass_the_floor_and_are_recorded_weak_ones_fail(tmp_path):
    strong = run(tmp_path, ["tests/protocols/test_rules_exact.py"], "--record")
    assert strong.returncode == 0, strong.stdout + strong.stderr
    (result,) = json.loads((tmp_path / "result.json").read_text())
    assert result["module"] == MODULE and result["mutants"] > 20
    assert result["killed"] / result["mutants"] >= 0.9
    assert f"| {MODULE} | {result['mutants']} | {result['killed']} |" in strong.stdout
    recorded = json.loads((tmp_path / "scores.json").read_text())
    assert recorded[MODULE]["kill_rate"] >= 0.9 and len(recorded[MODULE]["digest"]) == 64

    unchanged = run(tmp_path, ["tests/protocols/test_rules_exact.py"], "--changed")
    assert unchanged.returncode == 0 and "nothing to run" in unchanged.stdout

    # The module's doctests alone (tests/test_layers.py never reaches it) miss too many mutants.
    weak = run(tmp_path, ["tests/test_layers.py"], "--record")
    assert weak.returncode == 1
    assert f"below the 90% floor: {MODULE}" in weak.stderr
    (result,) = json.loads((tmp_path / "result.json").read_text())
    assert 0 < result["killed"] < 0.9 * result["mutants"] and result["survived"] > 0
    assert json.loads((tmp_path / "scores.json").read_text()) == recorded  # a failing score is not recorded
