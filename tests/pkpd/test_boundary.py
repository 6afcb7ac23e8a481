"""The engine never imports Django (nor a sibling app, nor SciPy: it is not installed to run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_no_django_in_pkpd() -> None:
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import ketaclinic.pkpd as pkg
        names = [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
        for name in names:
            importlib.import_module(name)
        bad = sorted(m for m in sys.modules if m == "django" or m.startswith("django."))
        siblings = sorted(
            m for m in sys.modules
            if m.startswith("ketaclinic.") and not m.startswith("ketaclinic.pkpd")
        )
        assert not bad, bad
        assert not siblings, siblings
        # SciPy is a test and benchmark dependency only (the dev and bench extras).
        assert "scipy" not in sys.modules, "the engine imported SciPy"
        print(len(names))
        """
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 10
