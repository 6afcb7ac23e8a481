"""ketaclinic: a platform for clinics that treat with ketamine and esketamine."""

from __future__ import annotations

__version__ = "0.1.0"
