"""The `ketaclinic` command run as a user runs it: a subprocess of this interpreter."""

from __future__ import annotations

import subprocess
import sys


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ketaclinic.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
