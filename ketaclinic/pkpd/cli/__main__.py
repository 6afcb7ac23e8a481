"""``python -m ketaclinic.pkpd.cli ...``: the engine's command line without the Django project."""

from __future__ import annotations

import sys

from ketaclinic.pkpd.cli.entry import main

if __name__ == "__main__":  # importing it (a walk over the package) runs nothing
    raise SystemExit(main(sys.argv[1:]))
