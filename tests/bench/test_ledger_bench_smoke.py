"""bench/ledger_bench.py runs end to end (quick mode, SQLite): the year it builds verifies intact and
its reports list every session. No timing is asserted (the machine is shared)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the smoke test runs the bench on SQLite; it ran in the SQLite pass",
)
def test_quick_ledger_bench_builds_verifies_and_reports_every_session(tmp_path):
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ledger_bench.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())["sqlite"]
    assert result["sessions"] == 3 * 40 and result["findings"] == []
    assert result["administrations_rows"] == result["sessions"]
    assert result["entries"] > 3 * result["sessions"]  # receipts + draw, administered, waste per session
    assert "ledger verify" in done.stdout and "-> intact" in done.stdout
