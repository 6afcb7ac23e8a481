"""bench/session_bench.py runs end to end: real server, API posts, the floor stream (quick mode, SQLite).

No timing is asserted (the machine is shared); only that what was acknowledged was stored once and
delivered on the stream.
"""

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
def test_quick_bench_stores_and_delivers_every_acknowledged_observation(tmp_path):
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "session_bench.py"),
            "--quick",
            "--db",
            "sqlite",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = json.loads(out.read_text())
    assert result["database"] == "sqlite" and result["chairs"] == 2
    assert result["acknowledged"] > 0 and result["error_count"] == 0
    assert result["stored"] == result["acknowledged"]
    assert result["delivered"] == result["acknowledged"]
    assert result["commit_to_stream_ms"]["n"] == result["acknowledged"]
    assert "observations/s" in done.stdout and "commit -> stream" in done.stdout
